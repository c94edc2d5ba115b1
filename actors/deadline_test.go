package actors_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// stallingStore is the real store with a gate in front of the calls a
// request waits for: while stalled, Sync, CreateRoom, History and FindNonce
// wait for release or their context, and Append (which a room calls, and
// must never block) waits for release alone, which stalls the room that
// calls it. A fault injector: everything behind the gate is real.
type stallingStore struct {
	actors.Store
	mu      sync.Mutex
	gate    chan struct{} // non-nil while stalled; closed by release
	waiting chan string   // a call reached the gate (buffered; the test reads it)

	stallReads, stallAppends bool // what stall holds
}

func newStallingStore(s actors.Store) *stallingStore {
	return &stallingStore{Store: s, waiting: make(chan string, 64)}
}

func (s *stallingStore) stall(reads, appends bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate, s.stallReads, s.stallAppends = make(chan struct{}), reads, appends
}

func (s *stallingStore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// hold waits at the gate, if the call is stalled. ctx nil: only release ends it.
func (s *stallingStore) hold(ctx context.Context, call string, append bool) error {
	s.mu.Lock()
	gate := s.gate
	stalled := gate != nil && ((append && s.stallAppends) || (!append && s.stallReads))
	s.mu.Unlock()
	if !stalled {
		return nil
	}
	s.waiting <- call
	if ctx == nil {
		<-gate
		return nil
	}
	select {
	case <-gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *stallingStore) Append(m *actors.StoredMessage, done func(error)) bool {
	_ = s.hold(nil, "Append", true)
	return s.Store.Append(m, done)
}

func (s *stallingStore) Sync(ctx context.Context) error {
	if err := s.hold(ctx, "Sync", false); err != nil {
		return err
	}
	return s.Store.Sync(ctx)
}

func (s *stallingStore) CreateRoom(ctx context.Context, name string, at time.Time) error {
	if err := s.hold(ctx, "CreateRoom", false); err != nil {
		return err
	}
	return s.Store.CreateRoom(ctx, name, at)
}

func (s *stallingStore) History(ctx context.Context, q actors.HistoryQuery) ([]actors.StoredMessage, bool, error) {
	if err := s.hold(ctx, "History", false); err != nil {
		return nil, false, err
	}
	return s.Store.History(ctx, q)
}

func (s *stallingStore) FindNonce(ctx context.Context, key actors.NonceKey) (string, time.Time, bool, error) {
	if err := s.hold(ctx, "FindNonce", false); err != nil {
		return "", time.Time{}, false, err
	}
	return s.Store.FindNonce(ctx, key)
}

// newStallingFixture is newFixture with a stallingStore in front of the
// real one.
func newStallingFixture(t *testing.T, cfg actors.Config) (*fixture, *stallingStore) {
	t.Helper()
	var ss *stallingStore
	f := newFixtureWrapped(t, cfg, func(s actors.Store) actors.Store {
		ss = newStallingStore(s)
		return ss
	})
	t.Cleanup(ss.release) // before the fixture's close: cleanups run last first
	return f, ss
}

// pending runs req on c's session in a goroutine of its own, as the
// transport's hand-off does, and returns a channel closed when it is handled.
func (c *client) pending(req protocol.Request) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.s.Handle(c.f.ctx, req)
	}()
	return done
}

// expire waits until n request deadlines are pending on the clock, then
// moves the clock past them.
func (f *fixture) expire(n int) {
	f.t.Helper()
	limit := time.Now().Add(waitLimit)
	for f.clock.afterFuncs() < n {
		if time.Now().After(limit) {
			f.t.Fatalf("deadlines pending: got %d, want %d", f.clock.afterFuncs(), n)
		}
		time.Sleep(time.Millisecond)
	}
	f.clock.Advance(actors.DefaultRequestTimeout)
}

// handled waits for a request started with pending to return.
func (f *fixture) handled(done <-chan struct{}, what string) {
	f.t.Helper()
	select {
	case <-done:
	case <-time.After(waitLimit):
		f.t.Fatalf("%s: still waiting after its deadline (%v)", what, waitLimit)
	}
}

// expectBusy reads the next frame and checks it is server_busy for ref.
func (c *client) expectBusy(ref string) {
	c.t.Helper()
	if e := c.expect("Error"); e.str("code") != "server_busy" || e.str("ref") != ref {
		c.t.Fatalf("got %v, want server_busy with ref %s", e, ref)
	}
}

// goroutinesBack waits, within waitLimit, for the goroutine count to come
// back to at most base.
func goroutinesBack(t *testing.T, base int) {
	t.Helper()
	limit := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > base {
		if time.Now().After(limit) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: got %d, want at most %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStalledStoreGivesServerBusyAndFreesTheSession(t *testing.T) {
	f, ss := newStallingFixture(t, actors.Config{})
	a, b := f.aliceAndBob("")
	b.join("general")
	b.do(protocol.Request{Type: "SendMessage", Content: "first", Ref: "b1"})
	b.waitFor("Ack", func(fr frame) bool { return fr.str("ref") == "b1" })
	base := runtime.NumGoroutine()

	ss.stall(true, false)
	// Joining a room with messages: the room takes the join, then the
	// history read times out. The session is in the room, with its members
	// and live traffic: the room got ready.
	done := a.pending(protocol.Request{Type: "JoinRoom", Room: "general", Ref: "j0"})
	f.expire(1)
	f.handled(done, "JoinRoom general")
	if ack := a.expect("Ack"); ack.str("ref") != "j0" || ack.str("room") != "general" {
		t.Fatalf("join general: got %v, want its Ack", ack)
	}
	a.expectBusy("j0")
	a.expect("History")
	a.expect("Members")
	a.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "alice" })
	b.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "alice" })

	// A History read waits for Sync, then gives up at its deadline: the
	// client hears server_busy and gets an empty page, as for any store error.
	done = a.pending(protocol.Request{Type: "History", Room: "general", Ref: "h1"})
	f.expire(1)
	f.handled(done, "History")
	a.expectBusy("h1")
	if h := a.expect("History"); h.str("ref") != "h1" || len(h["messages"].([]any)) != 0 {
		t.Fatalf("history after timeout: got %v, want an empty page for h1", h)
	}

	// Joining a new room waits for CreateRoom: server_busy, and not in it.
	done = a.pending(protocol.Request{Type: "JoinRoom", Room: "fresh", Ref: "j1"})
	f.expire(1)
	f.handled(done, "JoinRoom fresh")
	a.expectBusy("j1")
	a.do(protocol.Request{Type: "SendMessage", Room: "fresh", Content: "hi", Ref: "s0"})
	if e := a.expect("Error"); e.str("code") != "not_in_room" {
		t.Fatalf("send to a room not joined: got %v, want not_in_room", e)
	}

	// A send with a nonce looks the nonce up; that read times out and the
	// send goes ahead (the unique index still keeps duplicates out).
	done = a.pending(protocol.Request{Type: "SendMessage", Room: "general", Content: "kept", Nonce: "n1", Ref: "s1"})
	f.expire(1)
	f.handled(done, "SendMessage with a nonce")
	if m := b.waitFor("Message", nil); m.str("content") != "kept" {
		t.Fatalf("send after nonce timeout: got %v, want it delivered", m)
	}
	a.waitFor("Message", nil)
	if ack := a.expect("Ack"); ack.str("ref") != "s1" {
		t.Fatalf("send after nonce timeout: got %v, want the Ack of s1", ack)
	}

	// The session is free: a request that does not wait is answered at once,
	// and one that waits is answered once the store is back.
	a.do(protocol.Request{Type: "ListRooms", Ref: "l1"})
	if l := a.expect("RoomList"); l.str("ref") != "l1" {
		t.Fatalf("list rooms: got %v, want ref l1", l)
	}
	ss.release()
	a.do(protocol.Request{Type: "History", Room: "general", Ref: "h2"})
	if h := a.expect("History"); h.str("ref") != "h2" || len(h["messages"].([]any)) != 2 {
		t.Fatalf("history after release: got %v, want the two messages", h)
	}
	a.do(protocol.Request{Type: "LeaveRoom", Room: "general", Ref: "l2"})
	if ack := a.expect("Ack"); ack.str("ref") != "l2" {
		t.Fatalf("leave: got %v, want the Ack of l2", ack)
	}
	b.waitFor("UserLeft", func(fr frame) bool { return fr.str("username") == "alice" })
	a.s.Close()
	if got := f.clock.afterFuncs(); got != 0 {
		t.Fatalf("deadlines pending: got %d, want 0", got)
	}
	goroutinesBack(t, base)
}

func TestStalledRoomGivesServerBusyAndNoGhostMember(t *testing.T) {
	// A room inbox of 4 fills up quickly once the room stops taking.
	f, ss := newStallingFixture(t, actors.Config{RoomInbox: 4, Limits: actors.Limits{RatePerSec: 1000, RateBurst: 1000}})
	cl := f.named("alice", "bob", "carol", "dave")
	a, b, c, d := cl[0], cl[1], cl[2], cl[3]
	a.join("aaa") // sorts before general: renamed first
	a.join("general")
	b.join("general")
	d.join("aaa")
	a.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "dave" })
	base := runtime.NumGoroutine()

	// general's actor stalls inside the store's Append of bob's message.
	ss.stall(false, true)
	b.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "stuck", Ref: "b1"})
	select {
	case <-ss.waiting:
	case <-time.After(waitLimit):
		t.Fatal("the room never reached the store")
	}

	// The inbox has room: carol's join is handed off, but the room never
	// takes it; at the deadline she withdraws it.
	done := c.pending(protocol.Request{Type: "JoinRoom", Room: "general", Ref: "c1"})
	f.expire(1)
	f.handled(done, "JoinRoom withdrawn")
	c.expectBusy("c1")

	// Fill the inbox (carol's withdrawn join holds a slot until the room
	// skips it): posts are refused once it is full.
	queued := 0 // posts the inbox took
	for {
		b.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "queued", Ref: "q"})
		if fr, ok := b.tryNext(); ok {
			if fr.str("type") != "Error" || fr.str("code") != "server_busy" {
				t.Fatalf("post to a full inbox: got %v, want server_busy", fr)
			}
			break
		}
		if queued++; queued > 4 {
			t.Fatal("the inbox never filled")
		}
	}
	// Now a join cannot even be handed off.
	done = c.pending(protocol.Request{Type: "JoinRoom", Room: "general", Ref: "c2"})
	f.expire(1)
	f.handled(done, "JoinRoom not handed off")
	c.expectBusy("c2")

	// alice: leaving fails and leaves her in the room; a rename reaches aaa
	// but not general, so aaa is told the old name again and the new name
	// stays free.
	done = a.pending(protocol.Request{Type: "LeaveRoom", Room: "general", Ref: "a1"})
	f.expire(1)
	f.handled(done, "LeaveRoom")
	a.expectBusy("a1")
	done = a.pending(protocol.Request{Type: "SetUsername", Username: "zed", Ref: "a2"})
	f.expire(1)
	f.handled(done, "SetUsername")
	a.waitFor("SystemMessage", func(fr frame) bool { return fr.str("content") == "zed is now known as alice" })
	if r := a.expect("UserRenamed"); r.str("old") != "zed" || r.str("new") != "alice" {
		t.Fatalf("the rename back: got %v, want UserRenamed zed -> alice", r)
	}
	a.expectBusy("a2")
	if got := a.s.Username(); got != "alice" {
		t.Fatalf("name after a failed rename: got %q, want alice", got)
	}
	d.waitFor("SystemMessage", func(fr frame) bool { return fr.str("content") == "alice is now known as zed" })
	d.waitFor("SystemMessage", func(fr frame) bool { return fr.str("content") == "zed is now known as alice" })
	// The reader is free: requests that do not wait are answered.
	a.do(protocol.Request{Type: "ListRooms", Ref: "a3"})
	a.waitFor("RoomList", func(fr frame) bool { return fr.str("ref") == "a3" })
	c.rename("zed") // the name alice tried is free again

	// The room comes back: what it accepted is delivered, carol's
	// withdrawn join was skipped, and alice can leave and close.
	ss.release()
	a.waitFor("Message", func(fr frame) bool { return fr.str("content") == "stuck" })
	for range queued {
		a.waitFor("Message", func(fr frame) bool { return fr.str("content") == "queued" })
	}
	b.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "after", Ref: "b2"})
	a.waitFor("Message", func(fr frame) bool { return fr.str("content") == "after" })
	a.do(protocol.Request{Type: "ListRooms", Ref: "a4"})
	rl := a.waitFor("RoomList", func(fr frame) bool { return fr.str("ref") == "a4" })
	for _, r := range rl["rooms"].([]any) {
		if room := r.(map[string]any); room["name"] == "general" && room["members"] != float64(2) {
			t.Fatalf("general after the stall: got %v members, want 2 (alice, bob): a withdrawn join must not add carol", room["members"])
		}
	}
	a.do(protocol.Request{Type: "LeaveRoom", Room: "general", Ref: "a5"})
	a.waitFor("Ack", func(fr frame) bool { return fr.str("ref") == "a5" })
	b.waitFor("UserLeft", func(fr frame) bool { return fr.str("username") == "alice" })
	a.s.Close()
	d.waitFor("UserLeft", func(fr frame) bool { return fr.str("username") == "alice" })
	c.s.Close()
	goroutinesBack(t, base)
}

func TestLeaveOnCloseWaitsForAStalledRoom(t *testing.T) {
	f, ss := newStallingFixture(t, actors.Config{})
	a, b := f.aliceAndBob("general")

	ss.stall(false, true)
	b.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "stuck"})
	select {
	case <-ss.waiting:
	case <-time.After(waitLimit):
		t.Fatal("the room never reached the store")
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		a.s.Close()
	}()
	// No deadline applies: moving the clock far past every timeout must not
	// drop the leave.
	f.clock.Advance(10 * actors.DefaultRequestTimeout)
	ss.release()
	select {
	case <-closed:
	case <-time.After(waitLimit):
		t.Fatal("Close did not return once the room came back")
	}
	b.waitFor("UserLeft", func(fr frame) bool { return fr.str("username") == "alice" })
}
