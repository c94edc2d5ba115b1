package transport_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/actors"
)

// mapRegistry is an actors.NameRegistry over a map of registered names,
// keyed by skeleton as the accounts service keys them.
type mapRegistry struct {
	mu    sync.Mutex
	names map[string]bool
}

func (r *mapRegistry) Registered(_ context.Context, skeleton string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.names[skeleton], nil
}

// AccountName answers with the skeleton itself: this registry keeps no
// spelling.
func (r *mapRegistry) AccountName(_ context.Context, skeleton string) (string, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return skeleton, r.names[skeleton], nil
}

// TestGuestNamesOverTheWire: a guest is given a guest-<digits> name in a
// Welcome with account false, and cannot take a reserved name, a name that
// reads like a connected user's, or one registered to an account; a free
// name it may take, and once its holder leaves, a name is free again.
func TestGuestNamesOverTheWire(t *testing.T) {
	reg := &mapRegistry{names: map[string]bool{actors.Skeleton("carol"): true}}
	s := startServer(t, serverConfig{hub: actors.Config{Names: reg}})
	a, b := s.dial(), s.dial() // dial checks the Welcome: a guest-<digits> name, account false
	for _, w := range []*wsClient{a, b} {
		if !guestRE.MatchString(w.name) {
			t.Errorf("Welcome: got username %q, want guest-<digits>", w.name)
		}
	}
	a.setName("alice")
	for i, tc := range []struct{ name, code string }{
		{"aIice", "username_taken"},
		{"al1ce", "username_taken"},
		{"carol", "username_taken"},
		{"Car0l", "username_taken"},
		{"system", "invalid_username"},
		{"admin", "invalid_username"},
		{"server", "invalid_username"},
		{"guest-12345", "invalid_username"},
		{a.name, "username_taken"},
	} {
		ref := fmt.Sprint("n", i)
		b.send(map[string]any{"type": "SetUsername", "username": tc.name, "ref": ref})
		b.expectError(ref, tc.code)
	}
	b.setName("bob")
	a.c.CloseNow()
	// The server frees a name once its connection's teardown is over,
	// after which the session is no longer counted.
	limit := time.Now().Add(waitLimit)
	for s.srv.Hub().Sessions() > 1 {
		if time.Now().After(limit) {
			t.Fatalf("sessions after alice's connection closed: got %d, want 1", s.srv.Hub().Sessions())
		}
		time.Sleep(time.Millisecond)
	}
	s.dial().setName("al1ce") // alice's look-alike is free once she is gone
}
