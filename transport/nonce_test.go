package transport_test

import "testing"

// TestNonceOverTheWire: a resend with the same nonce (after a reconnect and
// retaking the name, as the web client does) is acknowledged with the first
// message's id and reaches nobody again; across a restart too.
func TestNonceOverTheWire(t *testing.T) {
	s := startServer(t, serverConfig{})
	a, b := s.aliceAndBob("general")

	a.send(map[string]any{"type": "SendMessage", "content": "once", "nonce": "n-1", "ref": "1"})
	first := b.waitFor("Message", nil)
	if first.str("nonce") != "n-1" || first.str("content") != "once" {
		t.Fatalf("message: got %v, want content once with nonce n-1", first)
	}
	ack := a.waitFor("Ack", func(m msg) bool { return m.str("ref") == "1" })
	if ack.str("id") != first.str("id") {
		t.Fatalf("ack: got %v, want id %s", ack, first.str("id"))
	}

	// alice's connection drops; she comes back under her name and resends.
	a.c.CloseNow()
	b.waitFor("UserLeft", func(m msg) bool { return m.str("username") == "alice" })
	a2 := s.dial()
	a2.setName("alice")
	a2.join("general")
	a2.send(map[string]any{"type": "SendMessage", "content": "once", "nonce": "n-1", "ref": "2"})
	if ack := a2.waitFor("Ack", func(m msg) bool { return m.str("ref") == "2" }); ack.str("id") != first.str("id") {
		t.Fatalf("resend ack: got %v, want the first id %s", ack, first.str("id"))
	}
	// bob sees alice come back, and then her next message, not the resend.
	a2.send(map[string]any{"type": "SendMessage", "content": "next", "ref": "3"})
	if m := b.waitFor("Message", nil); m.str("content") != "next" {
		t.Fatalf("bob: got %v, want the next message (the resend must not be delivered)", m)
	}

	// After a restart the nonce is found in the database.
	path := s.dbPath
	s.stop()
	s2 := startServer(t, serverConfig{dbPath: path})
	a3 := s2.dial()
	a3.setName("alice")
	a3.join("general")
	a3.send(map[string]any{"type": "SendMessage", "content": "once", "nonce": "n-1", "ref": "4"})
	if ack := a3.waitFor("Ack", func(m msg) bool { return m.str("ref") == "4" }); ack.str("id") != first.str("id") {
		t.Fatalf("resend after restart: got %v, want the first id %s", ack, first.str("id"))
	}
}
