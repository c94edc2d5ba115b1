package actors_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

func usernames(fr frame) []string {
	var names []string
	for _, v := range fr["usernames"].([]any) {
		names = append(names, v.(string))
	}
	return names
}

func TestGuestNameAndJoinReplyOrder(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a := f.connect()
	if name := a.s.Username(); !strings.HasPrefix(name, "guest-") {
		t.Fatalf("guest name: got %q, want guest-<digits>", name)
	}
	a.do(protocol.Request{Type: "JoinRoom", Room: "General", Ref: "r1"})
	ack := a.expect("Ack")
	if ack.str("ref") != "r1" || ack.str("room") != "general" {
		t.Fatalf("ack: got %v, want ref r1 room general", ack)
	}
	h := a.expect("History")
	if h.str("ref") != "r1" || len(h["messages"].([]any)) != 0 || h["truncated"] != false {
		t.Fatalf("history: got %v, want empty for ref r1", h)
	}
	m := a.expect("Members")
	if got, want := usernames(m), []string{a.s.Username()}; !slices.Equal(got, want) {
		t.Fatalf("members: got %v, want %v", got, want)
	}
	j := a.expect("UserJoined")
	if j.str("username") != a.s.Username() || j.str("room") != "general" {
		t.Fatalf("user joined: got %v", j)
	}
	a.quiet()
}

func TestMessagesFanOutInOrderWithServerSetNames(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 1000, RateBurst: 1000}})
	a, b, c := f.connect(), f.connect(), f.connect()
	a.rename("alice")
	b.rename("bob")
	c.rename("carol")
	a.join("tech")
	b.join("tech")
	a.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "bob" })
	// carol stays out of the room: she must see nothing of it.

	const n = 50
	for i := range n {
		a.do(protocol.Request{Type: "SendMessage", Content: fmt.Sprintf("m%d", i), Username: "mallory"})
	}
	for _, cl := range []*client{a, b} {
		last := ""
		for i := range n {
			m := cl.waitFor("Message", nil)
			if got, want := m.str("content"), fmt.Sprintf("m%d", i); got != want {
				t.Fatalf("%s message %d: got %q, want %q", cl.s.Username(), i, got, want)
			}
			if m.str("username") != "alice" || m.str("room") != "tech" {
				t.Fatalf("message: got %v, want username alice room tech", m)
			}
			if id := m.str("id"); id <= last {
				t.Fatalf("ids: got %q after %q, want strictly increasing", id, last)
			} else {
				last = id
			}
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", m.str("timestamp")); err != nil {
				t.Fatalf("timestamp %q: %v", m.str("timestamp"), err)
			}
		}
	}
	c.quiet()
}

func TestSendRequiresRoomAndValidContent(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a := f.connect()
	cases := []struct {
		req  protocol.Request
		code string
	}{
		{protocol.Request{Type: "SendMessage", Content: "hi", Ref: "1"}, "not_in_room"},
		{protocol.Request{Type: "SendMessage", Content: "hi", Room: "tech", Ref: "2"}, "not_in_room"},
		{protocol.Request{Type: "Nope", Ref: "3"}, "unknown_type"},
		{protocol.Request{Ref: "4"}, "bad_request"},
		{protocol.Request{Type: "SetUsername", Username: "no spaces", Ref: "5"}, "invalid_username"},
		{protocol.Request{Type: "SetUsername", Username: strings.Repeat("x", 33), Ref: "6"}, "invalid_username"},
		{protocol.Request{Type: "JoinRoom", Room: "bad room!", Ref: "7"}, "invalid_room"},
		{protocol.Request{Type: "JoinRoom", Room: strings.Repeat("r", 65), Ref: "8"}, "invalid_room"},
		{protocol.Request{Type: "PrivateMessage", To: "nobody", Content: "x", Ref: "9"}, "no_such_user"},
		{protocol.Request{Type: "History", Room: "general", Ref: "10"}, "not_in_room"},
		{protocol.Request{Type: "LeaveRoom", Room: "general", Ref: "11"}, "not_in_room"},
		{protocol.Request{Type: "JoinRoom", Room: "general", Since: "not-an-id", Ref: "12"}, "bad_request"},
	}
	for _, tc := range cases {
		a.do(tc.req)
		e := a.expect("Error")
		if e.str("code") != tc.code || e.str("ref") != tc.req.Ref {
			t.Errorf("%+v: got %v, want code %s ref %s", tc.req, e, tc.code, tc.req.Ref)
		}
	}
	a.join("general")
	for _, tc := range []struct {
		content, code string
	}{
		{"", "empty_message"},
		{" \n\t ", "empty_message"},
		{strings.Repeat("é", 4001), "too_large"},
	} {
		a.do(protocol.Request{Type: "SendMessage", Content: tc.content, Ref: "c"})
		if e := a.expect("Error"); e.str("code") != tc.code {
			t.Errorf("content %.10q: got %v, want %s", tc.content, e, tc.code)
		}
	}
	a.do(protocol.Request{Type: "SendMessage", Content: strings.Repeat("é", 4000)}) // no ref: no Ack to race the next reply
	a.expect("Message")
	a.do(protocol.Request{Type: "SendMessage", Content: "x", Ref: strings.Repeat("r", 65)})
	if e := a.expect("Error"); e.str("code") != "bad_request" {
		t.Errorf("long ref: got %v, want bad_request", e)
	}
}

func TestAckOnlyWithRefAndAfterCommit(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a := f.connect()
	a.join("random")
	a.do(protocol.Request{Type: "SendMessage", Content: "no ref"})
	a.expect("Message")
	a.do(protocol.Request{Type: "SendMessage", Content: "with ref", Ref: "s1"})
	m := a.expect("Message")
	ack := a.expect("Ack")
	if ack.str("ref") != "s1" || ack.str("id") != m.str("id") || ack.str("timestamp") != m.str("timestamp") {
		t.Fatalf("ack: got %v, want ref s1 id %s", ack, m.str("id"))
	}
	// Acked means stored: the store has it now.
	msgs, _, err := f.store.History(f.ctx, actors.HistoryQuery{Room: "random", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[1].ID != m.str("id") || msgs[1].Content != "with ref" {
		t.Fatalf("stored: got %+v, want the two messages", msgs)
	}
	a.quiet()
}

func TestRenameIsAnnouncedAndNamesAreCaseInsensitive(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a, b := f.connect(), f.connect()
	a.rename("Alice")
	a.join("general")
	b.join("general")
	a.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == b.s.Username() })

	b.do(protocol.Request{Type: "SetUsername", Username: "ALICE", Ref: "t"})
	if e := b.expect("Error"); e.str("code") != "username_taken" {
		t.Fatalf("taken: got %v, want username_taken", e)
	}
	a.do(protocol.Request{Type: "SetUsername", Username: "alicia", Ref: "r"})
	for _, cl := range []*client{a, b} {
		sys := cl.expect("SystemMessage")
		if sys.str("content") != "Alice is now known as alicia" || sys.str("room") != "general" {
			t.Fatalf("rename: got %v", sys)
		}
		if r := cl.expect("UserRenamed"); r.str("room") != "general" || r.str("old") != "Alice" || r.str("new") != "alicia" {
			t.Fatalf("rename event: got %v, want UserRenamed Alice -> alicia in general", r)
		}
	}
	a.expect("Ack")
	// The old name is free again.
	b.rename("alice")
}

func TestPrivateMessageReachesOnlyRecipient(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a, b, c, d := f.connect(), f.connect(), f.connect(), f.connect()
	a.rename("alice")
	b.rename("bob")
	c.rename("carol")
	for _, cl := range []*client{a, b, c, d} {
		cl.join("general")
	}
	for _, cl := range []*client{a, b, c} { // skip the later joiners' UserJoined
		for _, other := range []*client{b, c, d} {
			if other != cl && slices.Index([]*client{a, b, c, d}, other) > slices.Index([]*client{a, b, c, d}, cl) {
				cl.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == other.s.Username() })
			}
		}
	}
	a.do(protocol.Request{Type: "PrivateMessage", To: "BOB", Content: "secret", Ref: "p", Username: "carol"})
	for _, cl := range []*client{b, a} {
		pm := cl.expect("PrivateMessage")
		if pm.str("from") != "alice" || pm.str("to") != "bob" || pm.str("content") != "secret" || pm.str("id") == "" {
			t.Fatalf("%s pm: got %v", cl.s.Username(), pm)
		}
	}
	if ack := a.expect("Ack"); ack.str("ref") != "p" {
		t.Fatalf("pm ack: got %v", ack)
	}
	c.quiet()
	d.quiet()
	// Private messages are stored, but never served as history.
	a.do(protocol.Request{Type: "History", Room: "general", Ref: "h"})
	if h := a.expect("History"); len(h["messages"].([]any)) != 0 {
		t.Fatalf("history: got %v, want no private messages", h)
	}
}

func TestLeaveAndDisconnectAnnounceUserLeft(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a, b := f.connect(), f.named("bea")[0] // a chosen name: a given one (guest-…) is never taken again
	a.join("tech")
	b.join("tech")
	a.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == b.s.Username() })
	b.do(protocol.Request{Type: "LeaveRoom", Room: "tech", Ref: "l"})
	if ack := b.expect("Ack"); ack.str("room") != "tech" {
		t.Fatalf("leave ack: got %v", ack)
	}
	if left := a.expect("UserLeft"); left.str("username") != b.s.Username() {
		t.Fatalf("user left: got %v", left)
	}
	b.do(protocol.Request{Type: "SendMessage", Content: "x", Room: "tech"})
	if e := b.expect("Error"); e.str("code") != "not_in_room" {
		t.Fatalf("send after leave: got %v", e)
	}
	b.join("tech")
	a.waitFor("UserJoined", nil)
	name := b.s.Username()
	b.s.Close()
	if left := a.expect("UserLeft"); left.str("username") != name {
		t.Fatalf("disconnect: got %v, want UserLeft %s", left, name)
	}
	if got := f.hub.Sessions(); got != 1 {
		t.Fatalf("sessions: got %d, want 1", got)
	}
	// The name is free again.
	c := f.connect()
	c.rename(name)
}

// Presence within PresenceWindow of the last announcement is gathered in the
// room (nothing queued for the members, no writer woken), and all of it goes
// out, in order, at the window's end or ahead of the next chat message,
// whichever comes first. A lone join after a quiet window is seen at once.
func TestPresenceIsThrottledDuringChurn(t *testing.T) {
	const window = 500 * time.Millisecond
	f := newFixture(t, actors.Config{PresenceWindow: window})
	a := f.connect()
	a.join("tech")
	woken := func() bool {
		select {
		case <-a.q.Wake():
			return true
		default:
			return false
		}
	}
	queued := func() int { n, _ := a.q.Len(); return n }

	f.clock.Advance(2 * window) // a quiet window
	b := f.connect()
	b.join("tech")
	if got := a.expect("UserJoined").str("username"); got != b.s.Username() {
		t.Fatalf("after a quiet window: got UserJoined %s, want %s at once", got, b.s.Username())
	}

	c, d := f.connect(), f.connect()
	c.join("tech")
	d.join("tech")
	if woken() {
		t.Fatalf("two joins within the window woke the writer; want them gathered")
	}
	if got := queued(); got != 0 {
		t.Fatalf("queued for a within the window: got %d frames, want 0 (gathered in the room)", got)
	}
	f.clock.Advance(window) // the window ends: the room flushes
	for _, want := range []string{c.s.Username(), d.s.Username()} {
		if got := a.expect("UserJoined").str("username"); got != want {
			t.Fatalf("at the window's end: got UserJoined %s, want %s", got, want)
		}
	}

	// Within the next window: a leave is deferred, and a chat message takes
	// it along, before it.
	d.do(protocol.Request{Type: "LeaveRoom", Room: "tech", Ref: "l"})
	d.expect("Ack")
	if woken() || queued() != 0 {
		t.Fatalf("a leave within the window was queued for a; want it gathered")
	}
	b.do(protocol.Request{Type: "SendMessage", Room: "tech", Content: "hi", Ref: "m"})
	if got := a.expect("UserLeft").str("username"); got != d.s.Username() {
		t.Fatalf("with the next message: got UserLeft %s, want %s", got, d.s.Username())
	}
	if got := a.expect("Message").str("content"); got != "hi" {
		t.Fatalf("after the deferred UserLeft: got Message %q, want hi", got)
	}
}

// In a storm, a window that gathered 16 announcements or more makes the
// next one twice as long; a stretched window ends early once 200 ms pass
// without an announcement (the storm is over); a lone announcement after a
// quiet window goes out at once.
func TestPresenceWindowStretchesInAStorm(t *testing.T) {
	const (
		window = 500 * time.Millisecond
		busy   = 16 // actors' busyPresence
	)
	f := newFixture(t, actors.Config{PresenceWindow: window})
	a := f.connect()
	a.join("tech")
	queued := func() int { n, _ := a.q.Len(); return n }
	joinEvery := func(n int, gap time.Duration) []string {
		var names []string
		for range n {
			c := f.connect()
			c.join("tech")
			names = append(names, c.s.Username())
			f.clock.Advance(gap)
		}
		return names
	}
	expectJoins := func(when string, names []string) {
		t.Helper()
		for _, want := range names {
			if got := a.expect("UserJoined").str("username"); got != want {
				t.Fatalf("%s: got UserJoined %s, want %s", when, got, want)
			}
		}
	}

	f.clock.Advance(2 * window)
	expectJoins("after a quiet window", joinEvery(1, 0)) // at once; a window starts
	few := joinEvery(busy-1, 25*time.Millisecond)        // 375 ms of the first window
	f.clock.Advance(window - time.Duration(busy-1)*25*time.Millisecond)
	expectJoins("at the end of a window with fewer than a storm's", few)

	// The window that gathers a storm's worth stretches at once, and ends
	// 500 ms after the last announcement.
	storm := joinEvery(busy, 25*time.Millisecond) // the last at 375 ms
	f.clock.Advance(100 * time.Millisecond)       // the first window's end
	if got := queued(); got != 0 {
		t.Fatalf("at the end of a storm's first window: got %d frames queued for a, want 0", got)
	}
	f.clock.Advance(375 * time.Millisecond)
	expectJoins("500 ms after the storm's last join", storm)

	// A storm that does not stop goes out when the stretched window (8
	// windows: 4 s) ends.
	long := joinEvery(40, 100*time.Millisecond)
	expectJoins("at the end of the stretched window", long)
	if got := queued(); got != 0 {
		t.Fatalf("after the stretched window: got %d frames queued for a, want 0", got)
	}
	f.clock.Advance(100 * time.Millisecond)
	if got := queued(); got != 0 {
		t.Fatalf("gathering again: got %d frames queued for a, want 0", got)
	}

	// Quiet for longer than the window: the next join goes out at once,
	// and the window after it is the first one again.
	f.clock.Advance(8 * window)
	expectJoins("after a quiet spell", joinEvery(1, 0))
	two := joinEvery(2, 0)
	f.clock.Advance(window / 2)
	if got := queued(); got != 0 {
		t.Fatalf("within the first window again: got %d frames queued for a, want 0", got)
	}
	f.clock.Advance(window / 2)
	expectJoins("one window after", two)
}

func TestSlowConsumerIsCutOffOthersGetEverything(t *testing.T) {
	f := newFixture(t, actors.Config{
		Outbox: actors.OutboxLimits{Frames: 64, Bytes: 1 << 20},
		Limits: actors.Limits{RatePerSec: 1e6, RateBurst: 1000},
	})
	sender, fast, slow := f.connect(), f.connect(), f.connect()
	for _, cl := range []*client{sender, fast, slow} {
		cl.join("general")
	}
	// slow never reads again; fast and sender read everything.
	const n = 200
	slowLeft := false
	for i := range n {
		sender.do(protocol.Request{Type: "SendMessage", Content: fmt.Sprint(i)})
		for _, cl := range []*client{sender, fast} {
			m := cl.next()
			for ; m.str("type") != "Message"; m = cl.next() {
				if m.str("type") == "UserLeft" && m.str("username") == slow.s.Username() {
					slowLeft = true
				}
			}
			if m.str("content") != fmt.Sprint(i) {
				t.Fatalf("%s: got %v, want message %d", cl.s.Username(), m, i)
			}
		}
	}
	select {
	case <-slow.q.Done():
	case <-time.After(waitLimit):
		t.Fatal("slow consumer: queue not closed")
	}
	if code, _ := slow.q.CloseStatus(); code != protocol.ClosePolicy {
		t.Fatalf("slow close code: got %d, want 1008", code)
	}
	if frames, _ := slow.q.Len(); frames > 64 {
		t.Fatalf("slow queue: got %d frames, want at most 64", frames)
	}
	if !slowLeft {
		t.Fatal("the others did not see the slow consumer leave")
	}
}

func TestRateLimitThenAbuseCloses(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 20, RateBurst: 40, AbuseBudget: 10}})
	a := f.connect()
	for range 40 {
		a.do(protocol.Request{Type: "ListRooms"})
		a.expect("RoomList")
	}
	a.do(protocol.Request{Type: "ListRooms"})
	if e := a.expect("Error"); e.str("code") != "rate_limited" {
		t.Fatalf("41st request: got %v, want rate_limited", e)
	}
	f.clock.Advance(time.Second) // 20 more tokens
	for range 20 {
		a.do(protocol.Request{Type: "ListRooms"})
		a.expect("RoomList")
	}
	// The second of rest refilled the abuse budget (10, at 10/s): ten more
	// refusals spend it, the eleventh closes the connection.
	for range 11 {
		a.do(protocol.Request{Type: "ListRooms"})
	}
	select {
	case <-a.q.Done():
	case <-time.After(waitLimit):
		t.Fatal("abuser not closed")
	}
	if code, _ := a.q.CloseStatus(); code != protocol.ClosePolicy {
		t.Fatalf("abuse close code: got %d, want 1008", code)
	}
}

// A room lists with its members; left empty, a room that holds messages
// retires after RoomIdle and is still known; one that never held a message
// is forgotten at once.
func TestRoomListAndIdleRoomsRetire(t *testing.T) {
	f := newFixture(t, actors.Config{RoomIdle: time.Minute})
	a := f.connect()
	a.join("zeta")
	a.do(protocol.Request{Type: "SendMessage", Room: "zeta", Content: "kept"})
	a.expect("Message")
	a.do(protocol.Request{Type: "ListRooms", Ref: "l"})
	list := a.expect("RoomList")
	var names []string
	for _, r := range list["rooms"].([]any) {
		m := r.(map[string]any)
		names = append(names, m["name"].(string))
		if m["name"] == "zeta" && m["members"] != 1.0 {
			t.Fatalf("zeta members: got %v, want 1", m["members"])
		}
	}
	if want := []string{"general", "random", "tech", "zeta"}; !slices.Equal(names, want) {
		t.Fatalf("rooms: got %v, want %v", names, want)
	}
	a.do(protocol.Request{Type: "LeaveRoom", Room: "zeta", Ref: "l"})
	a.expect("Ack")
	before := f.hub.Metrics().Rooms
	f.clock.Advance(2 * time.Minute)
	deadline := time.Now().Add(waitLimit)
	for f.hub.Metrics().Rooms != before-1 {
		if time.Now().After(deadline) {
			t.Fatalf("running rooms: got %d, want %d after idle", f.hub.Metrics().Rooms, before-1)
		}
		time.Sleep(time.Millisecond)
	}
	// The room is still known, and joining it starts it again with its history.
	if h := a.join("zeta"); len(h["messages"].([]any)) != 1 {
		t.Fatalf("zeta's history after it retired: got %v, want its one message", h)
	}

	a.join("omega")
	before = f.hub.Metrics().Rooms
	a.do(protocol.Request{Type: "LeaveRoom", Room: "omega", Ref: "l"})
	a.expect("Ack")
	if got := f.hub.Metrics().Rooms; got != before-1 {
		t.Errorf("running rooms after the last member left a room never written to: got %d, want %d", got, before-1)
	}
	a.do(protocol.Request{Type: "ListRooms", Ref: "l2"})
	for _, r := range a.expect("RoomList")["rooms"].([]any) {
		if r.(map[string]any)["name"] == "omega" {
			t.Errorf("room list: got omega, want it forgotten")
		}
	}
}

func TestHistoryPagesAndSince(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 1e6, RateBurst: 1000}})
	a := f.connect()
	a.join("general")
	var ids []string
	for i := range 120 {
		a.do(protocol.Request{Type: "SendMessage", Content: fmt.Sprint(i)})
		ids = append(ids, a.expect("Message").str("id"))
	}
	b := f.connect()
	h := b.join("general")
	msgs := h["messages"].([]any)
	if len(msgs) != 50 || h["truncated"] != true || msgs[49].(map[string]any)["id"] != ids[119] {
		t.Fatalf("join history: got %d messages truncated=%v, want the last 50", len(msgs), h["truncated"])
	}
	b.do(protocol.Request{Type: "History", Room: "general", Before: ids[70], Limit: 500, Ref: "h"})
	p := b.expect("History")
	pm := p["messages"].([]any)
	if len(pm) != 70 || p["truncated"] != false || pm[0].(map[string]any)["id"] != ids[0] {
		t.Fatalf("page: got %d messages truncated=%v, want 70 (limit capped at 200)", len(pm), p["truncated"])
	}
	c := f.connect()
	c.do(protocol.Request{Type: "JoinRoom", Room: "general", Since: ids[99], Ref: "s"})
	c.expect("Ack")
	s := c.expect("History")
	sm := s["messages"].([]any)
	if len(sm) != 20 || sm[0].(map[string]any)["id"] != ids[100] || s["truncated"] != false {
		t.Fatalf("since: got %d messages, want the 20 after ids[99]", len(sm))
	}
}

func TestRestartKeepsHistoryAndIDsKeepGrowing(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a := f.connect()
	a.join("tech")
	a.do(protocol.Request{Type: "SendMessage", Content: "before restart", Ref: "1"})
	first := a.expect("Message").str("id")
	a.expect("Ack")
	f.close()
	f.clock.Advance(-time.Hour) // a clock that went backwards must not reorder ids
	f.open(actors.Config{})
	b := f.connect()
	h := b.join("tech")
	msgs := h["messages"].([]any)
	if len(msgs) != 1 || msgs[0].(map[string]any)["id"] != first {
		t.Fatalf("after restart: got %v, want the message %s", msgs, first)
	}
	b.do(protocol.Request{Type: "SendMessage", Content: "after"})
	if id := b.expect("Message").str("id"); id <= first {
		t.Fatalf("id after restart: got %s, want > %s", id, first)
	}
}

func TestNonceMakesResendsIdempotent(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a, b := f.aliceAndBob("general")

	// Twice at once: the second finds the first on its way to the store.
	a.do(protocol.Request{Type: "SendMessage", Content: "hello", Nonce: "n1", Ref: "1"})
	a.do(protocol.Request{Type: "SendMessage", Content: "hello", Nonce: "n1", Ref: "2"})
	m := b.expect("Message")
	if m.str("nonce") != "n1" {
		t.Fatalf("message: got %v, want nonce n1 echoed", m)
	}
	a.expect("Message")
	acks := map[string]string{}
	for range 2 {
		ack := a.expect("Ack")
		acks[ack.str("ref")] = ack.str("id")
	}
	if acks["1"] != m.str("id") || acks["2"] != m.str("id") {
		t.Fatalf("acks: got %v, want both with id %s", acks, m.str("id"))
	}
	// Once committed, a resend is found in the store.
	a.do(protocol.Request{Type: "SendMessage", Content: "hello", Nonce: "n1", Ref: "3"})
	if ack := a.expect("Ack"); ack.str("id") != m.str("id") || ack.str("ref") != "3" {
		t.Fatalf("resend ack: got %v, want id %s", ack, m.str("id"))
	}
	// The same nonce from someone else, or in another room, is another message.
	b.do(protocol.Request{Type: "SendMessage", Content: "mine", Nonce: "n1", Ref: "4"})
	if got := b.expect("Message"); got.str("username") != "bob" || got.str("id") == m.str("id") {
		t.Fatalf("bob's message: got %v, want a new one", got)
	}
	b.expect("Ack")
	a.waitFor("Message", nil)

	// Private messages too, after a restart.
	a.do(protocol.Request{Type: "PrivateMessage", To: "bob", Content: "psst", Nonce: "p1", Ref: "5"})
	a.do(protocol.Request{Type: "PrivateMessage", To: "bob", Content: "psst", Nonce: "p1", Ref: "6"})
	pm := b.expect("PrivateMessage")
	a.expect("PrivateMessage")
	for range 2 {
		if ack := a.expect("Ack"); ack.str("id") != pm.str("id") {
			t.Fatalf("pm ack: got %v, want id %s", ack, pm.str("id"))
		}
	}
	b.quiet()
	f.close()
	f.open(actors.Config{})
	a, b = f.connect(), f.connect()
	a.rename("alice")
	b.rename("bob")
	a.join("general")
	a.do(protocol.Request{Type: "SendMessage", Content: "hello", Nonce: "n1", Ref: "7"})
	if ack := a.expect("Ack"); ack.str("id") != m.str("id") {
		t.Fatalf("resend after restart: got %v, want id %s", ack, m.str("id"))
	}
	a.do(protocol.Request{Type: "PrivateMessage", To: "BOB", Content: "psst", Nonce: "p1", Ref: "8"})
	if ack := a.expect("Ack"); ack.str("id") != pm.str("id") {
		t.Fatalf("pm resend after restart: got %v, want id %s", ack, pm.str("id"))
	}
	a.quiet()
	b.quiet()
}

// refusingStore is the real store with its queue made "full" on demand: a
// fault injector, not a stand-in.
type refusingStore struct {
	actors.Store
	refuse     atomic.Bool // Append says the queue is full
	failCommit atomic.Bool // Append accepts, then the "commit" fails (disk full)
}

func (s *refusingStore) Append(m *actors.StoredMessage, done func(error)) bool {
	if s.refuse.Load() {
		return false
	}
	if s.failCommit.Load() {
		go done(errors.New("disk full")) // as the store's goroutine would, later
		return true
	}
	return s.Store.Append(m, done)
}

func TestStoreFaultsMeanServerBusyNeverAck(t *testing.T) {
	var rs *refusingStore
	f := newFixtureWrapped(t, actors.Config{}, func(s actors.Store) actors.Store {
		rs = &refusingStore{Store: s}
		return rs
	})
	a, b := f.aliceAndBob("general")

	rs.refuse.Store(true)
	a.do(protocol.Request{Type: "SendMessage", Content: "lost?", Ref: "1"})
	if e := a.expect("Error"); e.str("code") != "server_busy" || e.str("ref") != "1" {
		t.Fatalf("room send: got %v, want server_busy with ref 1", e)
	}
	a.do(protocol.Request{Type: "PrivateMessage", To: "bob", Content: "lost?", Ref: "2"})
	if e := a.expect("Error"); e.str("code") != "server_busy" || e.str("ref") != "2" {
		t.Fatalf("private send: got %v, want server_busy with ref 2", e)
	}
	b.quiet()
	// A commit that fails: the message went out live, but the sender gets
	// server_busy for it, never an Ack.
	rs.refuse.Store(false)
	rs.failCommit.Store(true)
	a.do(protocol.Request{Type: "SendMessage", Content: "unstored", Ref: "3"})
	// The store's verdict may come before or after the room's broadcast:
	// nothing orders the store's goroutine against the room's pushes.
	got := map[string]frame{}
	for range 2 {
		fr := a.next()
		got[fr.str("type")] = fr
	}
	if _, ok := got["Message"]; !ok {
		t.Fatalf("failed commit: got %v, want the live Message and an Error", got)
	}
	if e := got["Error"]; e.str("code") != "server_busy" || e.str("ref") != "3" {
		t.Fatalf("failed commit: got %v, want server_busy with ref 3", got)
	}
	b.expect("Message")
	rs.failCommit.Store(false)
	a.do(protocol.Request{Type: "SendMessage", Content: "now", Ref: "4"})
	if m := b.expect("Message"); m.str("content") != "now" {
		t.Fatalf("after recovery: got %v", m)
	}
	a.expect("Message")
	if ack := a.expect("Ack"); ack.str("ref") != "4" {
		t.Fatalf("after recovery: got %v, want the Ack of ref 4", ack)
	}
}
