package actors_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
	"parley/transport/outbound"
)

// connectFrom connects a guest from the client address addr.
func (f *fixture) connectFrom(addr string) *client {
	f.t.Helper()
	c := &client{t: f.t, f: f, q: outbound.New(f.hub.OutboxLimits())}
	c.s = f.hub.Connect(addr, c.q)
	c.expect("Welcome")
	return c
}

// tryJoin asks to join room and returns the code of the Error it got, or
// "" for an Ack (whose reply it reads through its own UserJoined).
func (c *client) tryJoin(room string) string {
	c.t.Helper()
	c.do(protocol.Request{Type: "JoinRoom", Room: room, Ref: "t-" + room})
	fr := c.next()
	switch fr.str("type") {
	case "Ack":
		c.expect("History")
		c.expect("Members")
		c.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == c.s.Username() })
		return ""
	case "Error":
		return fr.str("code")
	}
	c.t.Fatalf("join %s: got %v, want Ack or Error", room, fr)
	return ""
}

// New rooms are a budget: each connection may create RoomsPerMinute, its
// client across its connections ClientRoomsPerMinute, and reconnecting
// does not refill either; joining a room that exists costs nothing; a
// minute later there are new rooms to create; another client has its own.
func TestRoomCreationBudgets(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RoomsPerMinute: 3, ClientRoomsPerMinute: 5}})
	a := f.connectFrom("10.0.0.1")
	for i := range 3 {
		if code := a.tryJoin(fmt.Sprintf("a%d", i)); code != "" {
			t.Fatalf("a's new room %d of 3: got %s, want joined", i, code)
		}
	}
	if code := a.tryJoin("a3"); code != "rate_limited" {
		t.Fatalf("a's fourth new room: got %q, want rate_limited", code)
	}
	if code := a.tryJoin("general"); code != "" {
		t.Fatalf("a joining a room that exists: got %s, want joined", code)
	}
	b := f.connectFrom("10.0.0.1") // same client: 2 of its 5 left
	for i := range 2 {
		if code := b.tryJoin(fmt.Sprintf("b%d", i)); code != "" {
			t.Fatalf("b's new room %d: got %s, want joined", i, code)
		}
	}
	if code := b.tryJoin("b2"); code != "rate_limited" {
		t.Fatalf("b past its client's budget: got %q, want rate_limited", code)
	}
	a.s.Close()
	b.s.Close()
	c := f.connectFrom("10.0.0.1") // reconnecting refills nothing
	if code := c.tryJoin("c0"); code != "rate_limited" {
		t.Fatalf("a new connection of a client that spent its budget: got %q, want rate_limited", code)
	}
	other := f.connectFrom("10.0.0.2")
	if code := other.tryJoin("elsewhere"); code != "" {
		t.Fatalf("another client: got %s, want joined", code)
	}
	f.clock.Advance(time.Minute)
	if code := c.tryJoin("c0"); code != "" {
		t.Fatalf("a minute later: got %s, want joined", code)
	}
	if got := f.hub.Metrics().RoomsRefused; got != 3 {
		t.Errorf("rooms refused: got %d, want 3", got)
	}
}

// -room-creation: accounts, or admins only, may create rooms; anyone still
// joins the rooms that exist.
func TestRoomCreationPolicy(t *testing.T) {
	for _, tc := range []struct {
		policy                actors.RoomCreation
		guest, account, admin string // the code each gets for a new room
	}{
		{actors.RoomCreationAnyone, "", "", ""},
		{actors.RoomCreationAccounts, "not_allowed", "", ""},
		{actors.RoomCreationAdmins, "not_allowed", "not_allowed", ""},
	} {
		f := newFixture(t, actors.Config{RoomCreation: tc.policy})
		guest := f.connectFrom("10.0.0.1")
		account := f.connectAccount("ann")
		admin := &client{t: t, f: f, q: outbound.New(f.hub.OutboxLimits())}
		admin.s = f.hub.ConnectAccount("10.0.0.3", admin.q, "root-user", true)
		admin.expect("Welcome")
		for _, x := range []struct {
			c    *client
			want string
		}{{guest, tc.guest}, {account, tc.account}, {admin, tc.admin}} {
			if code := x.c.tryJoin("new-" + x.c.s.Username()); code != x.want {
				t.Errorf("%s, %s creating a room: got %q, want %q", tc.policy, x.c.s.Username(), code, x.want)
			}
			if code := x.c.tryJoin("general"); code != "" {
				t.Errorf("%s, %s joining general: got %q, want joined", tc.policy, x.c.s.Username(), code)
			}
		}
		f.close()
	}
}

// The cap of running rooms holds exactly when many connections create
// rooms at once, and the default rooms are not counted.
func TestRoomCapIsExactUnderConcurrency(t *testing.T) {
	const max, tries = 20, 60
	f := newFixture(t, actors.Config{Limits: actors.Limits{MaxRooms: max}})
	clients := make([]*client, tries)
	for i := range clients {
		clients[i] = f.connectFrom(fmt.Sprintf("10.0.1.%d", i)) // budgets of their own
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.do(protocol.Request{Type: "JoinRoom", Room: fmt.Sprintf("r%d", i), Ref: "j"})
		}()
	}
	wg.Wait()
	joined, refused := 0, 0
	for _, c := range clients {
		switch fr := c.next(); fr.str("type") {
		case "Ack":
			joined++
		case "Error":
			if fr.str("code") != "invalid_room" {
				t.Errorf("a refused creation: got %v, want invalid_room", fr)
			}
			refused++
		}
	}
	if joined != max || refused != tries-max {
		t.Errorf("concurrent creations under a cap of %d: got %d joined, %d refused, want %d and %d", max, joined, refused, max, tries-max)
	}
	if code := f.connectFrom("10.0.2.1").tryJoin("general"); code != "" {
		t.Errorf("a default room at the cap: got %q, want joined", code)
	}
}

// Renames have a rate of their own (two at once, then one every
// RenameEvery); a rename that fails spends nothing.
func TestRenameRate(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RenameEvery: 10 * time.Second}})
	a, b := f.connect(), f.connect()
	b.rename("taken")
	a.rename("one")
	a.do(protocol.Request{Type: "SetUsername", Username: "TAKEN", Ref: "x"})
	if e := a.expect("Error"); e.str("code") != "username_taken" {
		t.Fatalf("a taken name: got %v, want username_taken", e)
	}
	a.rename("two") // the failed one spent nothing
	a.do(protocol.Request{Type: "SetUsername", Username: "three", Ref: "r"})
	if e := a.expect("Error"); e.str("code") != "rate_limited" || a.s.Username() != "two" {
		t.Fatalf("a third rename at once: got %v, name %s, want rate_limited and still two", e, a.s.Username())
	}
	f.clock.Advance(10 * time.Second)
	a.rename("three")
}

// The budgets map is bounded: a client's budget goes with its last
// connection once refilled; those still spent are swept, once there are
// many, as soon as they have refilled.
func TestBudgetsAreForgotten(t *testing.T) {
	f := newFixture(t, actors.Config{})
	c := f.connectFrom("10.9.0.1")
	c.s.Close()
	if got := f.hub.Metrics().Budgets; got != 0 {
		t.Fatalf("budgets after an unspent client left: got %d, want 0", got)
	}
	const n = 4200 // past the sweep threshold
	for i := range n {
		c := f.connectFrom(fmt.Sprintf("10.%d.%d.%d", 10+i/65536, i/256%256, i%256))
		c.do(protocol.Request{Type: "ListRooms", Ref: "l"}) // spends a token of its client's budget
		c.s.Close()
	}
	if got := f.hub.Metrics().Budgets; got != n {
		t.Fatalf("budgets of %d spent clients gone: got %d, want %d kept until refilled", n, got, n)
	}
	f.clock.Advance(2 * time.Second) // refilled; the next release sweeps
	c = f.connectFrom("10.9.0.2")
	c.s.Close()
	if got := f.hub.Metrics().Budgets; got != 0 {
		t.Errorf("budgets after a sweep: got %d, want 0", got)
	}
}
