package actors_test

import (
	"fmt"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
	"parley/transport/outbound"
)

// send posts content to room with a ref and returns the id its Ack gives.
func (c *client) send(room, content string) string {
	c.t.Helper()
	ref := "s-" + content
	c.do(protocol.Request{Type: "SendMessage", Room: room, Content: content, Ref: ref})
	ack := c.waitFor("Ack", func(fr frame) bool { return fr.str("ref") == ref })
	if ack.str("id") == "" {
		c.t.Fatalf("%s: send ack: got %v, want an id", c.s.Username(), ack)
	}
	return ack.str("id")
}

// refused sends req and checks that it is answered with an Error of code.
func (c *client) refused(req protocol.Request, code protocol.ErrorCode) {
	c.t.Helper()
	req.Ref = "r-" + req.Type
	c.do(req)
	if e := c.waitFor("Error", func(fr frame) bool { return fr.str("ref") == req.Ref }); e.str("code") != string(code) {
		c.t.Fatalf("%s: %s %s: got %v, want code %s", c.s.Username(), req.Type, req.ID, e, code)
	}
}

// changed sends an EditMessage (content != "") or DeleteMessage and waits
// for its Ack and for the announcement to reach each of seen.
func (c *client) changed(room, id, content string, seen ...*client) {
	c.t.Helper()
	req := protocol.Request{Type: "DeleteMessage", Room: room, ID: id, Ref: "c-" + id}
	want := "MessageDeleted"
	if content != "" {
		req.Type, req.Content, want = "EditMessage", content, "MessageEdited"
	}
	c.do(req)
	for _, o := range append(seen, c) {
		fr := o.waitFor(want, func(fr frame) bool { return fr.str("id") == id })
		if fr.str("room") != room || fr.str("content") != content || fr.str("edited_at") == "" {
			c.t.Fatalf("%s sees %v, want %s of %s in %s with content %q and edited_at", o.s.Username(), fr, want, id, room, content)
		}
	}
	if ack := c.waitFor("Ack", func(fr frame) bool { return fr.str("ref") == req.Ref }); ack.str("id") != id {
		c.t.Fatalf("%s: %s ack: got %v, want id %s", c.s.Username(), req.Type, ack, id)
	}
}

// history returns room's messages by id, as a History request shows them.
func (c *client) history(room string) map[string]frame {
	c.t.Helper()
	c.do(protocol.Request{Type: "History", Room: room, Ref: "h"})
	h := c.waitFor("History", func(fr frame) bool { return fr.str("ref") == "h" })
	byID := map[string]frame{}
	for _, m := range h["messages"].([]any) {
		fr := frame(m.(map[string]any))
		byID[fr.str("id")] = fr
	}
	return byID
}

func TestEditAndDeleteOwnMessages(t *testing.T) {
	f := newFixture(t, editsConfig)
	a, b := f.aliceAndBob("lobby")
	id := a.send("lobby", "helo")
	other := b.send("lobby", "bob's")

	a.changed("lobby", id, "hello", b)
	if m := b.history("lobby")[id]; m.str("content") != "hello" || m.str("edited_at") == "" || m["deleted"] != nil {
		t.Errorf("history after the edit: got %v, want content hello, edited_at set, no deleted", m)
	}

	// Someone else's message, unknown ids, bad requests.
	a.refused(protocol.Request{Type: "EditMessage", ID: other, Content: "mine now"}, protocol.CodeNotAllowed)
	a.refused(protocol.Request{Type: "DeleteMessage", ID: other}, protocol.CodeNotAllowed)
	a.refused(protocol.Request{Type: "EditMessage", ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Content: "x"}, protocol.CodeNoSuchMessage)
	a.refused(protocol.Request{Type: "EditMessage", ID: "nope", Content: "x"}, protocol.CodeBadRequest)
	a.refused(protocol.Request{Type: "EditMessage", ID: id, Content: ""}, protocol.CodeEmptyMessage)
	a.refused(protocol.Request{Type: "EditMessage", ID: id, Room: "elsewhere", Content: "x"}, protocol.CodeNoSuchMessage)
	if m := b.history("lobby")[other]; m.str("content") != "bob's" || m.str("edited_at") != "" {
		t.Errorf("bob's message after refused changes: got %v, want it untouched", m)
	}

	a.changed("lobby", id, "", b)
	m := b.history("lobby")[id]
	if m["deleted"] != true || m.str("content") != "" || m.str("username") != "alice" {
		t.Errorf("history after the delete: got %v, want deleted true, no content, still alice's", m)
	}
	a.refused(protocol.Request{Type: "EditMessage", ID: id, Content: "back"}, protocol.CodeNoSuchMessage)
	a.refused(protocol.Request{Type: "DeleteMessage", ID: id}, protocol.CodeNoSuchMessage)
	stored, err := f.store.Message(f.ctx, id)
	if err != nil || !stored.Deleted || stored.Content != "" {
		t.Errorf("stored after the delete: got %+v, %v, want deleted with no content", stored, err)
	}

	// Not in the room: the message is not told apart from none.
	c := f.named("carol")[0]
	c.refused(protocol.Request{Type: "DeleteMessage", ID: other}, protocol.CodeNoSuchMessage)
}

// A guest's rights go with the connection and the name it sent under: not
// to the same connection under a new name, nor to another guest who takes
// the old name.
func TestGuestRenameLosesEditRights(t *testing.T) {
	f := newFixture(t, editsConfig)
	a, b := f.aliceAndBob("lobby")
	id := a.send("lobby", "as alice")
	a.rename("alice2")
	a.refused(protocol.Request{Type: "EditMessage", ID: id, Content: "x"}, protocol.CodeNotAllowed)
	f.clock.Advance(time.Hour) // past the rename limit
	impostor := f.named("alice")[0]
	impostor.join("lobby")
	impostor.refused(protocol.Request{Type: "DeleteMessage", ID: id}, protocol.CodeNotAllowed)
	if m := b.history("lobby")[id]; m.str("content") != "as alice" {
		t.Errorf("after refused changes: got %v, want it untouched", m)
	}
}

// An account may change its messages from any of its connections; an
// admin may delete anyone's message, but edit only its own.
func TestAccountAndAdminRights(t *testing.T) {
	f := newFixture(t, editsConfig)
	c1 := f.connectAccount("carol")
	c1.join("lobby")
	c2 := f.connectAccount("carol")
	if got := types(c2.resumeFrames); len(got) < 3 {
		t.Fatalf("second connection's resume: got %v, want it put in lobby", got)
	}
	id := c1.send("lobby", "first")
	c2.changed("lobby", id, "edited elsewhere", c1)

	root := &client{t: t, f: f, q: outbound.New(f.hub.OutboxLimits())}
	root.s = f.hub.ConnectAccount("127.0.0.1", root.q, "root", true)
	root.expect("Welcome")
	root.s.Resume(f.ctx)
	root.waitFor("Unread", nil)
	root.join("lobby")
	root.refused(protocol.Request{Type: "EditMessage", ID: id, Content: "admin's words"}, protocol.CodeNotAllowed)
	root.changed("lobby", id, "", c1, c2)
}

// A client back with JoinRoom{since} gets the edits and deletions it
// missed of the messages it had, after its History.
func TestSinceCatchUpCarriesChanges(t *testing.T) {
	f := newFixture(t, editsConfig)
	a, b := f.aliceAndBob("lobby")
	m1 := a.send("lobby", "one")
	m2 := a.send("lobby", "two")
	b.waitFor("Message", func(fr frame) bool { return fr.str("id") == m2 })
	b.do(protocol.Request{Type: "LeaveRoom", Room: "lobby", Ref: "l"})
	b.waitFor("Ack", func(fr frame) bool { return fr.str("ref") == "l" })
	f.clock.Advance(time.Second)
	a.changed("lobby", m1, "one, edited")
	f.clock.Advance(time.Millisecond)
	a.changed("lobby", m2, "")
	m3 := a.send("lobby", "three")

	b.do(protocol.Request{Type: "JoinRoom", Room: "lobby", Since: m2, Ref: "back"})
	b.expect("Ack")
	h := b.expect("History")
	if msgs := h["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["id"] != m3 {
		t.Errorf("history since %s: got %v, want only %s", m2, msgs, m3)
	}
	if fr := b.expect("MessageEdited"); fr.str("id") != m1 || fr.str("content") != "one, edited" {
		t.Errorf("catch-up: got %v, want MessageEdited of %s", fr, m1)
	}
	if fr := b.expect("MessageDeleted"); fr.str("id") != m2 {
		t.Errorf("catch-up: got %v, want MessageDeleted of %s", fr, m2)
	}
	b.expect("Members")
}

// editsConfig lifts the request rate: these tests make many changes at
// once on a still clock (TestChangesCostMore tests what they cost).
var editsConfig = actors.Config{Limits: actors.Limits{RatePerSec: 1e6, RateBurst: 1 << 20}}

// An edit or a delete reads the message and waits for a synced write: it
// spends five requests' tokens where a send spends one.
func TestChangesCostMore(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 0.001, RateBurst: 20}})
	a := f.connect()
	a.join("lobby") // 1 token
	id := a.send("lobby", "helo")
	for i, want := range []string{"MessageEdited", "MessageEdited", "MessageEdited", "Error"} {
		a.do(protocol.Request{Type: "EditMessage", Room: "lobby", ID: id, Content: fmt.Sprint("edit ", i), Ref: fmt.Sprint("e", i)})
		fr := a.next()
		if fr.str("type") != want || (want == "Error" && fr.str("code") != "rate_limited") {
			t.Fatalf("edit %d with %d tokens left: got %v, want %s", i, 20-2-5*i, fr, want)
		}
		if want != "Error" {
			a.waitFor("Ack", nil)
		}
	}
}
