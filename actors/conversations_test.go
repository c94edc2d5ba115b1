package actors_test

import (
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// expectPrivate reads the next frame and checks it is a PrivateMessage
// from -> to with content, returning it.
func (c *client) expectPrivate(from, to, content string) frame {
	c.t.Helper()
	pm := c.expect("PrivateMessage")
	if pm.str("from") != from || pm.str("to") != to || pm.str("content") != content {
		c.t.Fatalf("%s: got %v, want a PrivateMessage %s -> %s: %q", c.s.Username(), pm, from, to, content)
	}
	return pm
}

// entries returns the list under key of fr, each an object.
func entries(t *testing.T, fr frame, key string) []frame {
	t.Helper()
	raw, ok := fr[key].([]any)
	if !ok {
		t.Fatalf("%v: got %s %v, want a list", fr, key, fr[key])
	}
	out := make([]frame, len(raw))
	for i, r := range raw {
		out[i] = r.(map[string]any)
	}
	return out
}

// An account writes to an account with no connection: the message is
// stored and acknowledged, the new connection of the recipient reads it with
// History{with}, both directions come in order, and Conversations lists
// the conversation with its last message. A guest has no conversations,
// and writes only to the connected.
func TestPrivateMessageToAnOfflineAccount(t *testing.T) {
	reg := newRegistry("Ann", "Ben", "Cid")
	f := newFixture(t, actors.Config{Names: reg})
	ann := f.connectAccount("Ann")

	ann.do(protocol.Request{Type: "PrivateMessage", To: "ben", Content: "are you there", Ref: "p1"})
	first := ann.expectPrivate("Ann", "Ben", "are you there") // the sender's echo
	if ack := ann.expect("Ack"); ack.str("ref") != "p1" || ack.str("id") != first.str("id") {
		t.Fatalf("PM to an offline account: got %v, want the Ack of %s", ack, first.str("id"))
	}

	f.clock.Advance(time.Millisecond) // ids of two senders order by millisecond
	ben := f.connectAccount("Ben")
	ben.do(protocol.Request{Type: "History", With: "ann", Ref: "h1"})
	h := ben.expect("History")
	if got := entries(t, h, "messages"); h.str("with") != "ann" || h.str("ref") != "h1" || h["truncated"] != false ||
		len(got) != 1 || got[0].str("id") != first.str("id") || got[0].str("type") != "PrivateMessage" || got[0].str("from") != "Ann" {
		t.Fatalf("History{with: ann} of Ben: got %v, want Ann's one message", h)
	}

	ben.do(protocol.Request{Type: "PrivateMessage", To: "Ann", Content: "here", Ref: "p2"})
	ann.expectPrivate("Ben", "Ann", "here") // live, Ann is connected
	second := ben.expectPrivate("Ben", "Ann", "here")
	ben.expect("Ack")

	ann.do(protocol.Request{Type: "History", With: "BEN", Ref: "h2"})
	h = ann.waitFor("History", nil)
	got := entries(t, h, "messages")
	if len(got) != 2 || got[0].str("id") != first.str("id") || got[1].str("id") != second.str("id") {
		t.Fatalf("History{with: BEN} of Ann: got %v, want both messages, oldest first", h)
	}
	ann.do(protocol.Request{Type: "History", With: "ben", Limit: 1, Ref: "h3"})
	if got := entries(t, ann.expect("History"), "messages"); len(got) != 1 || got[0].str("id") != second.str("id") {
		t.Fatalf("History{with: ben, limit: 1}: got %v, want the newest", got)
	}
	ann.do(protocol.Request{Type: "History", With: "ben", Before: second.str("id"), Ref: "h4"})
	if page := ann.expect("History"); len(entries(t, page, "messages")) != 1 || page["truncated"] != false {
		t.Fatalf("History{with: ben, before}: got %v, want the older one", page)
	}

	f.clock.Advance(time.Millisecond)
	ann.do(protocol.Request{Type: "PrivateMessage", To: "cid", Content: "hi cid", Ref: "p3"})
	ann.expectPrivate("Ann", "Cid", "hi cid")
	ann.expect("Ack")
	ann.do(protocol.Request{Type: "Conversations", Ref: "c"})
	list := ann.expect("Conversations")
	convs := entries(t, list, "conversations")
	if len(convs) != 2 || list.str("ref") != "c" || convs[0].str("with") != "Cid" || convs[1].str("with") != "Ben" {
		t.Fatalf("Conversations of Ann: got %v, want Cid then Ben", list)
	}
	if last := frame(convs[1]["last"].(map[string]any)); last.str("content") != "here" || last.str("from") != "Ben" {
		t.Errorf("Conversations of Ann: Ben's last message: got %v, want Ben's \"here\"", last)
	}
	// Ann sent everything to Cid: nothing unread; Ben's "here" is unread.
	if u0, u1 := convs[0]["unread"], convs[1]["unread"]; u0 != 0.0 || u1 != 1.0 || convs[1]["read"] != "" {
		t.Errorf("Conversations: got unread %v and %v (read %v), want 0 and 1, nothing read", u0, u1, convs[1]["read"])
	}

	g := f.connect()
	g.do(protocol.Request{Type: "History", With: "ann", Ref: "gh"})
	if e := g.expect("Error"); e.str("code") != "not_allowed" || e.str("ref") != "gh" {
		t.Errorf("a guest's History{with}: got %v, want not_allowed", e)
	}
	g.do(protocol.Request{Type: "Conversations", Ref: "gc"})
	if e := g.expect("Error"); e.str("code") != "not_allowed" {
		t.Errorf("a guest's Conversations: got %v, want not_allowed", e)
	}
	g.do(protocol.Request{Type: "PrivateMessage", To: "cid", Content: "x", Ref: "gp"})
	if e := g.expect("Error"); e.str("code") != "no_such_user" {
		t.Errorf("a guest's PM to an offline account: got %v, want no_such_user", e)
	}
	ann.do(protocol.Request{Type: "PrivateMessage", To: "nobody", Content: "x", Ref: "np"})
	if e := ann.expect("Error"); e.str("code") != "no_such_user" {
		t.Errorf("an account's PM to a name nobody has: got %v, want no_such_user", e)
	}
	ann.do(protocol.Request{Type: "History", With: "ben", Room: "general", Ref: "both"})
	if e := ann.expect("Error"); e.str("code") != "bad_request" {
		t.Errorf("History with a room and with: got %v, want bad_request", e)
	}
}

// A guest's private message to an account, and the account's answer, are
// delivered live and never kept: neither side has a conversation.
func TestGuestPrivateMessagesAreNotKept(t *testing.T) {
	f := newFixture(t, actors.Config{Names: newRegistry("Ann")})
	ann := f.connectAccount("Ann")
	g := f.named("gus")[0]
	g.do(protocol.Request{Type: "PrivateMessage", To: "ann", Content: "hello", Ref: "p"})
	ann.expectPrivate("gus", "Ann", "hello")
	ann.do(protocol.Request{Type: "PrivateMessage", To: "gus", Content: "hi", Ref: "q"})
	g.waitFor("PrivateMessage", func(fr frame) bool { return fr.str("from") == "Ann" })
	ann.waitFor("Ack", nil)
	ann.do(protocol.Request{Type: "History", With: "gus", Ref: "h"})
	if got := entries(t, ann.waitFor("History", nil), "messages"); len(got) != 0 {
		t.Errorf("History{with: a guest}: got %v, want nothing kept", got)
	}
	ann.do(protocol.Request{Type: "Conversations", Ref: "c"})
	if got := entries(t, ann.expect("Conversations"), "conversations"); len(got) != 0 {
		t.Errorf("Conversations after a guest's messages: got %v, want none", got)
	}
}

// Looking an offline account up is I/O: it runs under the request's
// deadline, and a timeout is server_busy with nothing stored or sent.
func TestOfflineAccountLookupUnderTheDeadline(t *testing.T) {
	reg := newRegistry("Ann", "Ben")
	f := newFixture(t, actors.Config{Names: reg})
	ann := f.connectAccount("Ann")
	reg.set(true, nil)
	done := ann.pending(protocol.Request{Type: "PrivateMessage", To: "ben", Content: "x", Ref: "slow"})
	f.expire(1)
	f.handled(done, "PrivateMessage with a stalled registry")
	ann.expectBusy("slow")
	ann.quiet()
}
