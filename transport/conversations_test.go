package transport_test

import (
	"testing"
	"time"

	"parley/internal/protocol"
)

// pm sends a private message from w and returns its Ack, skipping the
// echo and any other traffic.
func (w *wsClient) pm(to, content, ref string) msg {
	w.t.Helper()
	w.send(map[string]any{"type": "PrivateMessage", "to": to, "content": content, "ref": ref})
	ack := w.reply(ref, "Ack")
	if ack.str("id") == "" {
		w.t.Fatalf("%s: Ack of a PM to %s: got %v, want an id", w.name, to, ack)
	}
	return ack
}

// conversation asks w for its History with another account.
func (w *wsClient) conversation(with, ref string, extra map[string]any) msg {
	w.t.Helper()
	req := map[string]any{"type": "History", "with": with, "ref": ref}
	for k, v := range extra {
		req[k] = v
	}
	w.send(req)
	h := w.reply(ref, "History")
	if _, has := h["room"]; has || h.str("with") != with {
		w.t.Fatalf("%s: History{with: %s}: got %v, want the conversation's frame", w.name, with, h)
	}
	return h
}

// contents returns the content of each message.
func contents(ms []msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.str("content")
	}
	return out
}

// nextMillisecond waits until the clock has passed the millisecond of an
// Ack's timestamp. Ids of two senders order by millisecond (within one,
// arbitrarily but the same for everyone): a test that asserts the order of
// two people's messages makes them a millisecond apart.
func nextMillisecond(t *testing.T, ack msg) {
	t.Helper()
	ts, err := protocol.ParseTimestamp(ack.str("timestamp"))
	if err != nil {
		t.Fatalf("Ack timestamp %q: %v", ack.str("timestamp"), err)
	}
	for !time.Now().After(ts.Add(time.Millisecond)) {
		time.Sleep(100 * time.Microsecond)
	}
}

// Private messages between accounts are conversations: one to an account
// with no connection is stored and acknowledged, and its new connection
// reads it; both directions come in order; Conversations lists them newest
// first with the last message; a third account has no way to name someone
// else's conversation; a guest has none; a restart keeps them.
func TestConversationsOverTheWire(t *testing.T) {
	s := startAccountsServer(t, serverConfig{})
	tAnn, tBen, tCid := s.register("Ann", "correct horse"), s.register("Ben", "correct horse"), s.register("Cid", "correct horse")
	ann := s.dialToken(tAnn)

	first := ann.pm("ben", "are you there", "p1") // Ben has no connection
	nextMillisecond(t, first)
	ben := s.dialToken(tBen)
	h := ben.conversation("ann", "h1", nil)
	if got := historyMsgs(t, h); len(got) != 1 || got[0].str("id") != first.str("id") ||
		got[0].str("type") != "PrivateMessage" || got[0].str("from") != "Ann" || got[0].str("to") != "Ben" {
		t.Fatalf("Ben's History{with: ann} after connecting: got %v, want Ann's message", h)
	}

	second := ben.pm("ANN", "here", "p2")
	if live := ann.waitFor("PrivateMessage", func(m msg) bool { return m.str("from") == "Ben" }); live.str("id") != second.str("id") {
		t.Errorf("Ann connected: got %v, want Ben's message live", live)
	}
	nextMillisecond(t, second)
	third := ann.pm("Ben", "good", "p3")
	want := []string{first.str("id"), second.str("id"), third.str("id")}
	for _, w := range []*wsClient{ann, ben} {
		with := map[*wsClient]string{ann: "Ben", ben: "Ann"}[w]
		got := historyMsgs(t, w.conversation(with, "all", nil))
		if !equalStrings(ids(got), want) {
			t.Errorf("%s's History{with: %s}: got %v, want %v in order", w.name, with, contents(got), want)
		}
	}
	// Pages, as a room's history.
	page := ann.conversation("Ben", "pg1", map[string]any{"limit": 2})
	if got := historyMsgs(t, page); !equalStrings(ids(got), want[1:]) || page["truncated"] != true {
		t.Errorf("History{with, limit: 2}: got %v truncated %v, want the newest two, truncated", contents(got), page["truncated"])
	}
	page = ann.conversation("Ben", "pg2", map[string]any{"before": second.str("id")})
	if got := historyMsgs(t, page); !equalStrings(ids(got), want[:1]) || page["truncated"] != false {
		t.Errorf("History{with, before}: got %v truncated %v, want the first alone", contents(got), page["truncated"])
	}

	nextMillisecond(t, third)
	toCid := ann.pm("cid", "hello cid", "p4")
	ann.send(map[string]any{"type": "Conversations", "ref": "c1"})
	list := ann.reply("c1", "Conversations")
	convs, _ := list["conversations"].([]any)
	if len(convs) != 2 {
		t.Fatalf("Ann's Conversations: got %v, want Cid and Ben", list)
	}
	for i, wantWith := range []struct{ with, id string }{{"Cid", toCid.str("id")}, {"Ben", third.str("id")}} {
		c, _ := convs[i].(map[string]any)
		last, _ := c["last"].(map[string]any)
		if c["with"] != wantWith.with || last["id"] != wantWith.id || last["type"] != "PrivateMessage" {
			t.Errorf("Ann's conversation %d: got %v, want with %s and its last message %s", i, c, wantWith.with, wantWith.id)
		}
	}

	// Cid can only name its own side: with Ben it has nothing, with Ann
	// only what Ann wrote to it.
	cid := s.dialToken(tCid)
	if got := historyMsgs(t, cid.conversation("Ben", "x1", nil)); len(got) != 0 {
		t.Errorf("Cid's History{with: Ben}: got %v, want nothing", contents(got))
	}
	if got := historyMsgs(t, cid.conversation("Ann", "x2", nil)); !equalStrings(ids(got), []string{toCid.str("id")}) {
		t.Errorf("Cid's History{with: Ann}: got %v, want only Ann's message to Cid", contents(got))
	}

	guest := s.dial()
	guest.send(map[string]any{"type": "History", "with": "Ann", "ref": "g1"})
	guest.expectError("g1", "not_allowed")
	guest.send(map[string]any{"type": "Conversations", "ref": "g2"})
	guest.expectError("g2", "not_allowed")
	guest.send(map[string]any{"type": "PrivateMessage", "to": "Ben", "content": "x", "ref": "g3"})
	guest.reply("g3", "Ack") // Ben is connected: delivered live, as ever
	ben.c.CloseNow()
	// Ben's name is free once his connection's teardown is over, after
	// which his session is no longer counted.
	limit := time.Now().Add(waitLimit)
	for s.srv.Hub().Sessions() > 3 { // Ann, Cid, the guest
		if time.Now().After(limit) {
			t.Fatalf("sessions after Ben's connection closed: got %d, want 3", s.srv.Hub().Sessions())
		}
		time.Sleep(time.Millisecond)
	}
	guest.send(map[string]any{"type": "PrivateMessage", "to": "Ben", "content": "x", "ref": "g4"})
	guest.expectError("g4", "no_such_user")

	db := s.dbPath
	s.stop()
	s = startAccountsServer(t, serverConfig{dbPath: db})
	ben = s.dialToken(tBen)
	if got := historyMsgs(t, ben.conversation("Ann", "r1", nil)); !equalStrings(ids(got), want) {
		t.Errorf("Ben's History{with: Ann} after a restart: got %v, want %v", contents(got), want)
	}
}
