package actors

import (
	"context"
	"slices"
	"strings"
)

// NameRegistry tells the core which names belong to accounts, so that a
// guest cannot take one, nor one that looks like one. The accounts package
// implements it; a Hub without accounts has none (Config.Names nil).
type NameRegistry interface {
	// Registered reports whether an account's name has this skeleton
	// (see Skeleton).
	Registered(ctx context.Context, skeleton string) (bool, error)
	// AccountName returns the name, as displayed, of the account whose
	// name has this skeleton; ok is false when there is none. A private
	// message to an account that is not connected is kept for it under
	// that name.
	AccountName(ctx context.Context, skeleton string) (name string, ok bool, err error)
}

// skeletonPairs are the look-alikes Skeleton collapses, applied in this
// order, after lower-casing: first the digit and punctuation stand-ins for a
// letter, then the letter pairs that read as one letter in most fonts.
var skeletonPairs = strings.NewReplacer(
	"0", "o",
	"1", "l",
	"i", "l",
	"5", "s",
	"_", "-",
)

var skeletonLigatures = strings.NewReplacer(
	"rn", "m",
	"vv", "w",
	"cl", "d",
)

// Skeleton is the form under which two names count as the same name: names
// that a reader could take for each other (case aside, "al1ce" for "alice",
// "rnary" for "mary", "a_b" for "a-b") have one skeleton. Names are unique by
// skeleton, among the connected and the registered alike, so that nobody can
// pass for somebody else.
func Skeleton(name string) string {
	return skeletonLigatures.Replace(skeletonPairs.Replace(strings.ToLower(name)))
}

// reserved are the skeletons of the names nobody may take: the server's own
// voice and words that address everyone. Accounts check them too (Reserved),
// so that no account can be registered under one either.
var reserved = func() map[string]bool {
	m := make(map[string]bool)
	for _, n := range []string{
		"system", "admin", "administrator", "root", "server", "parley",
		"moderator", "everyone", "here", "channel",
	} {
		m[Skeleton(n)] = true
	}
	return m
}()

// guestPrefix starts every name the server gives a guest; nobody may take
// one (a given name must not pass for another guest's).
const guestPrefix = "guest-"

// Reserved reports whether name, compared by skeleton, is one nobody may
// take: one of the reserved words, or anything that reads as a given guest
// name (guest-…).
func Reserved(name string) bool {
	sk := Skeleton(name)
	return reserved[sk] || strings.HasPrefix(sk, Skeleton(guestPrefix))
}

// nameOwner is the value of the names map (keyed by skeleton): who holds a
// name. A guest holds its name alone; an account holds its name with every
// one of its connections. A value is replaced, never modified (sessions is
// copied on write), so that a reader, such as a private message looking up
// its recipient, ranges over sessions without a lock.
type nameOwner struct {
	name     string     // as displayed
	person   uint64     // the holder's Session.person
	account  bool       // held by an account (ConnectAccount), not a guest
	sessions []*Session // the holder's connections: exactly one for a guest
}

func (o nameOwner) holds(s *Session) bool { return slices.Contains(o.sessions, s) }

// with returns o with s added to its connections.
func (o nameOwner) with(s *Session) nameOwner {
	o.sessions = append(slices.Clip(o.sessions), s) // a new array: readers keep theirs
	return o
}

// without returns o with s removed from its connections.
func (o nameOwner) without(s *Session) nameOwner {
	rest := make([]*Session, 0, len(o.sessions))
	for _, x := range o.sessions {
		if x != s {
			rest = append(rest, x)
		}
	}
	o.sessions = rest
	return o
}

// claimName gives the name (under its skeleton key) to s, a guest, if
// nobody holds that skeleton. No I/O here: whether an account owns the name
// is asked before (Session.setUsername), outside any Compute.
func (h *Hub) claimName(key, name string, s *Session) bool {
	_, taken := h.names.LoadOrStore(key, nameOwner{name: name, person: s.person, sessions: []*Session{s}})
	return !taken
}

// respell changes how the name s holds under key is written (same
// skeleton: "alice" to "Alice"). It reports false if s no longer holds key:
// its account took it back (see ConnectAccount).
func (h *Hub) respell(key, name string, s *Session) bool {
	ok := false
	h.names.Compute(key, func(old nameOwner, loaded bool) (nameOwner, bool) {
		if loaded && old.holds(s) {
			ok = true
			old.name = name
			return old, false
		}
		return old, !loaded
	})
	return ok
}

// releaseName takes s off the name it holds under key, if it still holds
// it; the name is free once its last connection is gone.
func (h *Hub) releaseName(key string, s *Session) {
	h.names.Compute(key, func(old nameOwner, loaded bool) (nameOwner, bool) {
		if !loaded || !old.holds(s) {
			return old, !loaded
		}
		if len(old.sessions) == 1 {
			return nameOwner{}, true
		}
		return old.without(s), false
	})
}

// sessionsOf returns every connection of the person s speaks for: all of
// its account's, or s alone for a guest (or a guest whose name was taken
// back by its account, which holds the key now).
func (h *Hub) sessionsOf(s *Session) []*Session {
	if o, ok := h.names.Load(s.key); ok && o.person == s.person {
		return o.sessions
	}
	return []*Session{s}
}
