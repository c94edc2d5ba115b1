package actors_test

import (
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// upTo returns the frames before the Message with content, and fails if
// none comes: a message sent after a typing notice orders after it.
func (c *client) upTo(content string) []frame {
	c.t.Helper()
	var before []frame
	for {
		fr := c.next()
		if fr.str("type") == "Message" && fr.str("content") == content {
			return before
		}
		before = append(before, fr)
	}
}

func typings(frames []frame) []frame {
	var out []frame
	for _, fr := range frames {
		if fr.str("type") == "UserTyping" {
			out = append(out, fr)
		}
	}
	return out
}

// Typing is relayed to the others in the room, at most once per
// TypingEvery per connection (by the hub's clock), never to the typist.
func TestTypingIsRelayedAndRateLimited(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a, b := f.aliceAndBob("lobby")

	a.do(protocol.Request{Type: "Typing", Room: "lobby"})
	a.do(protocol.Request{Type: "Typing", Room: "lobby"}) // within TypingEvery: dropped
	a.send("lobby", "one")
	got := typings(b.upTo("one"))
	if len(got) != 1 || got[0].str("room") != "lobby" || got[0].str("username") != "alice" {
		t.Errorf("bob: got %v, want one UserTyping of alice in lobby", got)
	}

	f.clock.Advance(actors.TypingEvery - time.Millisecond)
	a.do(protocol.Request{Type: "Typing", Room: "lobby"})
	f.clock.Advance(time.Millisecond)
	a.do(protocol.Request{Type: "Typing", Room: "lobby"})
	a.send("lobby", "two")
	if got := typings(b.upTo("two")); len(got) != 1 {
		t.Errorf("bob: got %v, want one (the first was within %v)", got, actors.TypingEvery)
	}
	if got := f.hub.Metrics().TypingDropped; got != 2 {
		t.Errorf("typing dropped: got %d, want 2", got)
	}

	// To a private partner. The first UserTyping alice sees is this one:
	// she never got her own.
	f.clock.Advance(actors.TypingEvery)
	b.do(protocol.Request{Type: "Typing", With: "ALICE"})
	if fr := a.waitFor("UserTyping", nil); fr.str("with") != "bob" || fr.str("username") != "bob" || fr["room"] != nil {
		t.Errorf("alice: got %v, want UserTyping with bob", fr)
	}
	b.refused(protocol.Request{Type: "Typing", Room: "elsewhere"}, protocol.CodeNotInRoom)
	b.refused(protocol.Request{Type: "Typing", Room: "lobby", With: "alice"}, protocol.CodeBadRequest)
	b.refused(protocol.Request{Type: "Typing"}, protocol.CodeBadRequest)
}

// A member whose queue is half full misses typing notices, and is not cut
// off for them: typing is dropped first.
func TestTypingIsDroppedForAMemberBehind(t *testing.T) {
	f := newFixture(t, actors.Config{Outbox: actors.OutboxLimits{Frames: 16, Bytes: 1 << 20}})
	a, b := f.aliceAndBob("lobby")
	b.take() // bob's queue is empty; alice fills half of it
	for i := range 8 {
		a.send("lobby", string(rune('a'+i)))
	}
	a.do(protocol.Request{Type: "Typing", Room: "lobby"})
	a.send("lobby", "last") // bob's 9th frame: under the bound, over half
	before := b.upTo("last")
	if got := typings(before); len(got) != 0 || len(before) != 8 {
		t.Errorf("bob, behind: got %v, want the 8 messages and no typing", before)
	}
	if got := f.hub.Metrics(); got.TypingDropped != 1 || got.Slow != 0 {
		t.Errorf("metrics: got %d typing dropped, %d slow, want 1 and 0", got.TypingDropped, got.Slow)
	}
	f.clock.Advance(actors.TypingEvery)
	a.do(protocol.Request{Type: "Typing", Room: "lobby"})
	if fr := b.waitFor("UserTyping", nil); fr.str("username") != "alice" {
		t.Errorf("bob, caught up: got %v, want alice typing", fr)
	}
}
