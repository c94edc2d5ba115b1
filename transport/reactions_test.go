package transport_test

import (
	"testing"

	"github.com/coder/websocket"

	"parley/actors"
)

// Reactions, typing and mentions over real connections: a reaction is
// announced with its counts and kept across a restart (History with the
// reader's own, since catch-up); typing reaches the other member and not
// the typist; a mention is on the Message and in History.
func TestReactionsTypingAndMentionsOverTheWire(t *testing.T) {
	const room = "reacts"
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	a, b := s.aliceAndBob(room)

	b.send(map[string]any{"type": "Typing", "room": room})
	if m := a.waitFor("UserTyping", nil); m.str("room") != room || m.str("username") != "bob" {
		t.Errorf("alice sees %v, want bob typing in %s", m, room)
	}
	a.send(map[string]any{"type": "SendMessage", "room": room, "content": "hello @bob", "ref": "m"})
	id := a.reply("m", "Ack").str("id")
	seen := b.until(func(m msg) bool { return m.str("type") == "Message" && m.str("id") == id })
	m := seen[len(seen)-1]
	if mentions, _ := m["mentions"].([]any); len(mentions) != 1 || mentions[0] != "bob" {
		t.Errorf("bob sees %v, want mentions [bob]", m)
	}

	b.send(map[string]any{"type": "React", "id": id, "emoji": "🎉", "on": true, "ref": "r"})
	if ack := b.reply("r", "Ack"); ack.str("id") != id {
		t.Errorf("React's Ack: got %v, want id %s", ack, id)
	}
	r := a.waitFor("Reactions", nil)
	if counts, _ := r["counts"].(map[string]any); r.str("id") != id || counts["🎉"] != 1.0 || r.str("by") != "bob" || r["on"] != true {
		t.Errorf("alice sees %v, want bob's 🎉 on %s, counted 1", r, id)
	}
	b.send(map[string]any{"type": "React", "id": id, "emoji": "not one", "on": true, "ref": "bad"})
	b.expectError("bad", "bad_request")
	b.send(map[string]any{"type": "React", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "emoji": "👍", "on": true, "ref": "none"})
	b.expectError("none", "no_such_message")
	b.send(map[string]any{"type": "React", "id": id, "emoji": "👍", "on": "yes", "ref": "typed"})
	b.expectError("typed", "bad_request")

	a.c.Close(websocket.StatusNormalClosure, "")
	b.c.Close(websocket.StatusNormalClosure, "")
	s.stop()
	s2 := startServer(t, serverConfig{dbPath: s.dbPath, hub: actors.Config{Limits: noRateLimit}})

	c := s2.dial()
	got := historyMsgs(t, c.join(room))
	if len(got) != 1 {
		t.Fatalf("History after restart: got %v, want 1 message", got)
	}
	counts, _ := got[0]["reactions"].(map[string]any)
	mentions, _ := got[0]["mentions"].([]any)
	if counts["🎉"] != 1.0 || got[0]["reacted"] != nil || len(mentions) != 1 {
		t.Errorf("History after restart: got %v, want 🎉 1 (not the reader's) and mentions [bob]", got[0])
	}
	c.send(map[string]any{"type": "React", "id": id, "emoji": "🎉", "on": true, "ref": "r2"})
	c.reply("r2", "Ack")

	d := s2.dial()
	d.send(map[string]any{"type": "JoinRoom", "room": room, "since": id, "ref": "back"})
	d.expect("Ack")
	d.expect("History")
	if m := d.expect("Reactions"); m.str("id") != id || m["counts"].(map[string]any)["🎉"] != 2.0 {
		t.Errorf("catch-up: got %v, want 🎉 2 on %s", m, id)
	}
	d.expect("Members")
}
