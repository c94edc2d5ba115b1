package actors_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
	"parley/transport/outbound"
)

// registry is a NameRegistry over a map of registered names, keyed by
// skeleton as the accounts service keys them. While stalled, Registered
// waits for its context, as a stalled accounts store would; with err set,
// it fails.
type registry struct {
	mu      sync.Mutex
	byKey   map[string]string
	asked   []string
	stalled bool
	err     error
}

func newRegistry(names ...string) *registry {
	r := &registry{byKey: map[string]string{}}
	for _, n := range names {
		r.byKey[actors.Skeleton(n)] = n
	}
	return r
}

func (r *registry) Registered(ctx context.Context, skeleton string) (bool, error) {
	r.mu.Lock()
	r.asked = append(r.asked, skeleton)
	_, ok := r.byKey[skeleton]
	stalled, err := r.stalled, r.err
	r.mu.Unlock()
	if stalled {
		<-ctx.Done()
		return false, fmt.Errorf("look up name: %w", ctx.Err())
	}
	return ok, err
}

func (r *registry) AccountName(ctx context.Context, skeleton string) (string, bool, error) {
	r.mu.Lock()
	r.asked = append(r.asked, skeleton)
	name, ok := r.byKey[skeleton]
	stalled, err := r.stalled, r.err
	r.mu.Unlock()
	if stalled {
		<-ctx.Done()
		return "", false, fmt.Errorf("look up account: %w", ctx.Err())
	}
	return name, ok, err
}

func (r *registry) set(stalled bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stalled, r.err = stalled, err
}

func (r *registry) wasAsked(skeleton string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.asked, skeleton)
}

// connectAccount connects one more connection of the account name and
// resumes it, as the transport does, reading its frames up to Unread: it
// is then in the account's rooms.
func (f *fixture) connectAccount(name string) *client {
	f.t.Helper()
	c := &client{t: f.t, f: f, q: outbound.New(f.hub.OutboxLimits())}
	c.s = f.hub.ConnectAccount("127.0.0.1", c.q, name, false)
	if w := c.expect("Welcome"); w.str("username") != name || w["account"] != true {
		f.t.Fatalf("account's Welcome: got %v, want username %s, account true", w, name)
	}
	c.s.Resume(f.ctx)
	for {
		fr := c.next()
		c.resumeFrames = append(c.resumeFrames, fr)
		if fr.str("type") == "Unread" {
			return c
		}
	}
}

// members asks c for the room list and returns the member count of room.
func (c *client) members(room string) float64 {
	c.t.Helper()
	c.do(protocol.Request{Type: "ListRooms", Ref: "list"})
	rl := c.expect("RoomList")
	for _, r := range rl["rooms"].([]any) {
		if r := r.(map[string]any); r["name"] == room {
			return r["members"].(float64)
		}
	}
	c.t.Fatalf("room list %v: no room %s", rl, room)
	return 0
}

func (c *client) expectMessage(from, content string) {
	c.t.Helper()
	if m := c.expect("Message"); m.str("username") != from || m.str("content") != content {
		c.t.Fatalf("%s: got %v, want a Message from %s: %q", c.s.Username(), m, from, content)
	}
}

// Every connection of an account is one member of a room: one UserJoined
// when the first joins, one name in Members, one UserLeft when the last
// goes; every one of them receives the room's messages. A second connection
// is put in the account's rooms as it connects, with each room's join reply
// (its history, the members, its own UserJoined), and the others see
// nothing of it.
func TestAccountConnectionsAreOneMember(t *testing.T) {
	f := newFixture(t, actors.Config{})
	bob := f.named("bob")[0]
	bob.join("general")

	a1 := f.connectAccount("alice")
	a1.join("general")
	bob.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "alice" })
	a1.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "before"})
	a1.expectMessage("alice", "before")
	bob.expectMessage("alice", "before")

	a2 := f.connectAccount("alice")
	if got, want := types(a2.resumeFrames), []string{"Joined", "History", "Members", "UserJoined", "Unread"}; !slices.Equal(got, want) {
		t.Fatalf("second connection's resume: got %v, want %v", a2.resumeFrames, want)
	}
	if rooms := a2.resumeFrames[0]["rooms"].([]any); len(rooms) != 1 || rooms[0] != "general" {
		t.Fatalf("second connection's Joined: got %v, want general", a2.resumeFrames[0])
	}
	if h := a2.resumeFrames[1]; h.str("room") != "general" || len(h["messages"].([]any)) != 1 || h["messages"].([]any)[0].(map[string]any)["content"] != "before" {
		t.Fatalf("second connection's history: got %v, want the message before it connected", h)
	}
	if got, want := usernames(a2.resumeFrames[2]), []string{"alice", "bob"}; !slices.Equal(got, want) {
		t.Fatalf("members: got %v, want %v", got, want)
	}
	if j := a2.resumeFrames[3]; j.str("username") != "alice" {
		t.Fatalf("second connection's own UserJoined: got %v", j)
	}
	a1.quiet() // the join reply is a2's alone; the room has replied, so anything for a1 would be queued
	bob.quiet()
	if got := bob.members("general"); got != 2 {
		t.Fatalf("room list: got %v members, want 2 (alice once, bob)", got)
	}
	if got := f.hub.Sessions(); got != 3 {
		t.Fatalf("sessions: got %d, want 3 connections", got)
	}

	bob.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "hi alice"})
	a2.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "from the phone"})
	for _, c := range []*client{bob, a1, a2} {
		c.expectMessage("bob", "hi alice")
		c.expectMessage("alice", "from the phone")
	}

	// One connection closing is not the person leaving.
	a1.s.Close()
	bob.quiet()
	a2.quiet()
	bob.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "still there?"})
	a2.expectMessage("bob", "still there?")
	bob.expectMessage("bob", "still there?")

	a2.s.Close()
	if left := bob.expect("UserLeft"); left.str("username") != "alice" {
		t.Fatalf("after the last connection: got %v, want UserLeft alice", left)
	}
	bob.quiet()
	if got := bob.members("general"); got != 1 {
		t.Fatalf("room list: got %v members, want 1", got)
	}
	// The account's name is free of connections again: it connects anew,
	// and is back in its room.
	f.connectAccount("alice")
	bob.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "alice" })
}

func types(frames []frame) []string {
	out := make([]string, len(frames))
	for i, fr := range frames {
		out[i] = fr.str("type")
	}
	return out
}

// A private message to an account reaches every connection of it; one from
// an account is echoed to every connection of it; one to oneself arrives
// once on each connection.
func TestPrivateMessagesReachEveryConnectionOfAnAccount(t *testing.T) {
	f := newFixture(t, actors.Config{})
	cl := f.named("bob", "carol")
	bob, carol := cl[0], cl[1]
	a1, a2 := f.connectAccount("alice"), f.connectAccount("alice")

	bob.do(protocol.Request{Type: "PrivateMessage", To: "ALICE", Content: "psst", Ref: "p1"})
	for _, c := range []*client{a1, a2, bob} {
		if pm := c.expect("PrivateMessage"); pm.str("from") != "bob" || pm.str("to") != "alice" || pm.str("content") != "psst" {
			t.Fatalf("%s: got %v, want bob's private message to alice", c.s.Username(), pm)
		}
	}
	bob.expect("Ack")

	a1.do(protocol.Request{Type: "PrivateMessage", To: "bob", Content: "hi bob", Ref: "p2"})
	for _, c := range []*client{bob, a1, a2} {
		if pm := c.expect("PrivateMessage"); pm.str("from") != "alice" || pm.str("to") != "bob" || pm.str("content") != "hi bob" {
			t.Fatalf("%s: got %v, want alice's private message to bob", c.s.Username(), pm)
		}
	}
	a1.expect("Ack")

	a2.do(protocol.Request{Type: "PrivateMessage", To: "alice", Content: "note to self", Ref: "p3"})
	for _, c := range []*client{a1, a2} {
		if pm := c.expect("PrivateMessage"); pm.str("content") != "note to self" {
			t.Fatalf("%s: got %v, want the note", c.s.Username(), pm)
		}
	}
	a2.expect("Ack")
	a1.quiet()
	bob.quiet()
	carol.quiet()
}

// An account's name is fixed; a guest that took it before the account was
// registered loses it (and its connection) when the account connects.
func TestAccountNameIsFixedAndTakenBackFromAGuest(t *testing.T) {
	f := newFixture(t, actors.Config{})
	squatter := f.named("erin")[0]
	squatter.join("general")
	bob := f.named("bob")[0]
	bob.join("general")
	squatter.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "bob" })

	e := f.connectAccount("Erin")
	select {
	case <-squatter.q.Done():
	case <-time.After(waitLimit):
		t.Fatalf("guest holding the account's name: still connected after %v", waitLimit)
	}
	if code, _ := squatter.q.CloseStatus(); code != protocol.ClosePolicy {
		t.Fatalf("guest holding the account's name: got close code %d, want %d", code, protocol.ClosePolicy)
	}
	squatter.s.Close() // the transport's teardown: must not free the account's name
	bob.waitFor("UserLeft", func(fr frame) bool { return fr.str("username") == "erin" })

	for i, name := range []string{"erin", "ERlN", "Erin"} {
		ref := fmt.Sprint("t", i)
		bob.do(protocol.Request{Type: "SetUsername", Username: name, Ref: ref})
		if got := bob.expect("Error"); got.str("code") != "username_taken" || got.str("ref") != ref {
			t.Fatalf("guest taking %q while the account is connected: got %v, want username_taken", name, got)
		}
	}

	e.do(protocol.Request{Type: "SetUsername", Username: "Erin", Ref: "same"})
	if ack := e.expect("Ack"); ack.str("username") != "Erin" {
		t.Fatalf("account setting its own name: got %v, want Ack", ack)
	}
	for i, name := range []string{"erin2", "erin", "guest-1"} {
		ref := fmt.Sprint("r", i)
		e.do(protocol.Request{Type: "SetUsername", Username: name, Ref: ref})
		if got := e.expect("Error"); got.str("code") != "not_allowed" || got.str("ref") != ref {
			t.Fatalf("account renaming to %q: got %v, want not_allowed", name, got)
		}
	}
	if got := e.s.Username(); got != "Erin" {
		t.Fatalf("account's name: got %q, want Erin", got)
	}
}

func TestReservedNames(t *testing.T) {
	for _, n := range []string{
		"system", "SYSTEM", "5ystem", "admin", "Adm1n", "administrator", "root", "r00t",
		"server", "parley", "moderator", "everyone", "here", "channel",
		"guest-12345", "guest-", "GUEST_7", "gue5t-x",
	} {
		if !actors.Reserved(n) {
			t.Errorf("Reserved(%q): got false, want true", n)
		}
	}
	for _, n := range []string{"alice", "guest", "guests", "systems", "admins", "hero", "channels", "my-guest-1"} {
		if actors.Reserved(n) {
			t.Errorf("Reserved(%q): got true, want false", n)
		}
	}
}

// A guest cannot take a reserved name, a name that reads like a connected
// user's (guest or account), or one registered to an account (or like one);
// a free name it may take.
func TestGuestNameRules(t *testing.T) {
	reg := newRegistry("carol")
	f := newFixture(t, actors.Config{Names: reg})
	f.named("alice")
	f.connectAccount("dave")
	g := f.connect()
	given := g.s.Username()
	for i, tc := range []struct{ name, code string }{
		{"aIice", "username_taken"},
		{"al1ce", "username_taken"},
		{"ALICE", "username_taken"},
		{"clave", "username_taken"}, // the account dave
		{"DAVE", "username_taken"},
		{"carol", "username_taken"}, // registered, not connected
		{"CaroI", "username_taken"},
		{"system", "invalid_username"},
		{"admin", "invalid_username"},
		{"Adm1n", "invalid_username"},
		{"root", "invalid_username"},
		{"everyone", "invalid_username"},
		{"guest-12345", "invalid_username"},
		{"guest_1", "invalid_username"},
	} {
		ref := fmt.Sprint("n", i)
		g.do(protocol.Request{Type: "SetUsername", Username: tc.name, Ref: ref})
		if e := g.expect("Error"); e.str("code") != tc.code || e.str("ref") != ref {
			t.Errorf("guest taking %q: got %v, want %s", tc.name, e, tc.code)
		}
	}
	if got := g.s.Username(); got != given {
		t.Fatalf("name after refusals: got %q, want the given %q", got, given)
	}
	if !reg.wasAsked(actors.Skeleton("carol")) {
		t.Errorf("registry: never asked about carol's skeleton %q", actors.Skeleton("carol"))
	}
	g.rename("zoe")
	if !reg.wasAsked(actors.Skeleton("zoe")) {
		t.Errorf("registry: never asked about zoe")
	}
	g.rename("Zoe") // its own name, spelled anew
}

// The registry's answer is I/O: it runs under the request's deadline, and a
// failure or a timeout is server_busy with the name unchanged.
func TestNameRegistryUnderTheDeadline(t *testing.T) {
	reg := newRegistry()
	f := newFixture(t, actors.Config{Names: reg})
	g := f.named("gina")[0]
	g.join("general")

	reg.set(true, nil)
	done := g.pending(protocol.Request{Type: "SetUsername", Username: "hal", Ref: "slow"})
	f.expire(1)
	f.handled(done, "SetUsername with a stalled registry")
	g.expectBusy("slow")

	reg.set(false, errors.New("accounts store down"))
	g.do(protocol.Request{Type: "SetUsername", Username: "hal", Ref: "down"})
	g.expectBusy("down")
	if got := g.s.Username(); got != "gina" {
		t.Fatalf("name after failed checks: got %q, want gina", got)
	}

	reg.set(false, nil)
	g.rename("hal")
	// The failed attempts claimed nothing: another guest may take gina back.
	f.named("gina")
}
