package accounts

import (
	"strings"

	"parley/actors"
)

// reservedNames may not be registered (nor, in actors, taken by a guest):
// they would pass for the server itself, its operators, or a mention of
// everybody. Compared by skeleton, so "Adm1n" is "admin".
var reservedNames = []string{
	"system", "admin", "administrator", "root", "server", "parley",
	"moderator", "everyone", "here", "channel",
}

var (
	reservedSkeletons = func() map[string]bool {
		m := make(map[string]bool, len(reservedNames))
		for _, n := range reservedNames {
			m[actors.Skeleton(n)] = true
		}
		return m
	}()
	guestPrefix = actors.Skeleton("guest-")
)

// reserved reports whether a name with this skeleton is reserved: one of
// reservedNames, or a guest's name (guest-*: guests are given those, so an
// account holding one could be taken for a guest, and a guest for it).
// The one place to swap for actors' own list once it has one.
func reserved(skeleton string) bool {
	return reservedSkeletons[skeleton] || guestName(skeleton)
}

// guestName reports whether the skeleton is a guest's name; the command
// line may register other reserved names, never these.
func guestName(skeleton string) bool { return strings.HasPrefix(skeleton, guestPrefix) }
