package actors_test

import (
	"testing"

	"parley/actors"
	"parley/internal/protocol"
)

// With DeliverAfterCommit a member gets a message only once the store has
// committed it: the sender's Ack comes before its own copy, and a message
// whose commit failed reaches nobody.
func TestDeliverAfterCommit(t *testing.T) {
	var rs *refusingStore
	f := newFixtureWrapped(t, actors.Config{DeliverAfterCommit: true}, func(s actors.Store) actors.Store {
		rs = &refusingStore{Store: s}
		return rs
	})
	a, b := f.aliceAndBob("general")

	a.do(protocol.Request{Type: "SendMessage", Content: "one", Ref: "1"})
	if fr := a.next(); fr.str("type") != "Ack" || fr.str("ref") != "1" {
		t.Fatalf("alice: got %v first, want the Ack of ref 1 before her message", fr)
	}
	if m := a.expect("Message"); m.str("content") != "one" {
		t.Fatalf("alice: got %v, want her message one", m)
	}
	if m := b.expect("Message"); m.str("content") != "one" {
		t.Fatalf("bob: got %v, want one", m)
	}

	rs.failCommit.Store(true)
	a.do(protocol.Request{Type: "SendMessage", Content: "unstored", Ref: "2"})
	if e := a.expect("Error"); e.str("code") != "server_busy" || e.str("ref") != "2" {
		t.Fatalf("failed commit: got %v, want server_busy with ref 2", e)
	}
	rs.failCommit.Store(false)
	a.do(protocol.Request{Type: "SendMessage", Content: "two", Ref: "3"})
	if m := b.expect("Message"); m.str("content") != "two" {
		t.Fatalf("bob: got %v, want two (unstored was never committed)", m)
	}
	// History has what was delivered, and only that.
	h := f.named("carol")[0].join("general")
	var contents []string
	msgs, _ := h["messages"].([]any)
	for _, m := range msgs {
		if mm, ok := m.(map[string]any); ok {
			c, _ := mm["content"].(string)
			contents = append(contents, c)
		}
	}
	if len(contents) < 2 || contents[len(contents)-2] != "one" || contents[len(contents)-1] != "two" {
		t.Errorf("History: got %v, want it to end with one, two", contents)
	}
}
