package transport_test

// End-to-end tests of the transport: a real server on 127.0.0.1 with a real
// SQLite file (startServer), driven by real coder/websocket clients. The
// actor-level behaviour is covered by actors/actors_test.go; these tests
// check what a client sees over the network.

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "github.com/mattn/go-sqlite3"

	"parley/actors"
)

// noRateLimit lifts the per-connection rate limit for load tests.
var noRateLimit = actors.Limits{RatePerSec: 1e6, RateBurst: 1 << 20}

// TestManyClientsManyMessages: 16 clients in one room, half of them on the
// batch subprotocol, each sending 64 messages at once. Every client receives
// every message exactly once, each sender's messages in order, ids strictly
// increasing and in the same order for everyone; every send is acked with
// the id the others saw; the store holds all 1024 in that order.
func TestManyClientsManyMessages(t *testing.T) {
	const clients, perClient, room = 16, 64, "load"
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit, RoomInbox: 4 * clients * perClient}})
	ws := make([]*wsClient, clients)
	for i := range ws {
		if i%2 == 1 {
			ws[i] = s.dialBatch()
		} else {
			ws[i] = s.dial()
		}
		ws[i].setName(fmt.Sprintf("user%02d", i))
		ws[i].join(room) // returns once it is a member: it sees every later message
	}

	type result struct {
		i    int
		msgs []msg
		acks map[string]msg
		err  error
	}
	results := make(chan result, clients)
	writeErrs := make(chan error, clients)
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitLimit)
	defer cancel()
	for i, w := range ws {
		// Reader: exits when it has every message and ack, or on error.
		go func() {
			r := result{i: i, acks: map[string]msg{}}
			for r.err == nil && (len(r.msgs) < clients*perClient || len(r.acks) < perClient) {
				m, err := w.read(ctx)
				switch {
				case err != nil:
					r.err = fmt.Errorf("%s: after %d messages and %d acks: %w", w.name, len(r.msgs), len(r.acks), err)
				case m.str("type") == "Message":
					r.msgs = append(r.msgs, m)
				case m.str("type") == "Ack":
					if _, dup := r.acks[m.str("ref")]; dup {
						r.err = fmt.Errorf("%s: got a second Ack %v", w.name, m)
					}
					r.acks[m.str("ref")] = m
				case m.str("type") == "Error":
					r.err = fmt.Errorf("%s: got %v, want no Error", w.name, m)
				}
			}
			results <- r
		}()
		// Writer: exits after its 64 sends or the first failed one.
		go func() {
			for k := range perClient {
				c := fmt.Sprintf("m-%02d-%03d", i, k)
				req := map[string]any{"type": "SendMessage", "content": c, "ref": c}
				if k%2 == 0 {
					req["room"] = room // the rest go to the current room, the same
				}
				if err := w.write(ctx, req); err != nil {
					writeErrs <- fmt.Errorf("%s: send %d: %w", w.name, k, err)
					return
				}
			}
			writeErrs <- nil
		}()
	}
	for _, err := range collectErrs(writeErrs, clients, 3*waitLimit) {
		t.Error(err)
	}

	var order []string // the id sequence every client must see
	for range clients {
		var r result
		select {
		case r = <-results:
		case <-ctx.Done():
			t.Fatalf("readers: %v", ctx.Err())
		}
		if r.err != nil {
			t.Error(r.err)
			continue
		}
		next := make([]int, clients)
		idOf := map[string]string{}
		for _, m := range r.msgs {
			var from, k int
			if _, err := fmt.Sscanf(m.str("content"), "m-%d-%d", &from, &k); err != nil || from < 0 || from >= clients {
				t.Errorf("client %d: got content %q, want m-<sender>-<seq>", r.i, m.str("content"))
				break
			}
			if want := fmt.Sprintf("user%02d", from); m.str("username") != want || m.str("room") != room {
				t.Errorf("client %d: got %v, want username %s in room %s", r.i, m, want, room)
				break
			}
			if k != next[from] {
				t.Errorf("client %d: from user%02d got message %d, want %d (lost, duplicated or reordered)", r.i, from, k, next[from])
				break
			}
			next[from]++
			idOf[m.str("content")] = m.str("id")
		}
		got := ids(r.msgs)
		if i := strictlyIncreasing(got); i >= 0 {
			t.Errorf("client %d: id %d %s after %s: want strictly increasing", r.i, i, got[i], got[i-1])
		}
		if order == nil {
			order = got
		} else if !equalStrings(got, order) {
			t.Errorf("client %d: got a different order of messages than client 0", r.i)
		}
		for k := range perClient {
			ref := fmt.Sprintf("m-%02d-%03d", r.i, k)
			a, ok := r.acks[ref]
			switch {
			case !ok:
				t.Errorf("client %d: no Ack for %s", r.i, ref)
			case a.str("id") != idOf[ref] || !timestampRE.MatchString(a.str("timestamp")):
				t.Errorf("client %d: Ack %v: want id %s (the delivered one) and a timestamp", r.i, a, idOf[ref])
			}
		}
	}
	if t.Failed() {
		return
	}
	if stored := storedIDs(storedHistory(t, s.store, room)); !equalStrings(stored, order) {
		t.Errorf("store: got %d messages, want the %d delivered, in the same order", len(stored), len(order))
	}
}

// TestContractSetUsername covers SetUsername: guest names, Ack{ref,
// username}, case-insensitive uniqueness, invalid names, renames announced.
// (Renames are not rate-limited here; TestRenameRate covers the limit.)
func TestContractSetUsername(t *testing.T) {
	s := startServer(t, serverConfig{hub: actors.Config{Limits: actors.Limits{RenameEvery: time.Nanosecond}}})
	a, b := s.dial(), s.dial()
	for _, w := range []*wsClient{a, b} {
		if !guestRE.MatchString(w.name) {
			t.Errorf("Welcome: got username %q, want guest-<digits>", w.name)
		}
	}
	if a.name == b.name {
		t.Fatalf("two connections got the same guest name %q", a.name)
	}
	// A guest can chat at once.
	a.join("general")
	b.join("general")
	a.waitJoined(b.name, "general")
	a.send(map[string]any{"type": "SendMessage", "content": "as a guest", "ref": "g"})
	if m := b.waitFor("Message", nil); m.str("username") != a.name {
		t.Fatalf("guest message: got %v, want username %s", m, a.name)
	}
	a.reply("g", "Ack")

	guest := a.name
	a.send(map[string]any{"type": "SetUsername", "username": "alice", "ref": "n1"})
	if m := a.reply("n1", "Ack"); m.str("username") != "alice" {
		t.Fatalf("SetUsername: got %v, want Ack{ref n1, username alice}", m)
	}
	a.name = "alice"
	// The rename is announced to the room, and the member list follows
	// from the event.
	sys := b.waitFor("SystemMessage", nil)
	if c := sys.str("content"); !strings.Contains(c, guest) || !strings.Contains(c, "alice") {
		t.Errorf("rename announcement: got %v, want it to name %s and alice", sys, guest)
	}
	if m := b.waitFor("UserRenamed", nil); m.str("old") != guest || m.str("new") != "alice" || m.str("room") != "general" {
		t.Errorf("UserRenamed: got %v, want %s -> alice in general", m, guest)
	}

	for i, name := range []string{"alice", "ALICE", "Alice"} {
		ref := fmt.Sprint("taken", i)
		b.send(map[string]any{"type": "SetUsername", "username": name, "ref": ref})
		b.expectError(ref, "username_taken")
	}
	for i, name := range []string{"", "bad name", "bad!", "émile", "tab\t", strings.Repeat("x", 33)} {
		ref := fmt.Sprint("invalid", i)
		b.send(map[string]any{"type": "SetUsername", "username": name, "ref": ref})
		b.expectError(ref, "invalid_username")
	}
	b.setName(strings.Repeat("x", 32)) // the longest name
	b.setName("b_o-b9")

	// The holder may change the case of its own name; the others still collide.
	a.setName("Alice")
	b.send(map[string]any{"type": "SetUsername", "username": "alice", "ref": "t2"})
	b.expectError("t2", "username_taken")
	a.setName("Alice") // setting the name one has is acked

	// Without a ref there is no Ack; RoomList is the barrier (handled in order).
	a.send(map[string]any{"type": "SetUsername", "username": "alice2"})
	a.send(map[string]any{"type": "ListRooms", "ref": "barrier"})
	for _, m := range a.until(func(m msg) bool { return m.str("ref") == "barrier" }) {
		if m.str("type") == "Ack" || m.str("type") == "Error" {
			t.Errorf("SetUsername without ref: got %v, want no reply", m)
		}
	}
	a.name = "alice2"
	a.send(map[string]any{"type": "SendMessage", "content": "renamed"})
	if m := b.waitFor("Message", func(m msg) bool { return m.str("content") == "renamed" }); m.str("username") != "alice2" {
		t.Errorf("message after rename: got %v, want username alice2", m)
	}
	// The old name is free again.
	b.setName("alice")
}

// TestContractJoinLeave covers JoinRoom (reply order, lower-casing, History,
// Members, UserJoined, since, staying in earlier rooms) and LeaveRoom.
func TestContractJoinLeave(t *testing.T) {
	s := startServer(t, serverConfig{})
	a, b, c := s.dial(), s.dial(), s.dial()
	a.setName("alice")
	b.setName("bob")
	c.setName("carol")

	a.send(map[string]any{"type": "JoinRoom", "room": "MyRoom", "ref": "j1"})
	if m := a.expect("Ack"); m.str("ref") != "j1" || m.str("room") != "myroom" {
		t.Fatalf("JoinRoom: got %v, want Ack{ref j1, room myroom}", m)
	}
	h := a.expect("History")
	if h.str("ref") != "j1" || h.str("room") != "myroom" || len(historyMsgs(t, h)) != 0 || h["truncated"] != false {
		t.Fatalf("JoinRoom: got %v, want History{ref j1, room myroom, messages [], truncated false}", h)
	}
	if m := a.expect("Members"); m.str("room") != "myroom" || fmt.Sprint(m["usernames"]) != "[alice]" {
		t.Fatalf("JoinRoom: got %v, want Members{room myroom, usernames [alice]}", m)
	}
	if m := a.expect("UserJoined"); m.str("username") != "alice" || m.str("room") != "myroom" {
		t.Fatalf("JoinRoom: got %v, want UserJoined{alice, myroom}", m)
	}

	var sent []msg
	for i := range 3 {
		ref := fmt.Sprint("s", i)
		a.send(map[string]any{"type": "SendMessage", "content": fmt.Sprint("before-", i), "ref": ref})
		sent = append(sent, a.waitFor("Message", nil))
		a.reply(ref, "Ack")
	}

	b.send(map[string]any{"type": "JoinRoom", "room": "MYROOM", "ref": "j2"})
	if m := b.expect("Ack"); m.str("ref") != "j2" || m.str("room") != "myroom" {
		t.Fatalf("JoinRoom MYROOM: got %v, want Ack{ref j2, room myroom}", m)
	}
	h = b.expect("History")
	if got := historyMsgs(t, h); !equalStrings(ids(got), ids(sent)) || h["truncated"] != false {
		t.Fatalf("History on join: got %v, want the 3 messages sent before, oldest first", h)
	}
	for i, m := range historyMsgs(t, h) {
		if m.str("content") != sent[i].str("content") || m.str("username") != "alice" || m.str("room") != "myroom" ||
			m.str("timestamp") != sent[i].str("timestamp") {
			t.Errorf("History entry %d: got %v, want %v", i, m, sent[i])
		}
	}
	if m := b.expect("Members"); fmt.Sprint(m["usernames"]) != "[alice bob]" {
		t.Fatalf("Members: got %v, want [alice bob] (sorted)", m)
	}
	b.expect("UserJoined")
	a.waitJoined("bob", "myroom")

	// since: exactly the messages after the given id.
	c.send(map[string]any{"type": "JoinRoom", "room": "myroom", "since": sent[0].str("id"), "ref": "j3"})
	c.expect("Ack")
	h = c.expect("History")
	if got := historyMsgs(t, h); !equalStrings(ids(got), ids(sent[1:])) || h.str("ref") != "j3" {
		t.Fatalf("JoinRoom since: got %v, want messages %v", h, ids(sent[1:]))
	}
	c.send(map[string]any{"type": "JoinRoom", "room": "myroom", "since": "not-an-id", "ref": "j4"})
	c.expectError("j4", "bad_request")
	for i, room := range []string{"", "bad room", "room!", strings.Repeat("r", 65)} {
		ref := fmt.Sprint("badroom", i)
		c.send(map[string]any{"type": "JoinRoom", "room": room, "ref": ref})
		c.expectError(ref, "invalid_room")
	}

	// Joining another room keeps the earlier one and makes the new one current.
	b.joinSkip("general")
	a.send(map[string]any{"type": "SendMessage", "room": "myroom", "content": "still there?"})
	if m := b.waitFor("Message", nil); m.str("room") != "myroom" || m.str("content") != "still there?" {
		t.Fatalf("b after joining general: got %v, want the myroom message", m)
	}
	b.send(map[string]any{"type": "SendMessage", "content": "to current", "ref": "cur"})
	if m := b.waitFor("Message", nil); m.str("room") != "general" {
		t.Fatalf("SendMessage without room: got %v, want it in general (the current room)", m)
	}

	// LeaveRoom: Ack to the leaver, UserLeft to the others only.
	b.send(map[string]any{"type": "LeaveRoom", "room": "MyRoom", "ref": "l1"})
	for _, m := range b.until(func(m msg) bool { return m.str("ref") == "l1" }) {
		if m.str("type") == "UserLeft" {
			t.Errorf("leaver: got %v, want no UserLeft of itself", m)
		}
		if m.str("ref") == "l1" && (m.str("type") != "Ack" || m.str("room") != "myroom") {
			t.Fatalf("LeaveRoom: got %v, want Ack{ref l1, room myroom}", m)
		}
	}
	a.waitLeft("bob", "myroom")
	c.waitLeft("bob", "myroom")
	b.send(map[string]any{"type": "LeaveRoom", "room": "myroom", "ref": "l2"})
	b.expectError("l2", "not_in_room")
	b.send(map[string]any{"type": "SendMessage", "room": "myroom", "content": "x", "ref": "l3"})
	b.expectError("l3", "not_in_room")
	// b no longer gets myroom's traffic: a myroom message, then b's own
	// message to general (its current room) as a barrier.
	a.send(map[string]any{"type": "SendMessage", "room": "myroom", "content": "after leave", "ref": "al"})
	a.reply("al", "Ack")
	b.send(map[string]any{"type": "SendMessage", "content": "barrier", "ref": "bb"})
	for _, m := range b.until(func(m msg) bool { return m.str("ref") == "bb" }) {
		if m.str("type") == "Message" && m.str("room") == "myroom" {
			t.Errorf("after LeaveRoom: got %v, want no myroom traffic", m)
		}
	}
	// Leaving the current room leaves no current room.
	b.send(map[string]any{"type": "LeaveRoom", "room": "general", "ref": "l4"})
	b.reply("l4", "Ack")
	b.send(map[string]any{"type": "SendMessage", "content": "nowhere", "ref": "l5"})
	b.expectError("l5", "not_in_room")
}

// TestContractSendMessage covers SendMessage: not_in_room before joining,
// with and without room, the Message shape, Ack after commit with the
// delivered id, content limits, and no Ack without ref.
func TestContractSendMessage(t *testing.T) {
	s := startServer(t, serverConfig{})
	a, b := s.dial(), s.dial()
	a.setName("alice")
	b.setName("bob")
	a.send(map[string]any{"type": "SendMessage", "content": "too early", "ref": "e"})
	a.expectError("e", "not_in_room")
	a.join("general")
	b.join("general")
	a.waitJoined("bob", "general")

	a.send(map[string]any{"type": "SendMessage", "content": "hello <b>&", "ref": "s1"})
	got := b.waitFor("Message", nil)
	want := map[string]bool{"type": true, "id": true, "room": true, "username": true, "content": true, "timestamp": true}
	for k := range got {
		if !want[k] {
			t.Errorf("Message: unexpected field %q in %v", k, got)
		}
	}
	if got.str("room") != "general" || got.str("username") != "alice" || got.str("content") != "hello <b>&" ||
		!timestampRE.MatchString(got.str("timestamp")) || got.str("id") == "" {
		t.Fatalf("Message: got %v, want {room general, username alice, content, timestamp, id}", got)
	}
	echo := a.waitFor("Message", nil)
	ack := a.reply("s1", "Ack")
	if ack.str("id") != got.str("id") || ack.str("timestamp") != got.str("timestamp") || echo.str("id") != got.str("id") {
		t.Fatalf("Ack: got %v (echo %v), want id %s and timestamp %s", ack, echo, got.str("id"), got.str("timestamp"))
	}
	// The Ack comes after the commit: the message is in the store.
	if stored := storedHistory(t, s.store, "general"); len(stored) != 1 || stored[0].ID != ack.str("id") {
		t.Fatalf("store after Ack: got %v, want message %s", stored, ack.str("id"))
	}

	// With room (any case) it goes there; without, to the current room.
	a.join("random") // now current
	a.send(map[string]any{"type": "SendMessage", "room": "GENERAL", "content": "to general", "ref": "s2"})
	if m := b.waitFor("Message", nil); m.str("room") != "general" || m.str("content") != "to general" {
		t.Fatalf("SendMessage with room: got %v, want it in general", m)
	}
	a.send(map[string]any{"type": "SendMessage", "content": "to random", "ref": "s3"})
	if m := a.waitFor("Message", nil); m.str("room") != "general" {
		t.Fatalf("a: got %v, want its general echo first", m)
	}
	if m := a.waitFor("Message", nil); m.str("room") != "random" || m.str("content") != "to random" {
		t.Fatalf("SendMessage without room: got %v, want it in random (current)", m)
	}
	a.send(map[string]any{"type": "SendMessage", "room": "tech", "content": "x", "ref": "s4"})
	a.expectError("s4", "not_in_room")
	a.send(map[string]any{"type": "SendMessage", "room": "bad room", "content": "x", "ref": "s5"})
	a.expectError("s5", "invalid_room")

	for ref, content := range map[string]string{"e1": "", "e2": "   \n\t ", "e3": "\u00a0\u2003"} {
		a.send(map[string]any{"type": "SendMessage", "room": "general", "content": content, "ref": ref})
		a.expectError(ref, "empty_message")
	}
	a.send(map[string]any{"type": "SendMessage", "room": "general", "content": strings.Repeat("x", 4001), "ref": "big"})
	a.expectError("big", "too_large")
	long := strings.Repeat("é", 4000) // 4000 characters, 8000 bytes: within the limit
	a.send(map[string]any{"type": "SendMessage", "room": "general", "content": long, "ref": "long"})
	a.reply("long", "Ack")

	// Without a ref no Ack is sent: the next acked send is the barrier (the
	// store acks in commit order).
	a.send(map[string]any{"type": "SendMessage", "content": "no ref"})
	a.send(map[string]any{"type": "SendMessage", "content": "with ref", "ref": "last"})
	for _, m := range a.until(func(m msg) bool { return m.str("ref") == "last" }) {
		if m.str("type") == "Ack" && m.str("ref") != "last" {
			t.Errorf("SendMessage without ref: got %v, want no Ack", m)
		}
	}
	// Nothing refused was delivered: b sees exactly the accepted general messages.
	b.send(map[string]any{"type": "SendMessage", "content": "b barrier", "ref": "bb"})
	var contents []string
	for _, m := range messages(b.until(func(m msg) bool { return m.str("ref") == "bb" })) {
		contents = append(contents, m.str("content"))
	}
	if want := []string{long, "b barrier"}; !slices.Equal(contents, want) {
		t.Errorf("b: got messages %q, want %q", contents, want)
	}
}

// TestContractPrivateMessage: a private message reaches its recipient only
// (three users and two bystanders listening), is echoed to its sender, acked
// after commit, stored but never served as history; no_such_user otherwise.
func TestContractPrivateMessage(t *testing.T) {
	s := startServer(t, serverConfig{})
	names := []string{"alice", "bob", "carol", "dave", "erin"}
	ws := map[string]*wsClient{}
	for _, n := range names {
		w := s.dial()
		w.setName(n)
		w.join("general")
		ws[n] = w
	}
	a, b := ws["alice"], ws["bob"]

	a.send(map[string]any{"type": "PrivateMessage", "to": "bob", "content": "secret-1", "ref": "p1",
		"from": "carol", "username": "carol"}) // cannot impersonate
	frames := a.until(func(m msg) bool { return m.str("ref") == "p1" })
	ack := frames[len(frames)-1]
	var echo msg
	for _, m := range frames {
		if m.str("type") == "PrivateMessage" {
			echo = m
		}
	}
	if ack.str("type") != "Ack" || echo == nil || ack.str("id") != echo.str("id") || ack.str("timestamp") != echo.str("timestamp") {
		t.Fatalf("PrivateMessage: got %v, want the echo then Ack{ref p1} with its id", frames)
	}
	if echo.str("from") != "alice" || echo.str("to") != "bob" || echo.str("content") != "secret-1" || !timestampRE.MatchString(echo.str("timestamp")) {
		t.Fatalf("echo: got %v, want {from alice, to bob, content secret-1, timestamp}", echo)
	}
	// Acked after the commit: it is in the database, private, to bob.
	db, err := sql.Open("sqlite3", s.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var room, from, to, content string
	var private bool
	err = db.QueryRow(`SELECT room, username, recipient, content, is_private FROM messages WHERE id = ?`, ack.str("id")).
		Scan(&room, &from, &to, &content, &private)
	if err != nil || room != "" || from != "alice" || to != "bob" || content != "secret-1" || !private {
		t.Fatalf("stored PM: got (%q %q %q %q %v, err %v), want ('' alice bob secret-1 true)", room, from, to, content, private, err)
	}

	for i, to := range []string{"nobody", "bad name", ""} {
		ref := fmt.Sprint("nu", i)
		a.send(map[string]any{"type": "PrivateMessage", "to": to, "content": "hi", "ref": ref})
		a.expectError(ref, "no_such_user")
	}
	a.send(map[string]any{"type": "PrivateMessage", "to": "bob", "content": " ", "ref": "pe"})
	a.expectError("pe", "empty_message")

	// More private messages, then barriers: each sender's later room message
	// comes after its private messages in every outbox. Each listener
	// collects the private messages it gets before both barriers.
	a.send(map[string]any{"type": "PrivateMessage", "to": "CAROL", "content": "secret-2", "ref": "p2"})
	b.send(map[string]any{"type": "PrivateMessage", "to": "Alice", "content": "secret-3", "ref": "p3"})
	a.send(map[string]any{"type": "PrivateMessage", "to": "alice", "content": "note to self", "ref": "p4"})
	a.send(map[string]any{"type": "SendMessage", "content": "barrier-a"})
	b.send(map[string]any{"type": "SendMessage", "content": "barrier-b"})
	want := map[string][]string{
		"alice": {"note to self", "secret-2", "secret-3"}, // secret-1's echo was read above
		"bob":   {"secret-1", "secret-3"},
		"carol": {"secret-2"},
		"dave":  nil,
		"erin":  nil,
	}
	for _, n := range names {
		seen := map[string]bool{}
		var pms []string
		ws[n].until(func(m msg) bool {
			switch m.str("type") {
			case "PrivateMessage":
				pms = append(pms, m.str("content"))
				if m.str("content") == "secret-2" && m.str("to") != "carol" {
					t.Errorf("%s: got %v, want to: carol (the recipient's name)", n, m)
				}
				if m.str("content") == "secret-3" && (m.str("from") != "bob" || m.str("to") != "alice") {
					t.Errorf("%s: got %v, want from bob to alice", n, m)
				}
			case "Message":
				seen[m.str("content")] = true
			}
			return seen["barrier-a"] && seen["barrier-b"]
		})
		slices.Sort(pms)
		if !slices.Equal(pms, want[n]) {
			t.Errorf("%s: got private messages %q, want %q", n, pms, want[n])
		}
	}
	a.reply("p4", "Ack")
	b.reply("p3", "Ack")
	// Never served back: History holds no private message.
	b.send(map[string]any{"type": "History", "room": "general", "ref": "h"})
	for _, m := range historyMsgs(t, b.reply("h", "History")) {
		if strings.HasPrefix(m.str("content"), "secret") || m.str("content") == "note to self" {
			t.Errorf("History: got private message %v", m)
		}
	}
}

// TestNoImpersonation: whatever username/from a client puts in a frame, the
// server sets the sender's own name.
func TestNoImpersonation(t *testing.T) {
	s := startServer(t, serverConfig{})
	a, b, c := s.dial(), s.dial(), s.dial()
	a.setName("mallory")
	b.setName("bob")
	c.setName("carol")
	for _, w := range []*wsClient{a, b} {
		w.join("general")
	}
	a.waitJoined("bob", "general")
	a.send(map[string]any{"type": "SendMessage", "content": "i am bob", "username": "bob", "from": "bob", "id": "01J0000000000000000000000", "ref": "x"})
	if m := b.waitFor("Message", nil); m.str("username") != "mallory" || m.str("id") == "01J0000000000000000000000" {
		t.Errorf("SendMessage with username/from/id: got %v, want username mallory and a server id", m)
	}
	a.send(map[string]any{"type": "PrivateMessage", "to": "carol", "content": "from bob", "from": "bob", "username": "bob", "ref": "y"})
	if m := c.waitFor("PrivateMessage", nil); m.str("from") != "mallory" || m.str("to") != "carol" {
		t.Errorf("PrivateMessage with from/username: got %v, want from mallory", m)
	}
	// SetUsername is the only way to a name, and a taken one is refused.
	a.send(map[string]any{"type": "SetUsername", "username": "BOB", "ref": "z"})
	a.expectError("z", "username_taken")
}

// TestContractListRooms: RoomList{ref, rooms} sorted by name, the default
// rooms always present, member counts.
func TestContractListRooms(t *testing.T) {
	s := startServer(t, serverConfig{})
	a, b := s.dial(), s.dial()
	a.join("general")
	a.join("zeta")
	a.send(map[string]any{"type": "SendMessage", "room": "zeta", "content": "kept", "ref": "z"})
	a.reply("z", "Ack")
	a.join("Alpha")
	a.join("omega")
	b.join("general")
	list := func(w *wsClient, ref string) map[string]int {
		t.Helper()
		w.send(map[string]any{"type": "ListRooms", "ref": ref})
		m := w.reply(ref, "RoomList")
		rooms, _ := m["rooms"].([]any)
		got := map[string]int{}
		var order []string
		for _, r := range rooms {
			r := r.(map[string]any)
			name, _ := r["name"].(string)
			n, _ := r["members"].(float64)
			got[name] = int(n)
			order = append(order, name)
		}
		if !slices.IsSorted(order) || len(order) != len(got) {
			t.Errorf("RoomList: got rooms %v, want them sorted by name, once each", order)
		}
		return got
	}
	want := map[string]int{"alpha": 1, "general": 2, "omega": 1, "random": 0, "tech": 0, "zeta": 1}
	if got := list(a, "r1"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RoomList: got %v, want %v", got, want)
	}
	b.send(map[string]any{"type": "LeaveRoom", "room": "general", "ref": "l"})
	b.reply("l", "Ack")
	a.send(map[string]any{"type": "LeaveRoom", "room": "zeta", "ref": "l"})
	a.reply("l", "Ack")
	a.send(map[string]any{"type": "LeaveRoom", "room": "omega", "ref": "l"})
	a.reply("l", "Ack")
	// An empty room that holds messages is still listed; one that never
	// did is forgotten.
	want["general"], want["zeta"] = 1, 0
	delete(want, "omega")
	if got := list(b, "r2"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("RoomList after leaving: got %v, want %v", got, want)
	}
	// Without a ref the RoomList carries none.
	b.send(map[string]any{"type": "ListRooms"})
	if m := b.expect("RoomList"); m.str("ref") != "" {
		t.Errorf("RoomList without ref: got %v, want no ref", m)
	}
	// A fresh server lists the default rooms.
	s2 := startServer(t, serverConfig{})
	c := s2.dial()
	c.send(map[string]any{"type": "ListRooms", "ref": "r"})
	if m := c.reply("r", "RoomList"); fmt.Sprint(m["rooms"]) != "[map[members:0 name:general] map[members:0 name:random] map[members:0 name:tech]]" {
		t.Errorf("fresh RoomList: got %v, want general, random, tech with 0 members", m["rooms"])
	}
}

// TestContractHistory covers History: default page 50, limit capped at
// 200, before, truncated, errors.
func TestContractHistory(t *testing.T) {
	const n, room = 260, "hist"
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	a, b := s.dial(), s.dial()
	a.join(room)
	for i := range n {
		a.send(map[string]any{"type": "SendMessage", "content": fmt.Sprint("h", i), "ref": fmt.Sprint(i)})
	}
	var sent []string
	acks := 0
	a.until(func(m msg) bool {
		switch m.str("type") {
		case "Message":
			sent = append(sent, m.str("id"))
		case "Ack":
			acks++
		case "Error":
			t.Fatalf("got %v", m)
		}
		return len(sent) == n && acks == n
	})
	history := func(ref string, req map[string]any) (got []string, truncated bool) {
		t.Helper()
		req["type"], req["ref"] = "History", ref
		if _, ok := req["room"]; !ok {
			req["room"] = room
		}
		a.send(req)
		h := a.reply(ref, "History")
		if h.str("room") != room {
			t.Errorf("History %s: got room %q, want %q", ref, h.str("room"), room)
		}
		return ids(historyMsgs(t, h)), h["truncated"] == true
	}
	for _, tc := range []struct {
		name      string
		req       map[string]any
		want      []string
		truncated bool
	}{
		{"default 50", map[string]any{}, sent[n-50:], true},
		{"limit 10", map[string]any{"limit": 10}, sent[n-10:], true},
		{"limit capped at 200", map[string]any{"limit": 500}, sent[n-200:], true},
		{"limit 0 is the default", map[string]any{"limit": 0}, sent[n-50:], true},
		{"negative limit is the default", map[string]any{"limit": -5}, sent[n-50:], true},
		{"before", map[string]any{"before": sent[100], "limit": 10}, sent[90:100], true},
		{"before, the start", map[string]any{"before": sent[5], "limit": 10}, sent[:5], false},
		{"before the first", map[string]any{"before": sent[0]}, nil, false},
		{"upper case room", map[string]any{"room": "HIST", "limit": 3}, sent[n-3:], true},
	} {
		got, truncated := history(tc.name, tc.req)
		if !equalStrings(got, tc.want) || truncated != tc.truncated {
			t.Errorf("History %s: got %d messages (truncated %v), want %d (truncated %v)", tc.name, len(got), truncated, len(tc.want), tc.truncated)
		}
	}
	// Paging back from the end with before reaches every message once.
	var all []string
	before := ""
	for page := 0; ; page++ {
		req := map[string]any{"limit": 200}
		if before != "" {
			req["before"] = before
		}
		got, truncated := history(fmt.Sprint("page", page), req)
		all = append(got, all...)
		if !truncated {
			break
		}
		before = got[0]
	}
	if !equalStrings(all, sent) {
		t.Errorf("paging: got %d messages, want all %d in order", len(all), n)
	}

	a.send(map[string]any{"type": "History", "room": "general", "ref": "nj"})
	a.expectError("nj", "not_in_room")
	a.send(map[string]any{"type": "History", "room": room, "before": "nope", "ref": "bb"})
	a.expectError("bb", "bad_request")
	a.send(map[string]any{"type": "History", "room": "no way", "ref": "br"})
	a.expectError("br", "invalid_room")

	// JoinRoom's History holds the last 50, truncated.
	b.send(map[string]any{"type": "JoinRoom", "room": room, "ref": "j"})
	b.expect("Ack")
	if h := b.expect("History"); !equalStrings(ids(historyMsgs(t, h)), sent[n-50:]) || h["truncated"] != true {
		t.Errorf("JoinRoom History: got %d messages (truncated %v), want the last 50, truncated", len(historyMsgs(t, h)), h["truncated"])
	}
}

// TestContractBadInput: unknown type, malformed JSON, wrong field types, a
// long ref, a key given twice and unknown fields; the connection survives
// each.
func TestContractBadInput(t *testing.T) {
	s := startServer(t, serverConfig{})
	a := s.dial()
	for _, tc := range []struct {
		name, frame, code, ref, mention string
	}{
		{"unknown type", `{"type":"Dance","ref":"u1"}`, "unknown_type", "u1", ""},
		{"missing type", `{"ref":"u2","room":"general"}`, "bad_request", "u2", ""},
		{"not JSON", `{"type":"ListRooms",`, "bad_request", "", ""},
		{"not an object", `[1,2,3]`, "bad_request", "", ""},
		{"a string", `"ListRooms"`, "bad_request", "", ""},
		{"wrong type: content", `{"type":"SendMessage","content":5}`, "bad_request", "", "content"},
		{"wrong type: limit", `{"type":"History","room":"general","limit":"10"}`, "bad_request", "", "limit"},
		{"wrong type: type", `{"type":7}`, "bad_request", "", "type"},
		{"ref over 64 bytes", `{"type":"ListRooms","ref":"` + strings.Repeat("r", 65) + `"}`, "bad_request", "", ""},
		{"duplicate key: type", `{"type":"Bogus","type":"ListRooms","ref":"d1"}`, "bad_request", "d1", "type"},
		{"duplicate key: escaped", `{"ref":"d2","type":"ListRooms","\u0074ype":"Dance"}`, "bad_request", "d2", "type"},
		{"duplicate key: unknown", `{"type":"ListRooms","ref":"d3","colour":1,"colour":2}`, "bad_request", "d3", "colour"},
	} {
		a.sendRaw(websocket.MessageText, []byte(tc.frame))
		m := a.next()
		if m.str("type") != "Error" || m.str("code") != tc.code || m.str("ref") != tc.ref ||
			!strings.Contains(m.str("message"), tc.mention) {
			t.Errorf("%s: got %v, want Error{code %s, ref %q} mentioning %q", tc.name, m, tc.code, tc.ref, tc.mention)
		}
	}
	ref64 := strings.Repeat("r", 64)
	a.sendRaw(websocket.MessageText, []byte(`{"type":"ListRooms","ref":"`+ref64+`"}`))
	if m := a.next(); m.str("type") != "RoomList" || m.str("ref") != ref64 {
		t.Errorf("ref of 64 bytes: got %v, want RoomList with it", m)
	}
	a.sendRaw(websocket.MessageText, []byte(`{"type":"ListRooms","ref":"x","colour":"blue","nested":{"a":[1,{"b":null}]},"extra":["x"]}`))
	if m := a.next(); m.str("type") != "RoomList" || m.str("ref") != "x" {
		t.Errorf("unknown fields: got %v, want them ignored and a RoomList", m)
	}
	// Still connected and working.
	a.join("general")
}

// TestFieldNamesAreCaseSensitive: JSON keys are case-sensitive, and the
// contract's fields are lower case, so "Type" or "Content" is an unknown
// field, to be ignored; encoding/json matches keys case-insensitively.
func TestFieldNamesAreCaseSensitive(t *testing.T) {
	s := startServer(t, serverConfig{})
	a := s.dial()
	a.join("general")
	a.sendRaw(websocket.MessageText, []byte(`{"type":"ListRooms","ref":"x","Type":"Dance"}`))
	if m := a.next(); m.str("type") != "RoomList" || m.str("ref") != "x" {
		t.Errorf(`{"type":"ListRooms","Type":"Dance"}: got %v, want "Type" ignored and a RoomList`, m)
	}
	a.sendRaw(websocket.MessageText, []byte(`{"type":"SendMessage","content":"real","CONTENT":"smuggled","ref":"c"}`))
	if m := a.waitFor("Message", nil); m.str("content") != "real" {
		t.Errorf(`{"content":"real","CONTENT":"smuggled"}: got content %q, want "real"`, m.str("content"))
	}
}

// TestErrorsCarryRef: the contract says the direct reply to a request that
// carries a ref, Error included, carries the same ref. These are the cases
// where the ref is known but (as of this writing) dropped.
func TestErrorsCarryRef(t *testing.T) {
	t.Run("field of the wrong type", func(t *testing.T) {
		s := startServer(t, serverConfig{})
		a := s.dial()
		a.sendRaw(websocket.MessageText, []byte(`{"type":"History","room":"general","limit":"10","ref":"w1"}`))
		if m := a.next(); m.str("code") != "bad_request" || m.str("ref") != "w1" {
			t.Errorf("got %v, want Error{code bad_request, ref w1}", m)
		}
	})
	t.Run("rate_limited", func(t *testing.T) {
		s := startServer(t, serverConfig{hub: actors.Config{Limits: actors.Limits{RatePerSec: 0.001, RateBurst: 1}}})
		a := s.dial()
		a.send(map[string]any{"type": "ListRooms", "ref": "ok"})
		a.reply("ok", "RoomList")
		a.send(map[string]any{"type": "ListRooms", "ref": "r2"})
		if m := a.next(); m.str("code") != "rate_limited" || m.str("ref") != "r2" {
			t.Errorf("got %v, want Error{code rate_limited, ref r2}", m)
		}
	})
}

// TestDisconnectAnnouncements: a client that closes, and one whose TCP
// connection is dropped, leave every room they were in (the others see
// UserLeft) and free their names.
func TestDisconnectAnnouncements(t *testing.T) {
	s := startServer(t, serverConfig{})
	a, b, c := s.dial(), s.dial(), s.dial()
	a.setName("alice")
	b.setName("bob")
	c.setName("carol")
	for _, w := range []*wsClient{a, b, c} {
		w.join("general")
	}
	a.joinSkip("side")
	b.joinSkip("side")
	a.waitJoined("bob", "side")

	if err := b.c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("bob: close: %v", err)
	}
	left := map[string]bool{}
	a.until(func(m msg) bool {
		if m.str("type") == "UserLeft" && m.str("username") == "bob" {
			left[m.str("room")] = true
		}
		return left["general"] && left["side"]
	})
	c.waitLeft("bob", "general")

	c.c.CloseNow() // no close handshake: the TCP connection just goes
	a.waitLeft("carol", "general")

	// Both names are free again.
	d, e := s.dial(), s.dial()
	d.takeName("BOB") // names are case-insensitive: bob's is free
	e.takeName("carol")
	d.joinSkip("general")
	a.waitJoined("BOB", "general")
	a.send(map[string]any{"type": "ListRooms", "ref": "l"})
	for _, r := range a.reply("l", "RoomList")["rooms"].([]any) {
		r := r.(map[string]any)
		if r["name"] == "general" && r["members"] != float64(2) {
			t.Errorf("general: got %v members, want 2 (alice, BOB)", r["members"])
		}
	}
}

// TestFrameLimits: a frame of exactly the default limit (the largest legal
// request, actors.Limits.MaxRequestBytes) is accepted; one byte more closes
// with 1009; invalid UTF-8 closes with 1007; a binary frame with 1003. The
// server keeps serving the others.
func TestFrameLimits(t *testing.T) {
	s := startServer(t, serverConfig{})
	limit := int(actors.DefaultLimits.MaxRequestBytes())
	a := s.dial()
	a.join("general")

	frame := func(size int, ref string) []byte {
		b := []byte(`{"type":"SendMessage","content":"padded","ref":"` + ref + `"}`)
		return append(b, strings.Repeat(" ", size-len(b))...)
	}
	exact := frame(limit, "exact")
	if len(exact) != limit {
		t.Fatalf("frame: got %d bytes, want %d", len(exact), limit)
	}
	a.sendRaw(websocket.MessageText, exact)
	a.reply("exact", "Ack")

	for _, tc := range []struct {
		name  string
		typ   websocket.MessageType
		frame []byte
		want  websocket.StatusCode
	}{
		{"one byte over", websocket.MessageText, frame(limit+1, "over"), websocket.StatusMessageTooBig},
		{"invalid byte", websocket.MessageText, []byte("{\"type\":\"SendMessage\",\"content\":\"\xff\"}"), websocket.StatusInvalidFramePayloadData},
		{"overlong encoding", websocket.MessageText, []byte("{\"type\":\"SendMessage\",\"content\":\"\xc0\xaf\"}"), websocket.StatusInvalidFramePayloadData},
		{"surrogate", websocket.MessageText, []byte("{\"type\":\"SendMessage\",\"content\":\"\xed\xa0\x80\"}"), websocket.StatusInvalidFramePayloadData},
		{"truncated sequence", websocket.MessageText, []byte("{\"type\":\"ListRooms\"}\xe2\x82"), websocket.StatusInvalidFramePayloadData},
		{"binary", websocket.MessageBinary, []byte(`{"type":"ListRooms"}`), websocket.StatusUnsupportedData},
	} {
		w := s.dial()
		w.join("general")
		a.waitJoined(w.name, "general")
		w.sendRaw(tc.typ, tc.frame)
		if got := w.closeStatus(); got != tc.want {
			t.Errorf("%s: got close %v, want %v", tc.name, got, tc.want)
		}
		a.waitLeft(w.name, "general")
	}
	// The server still serves a.
	a.send(map[string]any{"type": "SendMessage", "content": "still here", "ref": "after"})
	a.reply("after", "Ack")
	stored := storedHistory(t, s.store, "general")
	if len(stored) != 2 || stored[0].Content != "padded" || stored[1].Content != "still here" {
		t.Errorf("store: got %v, want only the two accepted messages", stored)
	}
}

// TestShutdownUnderTraffic: with clients sending, stop (transport, hub,
// store) closes every client with 1001, and every acked message is in the
// database afterwards.
func TestShutdownUnderTraffic(t *testing.T) {
	const clients, room = 4, "general"
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	ws := make([]*wsClient, clients)
	for i := range ws {
		ws[i] = s.dial()
		ws[i].join(room)
	}
	type result struct {
		acked []string
		code  websocket.StatusCode
		err   error
	}
	results := make(chan result, clients)
	flowing := make(chan struct{}, clients)
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitLimit)
	defer cancel()
	for i, w := range ws {
		acks := make(chan struct{}, 1)
		done := make(chan struct{})
		// Reader: exits when the connection closes (or ctx ends).
		go func() {
			defer close(done)
			var r result
			for {
				m, err := w.read(ctx)
				if err != nil {
					r.code = websocket.CloseStatus(err)
					if ctx.Err() != nil {
						r.err = fmt.Errorf("%s: not closed: %w", w.name, err)
					}
					break
				}
				if m.str("type") == "Ack" {
					r.acked = append(r.acked, m.str("id"))
					if len(r.acked) == 20 {
						flowing <- struct{}{}
					}
					select {
					case acks <- struct{}{}:
					default:
					}
				}
			}
			results <- r
		}()
		// Writer: one message in flight at a time, until the connection ends.
		go func() {
			for k := 0; ; k++ {
				c := fmt.Sprintf("c%d-%d", i, k)
				if w.write(ctx, map[string]any{"type": "SendMessage", "content": c, "ref": c}) != nil {
					return
				}
				select {
				case <-acks:
				case <-done:
					return
				}
			}
		}()
	}
	for range clients {
		select {
		case <-flowing:
		case <-ctx.Done():
			t.Fatalf("traffic did not start: %v", ctx.Err())
		}
	}
	s.stop()
	var acked []string
	for range clients {
		select {
		case r := <-results:
			if r.err != nil {
				t.Error(r.err)
			} else if r.code != websocket.StatusGoingAway {
				t.Errorf("close: got %v, want %v", r.code, websocket.StatusGoingAway)
			}
			acked = append(acked, r.acked...)
		case <-ctx.Done():
			t.Fatalf("clients: %v", ctx.Err())
		}
	}
	stored := map[string]bool{}
	for _, m := range reopenHistory(t, s.dbPath, room) {
		stored[m.ID] = true
	}
	lost := 0
	for _, id := range acked {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("after shutdown: %d of %d acked messages are not in the database", lost, len(acked))
	}
	t.Logf("%d acked, %d stored, all acked found", len(acked), len(stored))
}

// TestRestartKeepsHistory: acked messages survive a restart on the same
// database with the same ids, in order; JoinRoom{since} after the restart
// returns exactly the messages after since; new ids keep increasing.
func TestRestartKeepsHistory(t *testing.T) {
	const n, room = 60, "persist"
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	a := s.dial()
	a.setName("alice")
	a.join(room)
	var sent []msg
	acked := map[string]string{}
	for i := range n {
		c := fmt.Sprint("r", i)
		a.send(map[string]any{"type": "SendMessage", "content": c, "ref": c})
	}
	a.until(func(m msg) bool {
		switch m.str("type") {
		case "Message":
			sent = append(sent, m)
		case "Ack":
			acked[m.str("ref")] = m.str("id")
		}
		return len(sent) == n && len(acked) == n
	})
	for _, m := range sent {
		if acked[m.str("content")] != m.str("id") {
			t.Fatalf("Ack of %s: got id %s, want %s", m.str("content"), acked[m.str("content")], m.str("id"))
		}
	}
	path := s.dbPath
	// Close first: a coder client answers the server's close only while it
	// reads, and the server would wait 5 s for it.
	a.c.Close(websocket.StatusNormalClosure, "")
	s.stop()

	s2 := startServer(t, serverConfig{dbPath: path, hub: actors.Config{Limits: noRateLimit}})
	b := s2.dial()
	h := b.join(room)
	got := historyMsgs(t, h)
	if !equalStrings(ids(got), ids(sent[n-50:])) || h["truncated"] != true {
		t.Fatalf("History after restart: got %d messages %v (truncated %v), want the last 50 sent, truncated", len(got), ids(got), h["truncated"])
	}
	for i, m := range got {
		w := sent[n-50+i]
		if m.str("content") != w.str("content") || m.str("username") != "alice" || m.str("timestamp") != w.str("timestamp") {
			t.Errorf("History[%d] after restart: got %v, want %v", i, m, w)
		}
	}
	b.send(map[string]any{"type": "History", "room": room, "limit": 200, "ref": "all"})
	if h := b.reply("all", "History"); !equalStrings(ids(historyMsgs(t, h)), ids(sent)) || h["truncated"] != false {
		t.Errorf("History{limit 200} after restart: got %d messages, want all %d in order", len(historyMsgs(t, h)), n)
	}
	for _, since := range []int{0, 9, n - 2, n - 1} {
		c := s2.dial()
		c.send(map[string]any{"type": "JoinRoom", "room": room, "since": sent[since].str("id"), "ref": "s"})
		c.expect("Ack")
		h := c.expect("History")
		if got := ids(historyMsgs(t, h)); !equalStrings(got, ids(sent[since+1:])) || h["truncated"] != false {
			t.Errorf("JoinRoom{since: message %d} after restart: got %d messages, want the %d after it", since, len(got), n-since-1)
		}
		c.c.Close(websocket.StatusNormalClosure, "")
	}
	// The room is still known, and new ids sort after the old ones.
	b.send(map[string]any{"type": "ListRooms", "ref": "l"})
	if m := b.reply("l", "RoomList"); !strings.Contains(fmt.Sprint(m["rooms"]), "name:"+room) {
		t.Errorf("RoomList after restart: got %v, want %s in it", m["rooms"], room)
	}
	b.send(map[string]any{"type": "SendMessage", "content": "after restart", "ref": "new"})
	if ack := b.reply("new", "Ack"); ack.str("id") <= sent[n-1].str("id") {
		t.Errorf("new id after restart: got %s, want > %s", ack.str("id"), sent[n-1].str("id"))
	}
}

// TestPresenceWindowOverTheWire runs the presence throttle through real
// connections: joins in quick succession reach an existing member, all of
// them and in order, at the window's end when nothing else is sent, and
// ahead of the first chat message otherwise.
func TestPresenceWindowOverTheWire(t *testing.T) {
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit, PresenceWindow: 300 * time.Millisecond}})
	a := s.dial()
	a.join("storm")
	joinAll := func(prefix string, n int) (names []string, last *wsClient) {
		for i := range n {
			c := s.dial()
			c.setName(fmt.Sprintf("%s%d", prefix, i))
			c.join("storm")
			names = append(names, c.name)
			last = c
		}
		return names, last
	}
	joined := func(stopAtMessage bool, n int) []string {
		var got []string
		a.until(func(m msg) bool {
			switch m.str("type") {
			case "UserJoined":
				got = append(got, m.str("username"))
			case "Message":
				return true
			}
			return !stopAtMessage && len(got) == n
		})
		return got
	}

	// The window's end: nothing else wakes a's writer.
	want, _ := joinAll("quiet", 8)
	if got := joined(false, len(want)); !equalStrings(got, want) {
		t.Errorf("joins announced at the window's end: got %v, want %v", got, want)
	}
	// A message sent right after the joins takes them along, before it.
	want, last := joinAll("busy", 8)
	last.send(map[string]any{"type": "SendMessage", "room": "storm", "content": "after", "ref": "m"})
	if got := joined(true, len(want)); !equalStrings(got, want) {
		t.Errorf("joins announced before the next message: got %v, want %v", got, want)
	}
}
