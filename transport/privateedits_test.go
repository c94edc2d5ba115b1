package transport_test

import (
	"testing"

	"github.com/coder/websocket"

	"parley/actors"
)

// Edit and delete of private messages between accounts over real
// connections: the author's change reaches every connection of both sides
// (each frame naming the other side in with), from either of the author's
// connections; the other side and a third account are refused; the
// conversation's History shows the changes, and a History{with, since}
// is followed by the changes it missed.
func TestPrivateEditAndDeleteOverTheWire(t *testing.T) {
	s := startAccountsServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	tAnn, tBen, tCid := s.register("Ann", "correct horse"), s.register("Ben", "correct horse"), s.register("Cid", "correct horse")
	ann, ann2, ben, cid := s.dialToken(tAnn), s.dialToken(tAnn), s.dialToken(tBen), s.dialToken(tCid)

	var ids []string
	for _, c := range []string{"one", "two", "three"} {
		ids = append(ids, ann.pm("Ben", c, c).str("id"))
	}
	ben.waitFor("PrivateMessage", func(m msg) bool { return m.str("id") == ids[2] })
	ann2.waitFor("PrivateMessage", func(m msg) bool { return m.str("id") == ids[2] })

	// The other side may not; a third account is not told it exists.
	for _, req := range []map[string]any{
		{"type": "EditMessage", "id": ids[0], "content": "ben's now", "with": "Ann", "ref": "steal"},
		{"type": "EditMessage", "id": ids[0], "content": "ben's now", "ref": "steal"},
		{"type": "DeleteMessage", "id": ids[0], "with": "ann", "ref": "steal"},
	} {
		ben.send(req)
		ben.expectError("steal", "not_allowed")
	}
	cid.send(map[string]any{"type": "EditMessage", "id": ids[0], "content": "cid's now", "ref": "steal"})
	cid.expectError("steal", "no_such_message")
	cid.send(map[string]any{"type": "DeleteMessage", "id": ids[0], "with": "Ann", "ref": "steal"})
	cid.expectError("steal", "no_such_message")
	// with names the conversation: another one's is no such message.
	ann.send(map[string]any{"type": "EditMessage", "id": ids[0], "content": "x", "with": "Cid", "ref": "wrong"})
	ann.expectError("wrong", "no_such_message")
	ann.send(map[string]any{"type": "EditMessage", "id": ids[0], "content": "x", "with": "Ben", "room": "general", "ref": "both"})
	ann.expectError("both", "bad_request")

	// The author's own connection has the announcement before the Ack.
	ann.send(map[string]any{"type": "EditMessage", "id": ids[0], "content": "one, fixed", "with": "ben", "ref": "e"})
	got := ann.until(func(m msg) bool { return m.str("ref") == "e" })
	if ack := got[len(got)-1]; ack.str("type") != "Ack" || ack.str("id") != ids[0] || ack.str("timestamp") == "" {
		t.Errorf("edit's Ack: got %v, want id %s and the edit's time", ack, ids[0])
	}
	if m := lastOf(got, "MessageEdited"); m.str("id") != ids[0] || m.str("with") != "Ben" || m.str("content") != "one, fixed" {
		t.Errorf("Ann's connection, before the Ack: got %v, want MessageEdited of %s with Ben", got, ids[0])
	}
	isEdit := func(m msg) bool { return m.str("id") == ids[0] }
	for _, side := range []struct {
		who  *wsClient
		with string
	}{{ben, "Ann"}, {ann2, "Ben"}} {
		m := side.who.waitFor("MessageEdited", isEdit)
		if m.str("with") != side.with || m.str("content") != "one, fixed" || m.str("edited_at") == "" || m["room"] != nil {
			t.Errorf("%s sees %v, want MessageEdited of %s with %s reading %q", side.who.name, m, ids[0], side.with, "one, fixed")
		}
	}
	// From the author's other connection, without with.
	ann2.send(map[string]any{"type": "DeleteMessage", "id": ids[1], "ref": "d"})
	got = ann2.until(func(m msg) bool { return m.str("ref") == "d" })
	if m := lastOf(got, "MessageDeleted"); m.str("id") != ids[1] || m.str("with") != "Ben" || got[len(got)-1].str("type") != "Ack" {
		t.Errorf("Ann's second connection: got %v, want MessageDeleted of %s with Ben, then the Ack", got, ids[1])
	}
	isDel := func(m msg) bool { return m.str("id") == ids[1] }
	for _, side := range []struct {
		who  *wsClient
		with string
	}{{ben, "Ann"}, {ann, "Ben"}} {
		if m := side.who.waitFor("MessageDeleted", isDel); m.str("with") != side.with || m.str("edited_at") == "" {
			t.Errorf("%s sees %v, want MessageDeleted of %s with %s", side.who.name, m, ids[1], side.with)
		}
	}
	ann.send(map[string]any{"type": "EditMessage", "id": ids[1], "content": "back", "ref": "late"})
	ann.expectError("late", "no_such_message")

	for _, who := range []*wsClient{ann, ben} {
		got := historyMsgs(t, who.conversation(map[*wsClient]string{ann: "ben", ben: "ann"}[who], "h", nil))
		if len(got) != 3 {
			t.Fatalf("%s's History of the conversation: got %v, want 3 messages", who.name, got)
		}
		if got[0].str("content") != "one, fixed" || got[0].str("edited_at") == "" {
			t.Errorf("%s's History[0]: got %v, want the edit, with edited_at", who.name, got[0])
		}
		if got[1].str("id") != ids[1] || got[1]["deleted"] != true || got[1].str("content") != "" || got[1].str("from") != "Ann" {
			t.Errorf("%s's History[1]: got %v, want %s of Ann, deleted, no content", who.name, got[1], ids[1])
		}
		if got[2].str("content") != "three" || got[2]["edited_at"] != nil || got[2]["deleted"] != nil {
			t.Errorf("%s's History[2]: got %v, want it as sent", who.name, got[2])
		}
	}

	// Ben comes back having seen up to the last message: the page is
	// followed by the changes of the messages up to it, oldest first.
	ben.c.Close(websocket.StatusNormalClosure, "")
	back := s.dialToken(tBen)
	back.conversation("Ann", "back", map[string]any{"since": ids[2]})
	if m := back.next(); m.str("type") != "MessageEdited" || m.str("id") != ids[0] || m.str("with") != "Ann" || m.str("content") != "one, fixed" {
		t.Errorf("catch-up: got %v, want MessageEdited of %s with Ann", m, ids[0])
	}
	if m := back.next(); m.str("type") != "MessageDeleted" || m.str("id") != ids[1] || m.str("with") != "Ann" {
		t.Errorf("catch-up: got %v, want MessageDeleted of %s with Ann", m, ids[1])
	}
	back.send(map[string]any{"type": "History", "with": "Ann", "since": "not an id", "ref": "bad"})
	back.expectError("bad", "bad_request")
}

// A guest edits and deletes the private messages it sent on this
// connection, under its name: the other guest is refused; a change
// reaches the guest connection that got the message, renamed since, and
// not a guest who took its old name; the author's name on a new
// connection may change nothing.
func TestGuestPrivateEditOverTheWire(t *testing.T) {
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	a, b := s.dial(), s.dial()
	a.setName("alice")
	b.setName("bob")
	id := a.pm("bob", "hello bob", "p").str("id")
	b.waitFor("PrivateMessage", func(m msg) bool { return m.str("id") == id })
	kept := a.pm("bob", "this one stays", "p2").str("id")
	b.waitFor("PrivateMessage", func(m msg) bool { return m.str("id") == kept })

	b.send(map[string]any{"type": "EditMessage", "id": id, "content": "bob's now", "ref": "steal"})
	b.expectError("steal", "not_allowed")

	a.send(map[string]any{"type": "EditMessage", "id": id, "content": "hello, bob", "with": "bob", "ref": "e"})
	if m := lastOf(a.until(func(m msg) bool { return m.str("ref") == "e" }), "MessageEdited"); m.str("id") != id || m.str("with") != "bob" {
		t.Errorf("alice sees %v, want MessageEdited of %s with bob", m, id)
	}
	if m := b.waitFor("MessageEdited", nil); m.str("id") != id || m.str("with") != "alice" || m.str("content") != "hello, bob" {
		t.Errorf("bob sees %v, want MessageEdited of %s with alice", m, id)
	}

	// Bob renames, and someone else takes "bob": the deletion goes to the
	// connection that got the message, not to the name.
	b.setName("bobby")
	c := s.dial()
	c.setName("bob")
	a.send(map[string]any{"type": "DeleteMessage", "id": id, "ref": "d1"})
	a.reply("d1", "Ack")
	if m := b.waitFor("MessageDeleted", nil); m.str("id") != id || m.str("with") != "alice" {
		t.Errorf("bobby sees %v, want MessageDeleted of %s with alice", m, id)
	}
	c.send(map[string]any{"type": "ListRooms", "ref": "sync"})
	if got := lastOf(c.until(func(m msg) bool { return m.str("ref") == "sync" }), "MessageDeleted"); got != nil {
		t.Errorf("the new bob got %v, want nothing of a message sent before it took the name", got)
	}

	a.c.Close(websocket.StatusNormalClosure, "")
	again := s.dial()
	again.takeName("alice")
	// Not its message: whoever holds the name now is no party to it.
	again.send(map[string]any{"type": "EditMessage", "id": kept, "content": "x", "ref": "d"})
	again.expectError("d", "no_such_message")
}

// lastOf returns the last of ms of type typ, or nil.
func lastOf(ms []msg, typ string) msg {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].str("type") == typ {
			return ms[i]
		}
	}
	return nil
}
