package accounts

import (
	"strings"

	"parley/actors"
)

// guestPrefix is the skeleton every given guest name starts with.
var guestPrefix = actors.Skeleton("guest-")

// reserved reports whether a name may not be registered: actors' reserved
// names and guests' names, compared by skeleton (actors.Reserved), so that
// the same list binds guests and accounts.
func reserved(name string) bool { return actors.Reserved(name) }

// guestName reports whether the skeleton is a guest's name (guest-*): the
// command line may register other reserved names, never these, since an
// account holding one could be taken for a guest, and a guest for it.
func guestName(skeleton string) bool { return strings.HasPrefix(skeleton, guestPrefix) }
