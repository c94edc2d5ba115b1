package transport_test

import (
	"testing"

	"github.com/coder/websocket"

	"parley/actors"
)

// Edit and delete over real connections: the author's change reaches the
// other member live, another user's attempt is refused, and after a restart
// History and a JoinRoom{since} show what was changed.
func TestEditAndDeleteOverTheWire(t *testing.T) {
	const room = "edits"
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	a, b := s.aliceAndBob(room)

	var ids []string
	for _, c := range []string{"one", "two", "three"} {
		a.send(map[string]any{"type": "SendMessage", "room": room, "content": c, "ref": c})
		ids = append(ids, a.reply(c, "Ack").str("id"))
	}
	b.until(func(m msg) bool { return m.str("type") == "Message" && m.str("id") == ids[2] })

	b.send(map[string]any{"type": "EditMessage", "id": ids[0], "content": "bob's now", "ref": "steal"})
	b.expectError("steal", "not_allowed")
	b.send(map[string]any{"type": "DeleteMessage", "id": ids[0], "ref": "drop"})
	b.expectError("drop", "not_allowed")

	a.send(map[string]any{"type": "EditMessage", "room": room, "id": ids[0], "content": "one, fixed", "ref": "e"})
	if ack := a.reply("e", "Ack"); ack.str("id") != ids[0] {
		t.Errorf("edit's Ack: got %v, want id %s", ack, ids[0])
	}
	m := b.waitFor("MessageEdited", nil)
	if m.str("id") != ids[0] || m.str("content") != "one, fixed" || m.str("room") != room || m.str("edited_at") == "" {
		t.Errorf("bob sees %v, want MessageEdited of %s in %s reading %q", m, ids[0], room, "one, fixed")
	}
	a.send(map[string]any{"type": "DeleteMessage", "id": ids[1], "ref": "d"})
	a.reply("d", "Ack")
	if m := b.waitFor("MessageDeleted", nil); m.str("id") != ids[1] || m.str("room") != room {
		t.Errorf("bob sees %v, want MessageDeleted of %s in %s", m, ids[1], room)
	}

	a.c.Close(websocket.StatusNormalClosure, "")
	b.c.Close(websocket.StatusNormalClosure, "")
	s.stop()
	s2 := startServer(t, serverConfig{dbPath: s.dbPath, hub: actors.Config{Limits: noRateLimit}})

	c := s2.dial()
	got := historyMsgs(t, c.join(room))
	if len(got) != 3 {
		t.Fatalf("History after restart: got %d messages %v, want 3", len(got), got)
	}
	if got[0].str("content") != "one, fixed" || got[0].str("edited_at") == "" {
		t.Errorf("History[0] after restart: got %v, want the edit, with edited_at", got[0])
	}
	if got[1].str("id") != ids[1] || got[1]["deleted"] != true || got[1].str("content") != "" {
		t.Errorf("History[1] after restart: got %v, want %s deleted, no content", got[1], ids[1])
	}
	if got[2].str("content") != "three" || got[2]["edited_at"] != nil || got[2]["deleted"] != nil {
		t.Errorf("History[2] after restart: got %v, want it as sent", got[2])
	}

	// Back with since = the last message: the History is empty, and the
	// changes of the messages before it follow it.
	d := s2.dial()
	d.send(map[string]any{"type": "JoinRoom", "room": room, "since": ids[2], "ref": "back"})
	d.expect("Ack")
	if h := d.expect("History"); len(historyMsgs(t, h)) != 0 {
		t.Errorf("History since the last: got %v, want none", h)
	}
	if m := d.expect("MessageEdited"); m.str("id") != ids[0] || m.str("content") != "one, fixed" {
		t.Errorf("catch-up: got %v, want MessageEdited of %s", m, ids[0])
	}
	if m := d.expect("MessageDeleted"); m.str("id") != ids[1] {
		t.Errorf("catch-up: got %v, want MessageDeleted of %s", m, ids[1])
	}
	d.expect("Members")
}
