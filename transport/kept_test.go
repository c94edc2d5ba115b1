package transport_test

import (
	"testing"
)

// resumed reads an account's connection from its Joined to its Unread, and
// returns them in order.
func (w *wsClient) resumed() []msg {
	w.t.Helper()
	got := w.until(func(m msg) bool { return m.str("type") == "Unread" })
	if got[0].str("type") != "Joined" {
		w.t.Fatalf("%s: after Welcome: got %v, want Joined first", w.name, got)
	}
	return got
}

// readStates returns the entries of an Unread list, by room or with.
func readStates(t *testing.T, u msg, key string) map[string]msg {
	t.Helper()
	raw, _ := u[key].([]any)
	out := map[string]msg{}
	for _, r := range raw {
		e, _ := r.(map[string]any)
		out[msg(e).str("room")+msg(e).str("with")] = e
	}
	return out
}

// Over the wire and through a restart: an account's two connections stay in
// the same rooms, a read marker set on one reaches the other, and after a
// restart a new connection is back in the rooms with its markers and
// unread counts, in its rooms and conversations.
func TestAccountRoomsAndMarkersOverTheWire(t *testing.T) {
	s := startAccountsServer(t, serverConfig{})
	tAnn, tBen := s.register("ann", "correct horse"), s.register("ben", "correct horse")
	a1, a2 := s.dialToken(tAnn), s.dialToken(tAnn)
	for _, w := range []*wsClient{a1, a2} {
		if got := w.resumed(); len(got) != 2 || len(got[0]["rooms"].([]any)) != 0 {
			t.Fatalf("a new account's connection: got %v, want Joined [] and Unread", got)
		}
	}
	a1.send(map[string]any{"type": "JoinRoom", "room": "tech", "ref": "j"})
	a1.reply("j", "Ack")
	if j := a2.until(func(m msg) bool { return m.str("type") == "Joined" }); len(j) != 1 {
		t.Fatalf("a2 after a1 joined tech: got %v first, want Joined", j)
	}
	a2.waitFor("Members", func(m msg) bool { return m.str("room") == "tech" })

	guest := s.dial()
	guest.joinSkip("tech")
	var ids []string
	for i, text := range []string{"one", "two", "three"} {
		guest.send(map[string]any{"type": "SendMessage", "room": "tech", "content": text, "ref": string(rune('a' + i))})
		ids = append(ids, guest.reply(string(rune('a'+i)), "Ack").str("id"))
	}
	a2.waitFor("Message", func(m msg) bool { return m.str("id") == ids[2] })
	a2.send(map[string]any{"type": "MarkRead", "room": "tech", "id": ids[1], "ref": "m"})
	// The sender's connection gets the ReadMarker, then the Ack.
	if got := a2.until(func(m msg) bool { return m.str("ref") == "m" }); len(got) != 2 || got[0].str("type") != "ReadMarker" || got[1].str("type") != "Ack" {
		t.Fatalf("a2's MarkRead: got %v, want ReadMarker then Ack", got)
	}
	if rm := a1.waitFor("ReadMarker", nil); rm.str("room") != "tech" || rm.str("id") != ids[1] || rm["unread"] != 1.0 {
		t.Fatalf("a1: got %v, want ReadMarker of tech at %s, 1 unread", rm, ids[1])
	}

	ben := s.dialToken(tBen)
	ben.resumed()
	first := ben.pm("ann", "lunch?", "p1")
	nextMillisecond(t, first)
	ben.pm("ann", "at noon", "p2")
	a1.waitFor("PrivateMessage", func(m msg) bool { return m.str("content") == "at noon" })
	a1.send(map[string]any{"type": "MarkRead", "with": "Ben", "id": first.str("id"), "ref": "mw"})
	a1.reply("mw", "Ack")

	db := s.dbPath
	s.stop()
	s = startAccountsServer(t, serverConfig{dbPath: db})
	a3 := s.dialToken(tAnn)
	got := a3.resumed()
	if rooms := got[0]["rooms"].([]any); len(rooms) != 1 || rooms[0] != "tech" {
		t.Fatalf("after a restart: got Joined %v, want [tech]", got[0])
	}
	if h := got[1]; h.str("type") != "History" || h.str("room") != "tech" || len(historyMsgs(t, h)) != 3 {
		t.Errorf("after a restart: got %v, want the History of tech with its 3 messages", h)
	}
	u := got[len(got)-1]
	if r := readStates(t, u, "rooms")["tech"]; r.str("read") != ids[1] || r["unread"] != 1.0 {
		t.Errorf("after a restart: tech's read state %v, want read to %s with 1 unread", r, ids[1])
	}
	if c := readStates(t, u, "conversations")["ben"]; c.str("read") != first.str("id") || c["unread"] != 1.0 {
		t.Errorf("after a restart: the read state with ben %v, want read to the first with 1 unread", c)
	}
	a3.send(map[string]any{"type": "Conversations", "ref": "c"})
	list := a3.reply("c", "Conversations")
	if convs, _ := list["conversations"].([]any); len(convs) != 1 || convs[0].(map[string]any)["unread"] != 1.0 {
		t.Errorf("Conversations after a restart: got %v, want one with 1 unread", list)
	}
}
