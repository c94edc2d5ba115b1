package actors_test

import (
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// react sends a React and waits for its Ack, which comes after the
// Reactions it made (if any): that one is returned, nil if none came.
func (c *client) react(id, emoji string, on bool) (seen frame) {
	c.t.Helper()
	ref := "r-" + id + emoji
	c.do(protocol.Request{Type: "React", ID: id, Emoji: emoji, On: on, Ref: ref})
	for {
		fr := c.next()
		switch {
		case fr.str("type") == "Reactions" && fr.str("id") == id:
			seen = fr
		case fr.str("type") == "Ack" && fr.str("ref") == ref:
			if fr.str("id") != id {
				c.t.Fatalf("%s: React ack: got %v, want id %s", c.s.Username(), fr, id)
			}
			return seen
		}
	}
}

// counts returns a Reactions frame's or History entry's counts.
func counts(fr frame, key string) map[string]float64 {
	out := map[string]float64{}
	m, _ := fr[key].(map[string]any)
	for k, v := range m {
		out[k] = v.(float64)
	}
	return out
}

func TestReactions(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a, b := f.aliceAndBob("lobby")
	id := a.send("lobby", "react to me")

	mine := b.react(id, "👍", true)
	for _, c := range []*client{a, b} {
		fr := mine
		if c == a {
			fr = a.waitFor("Reactions", nil)
		}
		if fr.str("id") != id || fr.str("room") != "lobby" || fr.str("by") != "bob" || fr.str("emoji") != "👍" || fr["on"] != true ||
			len(counts(fr, "counts")) != 1 || counts(fr, "counts")["👍"] != 1 || fr["reacted"] != nil {
			t.Errorf("%s sees %v, want bob's 👍 on %s counted 1, with no reacted (a broadcast)", c.s.Username(), fr, id)
		}
	}
	if fr := b.react(id, "👍", true); fr != nil { // again: nothing changes, nothing is announced
		t.Errorf("bob's repeat: got %v, want no Reactions", fr)
	}
	a.react(id, "👍", true)
	a.react(id, "🧑🏽‍💻", true) // a ZWJ sequence with a skin tone
	for _, want := range []map[string]float64{{"👍": 2}, {"👍": 2, "🧑🏽‍💻": 1}} {
		fr := b.waitFor("Reactions", nil)
		if got := counts(fr, "counts"); len(got) != len(want) || got["👍"] != want["👍"] || got["🧑🏽‍💻"] != want["🧑🏽‍💻"] || fr.str("by") != "alice" {
			t.Errorf("bob sees %v, want alice's change to %v (bob's repeat announced nothing)", fr, want)
		}
	}
	b.react(id, "👍", false)
	if fr := a.waitFor("Reactions", nil); counts(fr, "counts")["👍"] != 1 || fr["on"] != false || fr.str("by") != "bob" {
		t.Errorf("alice sees %v, want bob's 👍 taken back, 1 left", fr)
	}

	// History: the counts, and the reader's own.
	for _, c := range []struct {
		cl      *client
		reacted []string
	}{{a, []string{"👍", "🧑🏽‍💻"}}, {b, nil}} {
		m := c.cl.history("lobby")[id]
		got, _ := m["reacted"].([]any)
		if counts(m, "reactions")["👍"] != 1 || len(got) != len(c.reacted) {
			t.Errorf("%s's history: got %v, want 👍 1 and reacted %v", c.cl.s.Username(), m, c.reacted)
		}
	}

	for _, bad := range []string{"", "x", "👍👍", "👍 ", "\u200d", "<b>", "🇫", "1"} {
		f.clock.Advance(time.Second) // the requests' bucket refills
		b.refused(protocol.Request{Type: "React", ID: id, Emoji: bad, On: true}, protocol.CodeBadRequest)
	}
	f.clock.Advance(time.Minute)
	b.refused(protocol.Request{Type: "React", ID: "nope", Emoji: "👍", On: true}, protocol.CodeBadRequest)
	b.refused(protocol.Request{Type: "React", ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Emoji: "👍", On: true}, protocol.CodeNoSuchMessage)
	b.refused(protocol.Request{Type: "React", ID: id, Room: "elsewhere", Emoji: "👍", On: true}, protocol.CodeNoSuchMessage)
	c := f.named("carol")[0]
	c.refused(protocol.Request{Type: "React", ID: id, Emoji: "👍", On: true}, protocol.CodeNoSuchMessage) // not in the room
	f.clock.Advance(time.Minute)                                                                         // the buckets refill
	a.changed("lobby", id, "", b)
	b.refused(protocol.Request{Type: "React", ID: id, Emoji: "👍", On: true}, protocol.CodeNoSuchMessage)
	if m := b.history("lobby")[id]; m["reactions"] != nil {
		t.Errorf("a deleted message in history: got %v, want no reactions", m)
	}
}

// A message holds at most ReactionsMax distinct emoji; an emoji already
// there may still be added by another.
func TestReactionsBound(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a, b := f.aliceAndBob("lobby")
	id := a.send("lobby", "many")
	for i := range actors.ReactionsMax {
		f.clock.Advance(time.Second) // the requests' bucket refills
		a.react(id, string(rune(0x1F600+i)), true)
	}
	f.clock.Advance(time.Second)
	a.refused(protocol.Request{Type: "React", ID: id, Emoji: "🎉", On: true}, protocol.CodeTooManyReactions)
	b.react(id, "😀", true)
	if fr := a.waitFor("Reactions", func(fr frame) bool { return fr.str("by") == "bob" }); counts(fr, "counts")["😀"] != 2 || len(counts(fr, "counts")) != actors.ReactionsMax {
		t.Errorf("got %v, want 😀 at 2 of %d emoji", fr, actors.ReactionsMax)
	}
}

// A client back with JoinRoom{since} gets the current reactions of the
// messages it had whose reactions changed while it was away, with its own.
func TestSinceCatchUpCarriesReactions(t *testing.T) {
	f := newFixture(t, actors.Config{})
	a, b := f.aliceAndBob("lobby")
	m1 := a.send("lobby", "one")
	m2 := b.send("lobby", "two")
	b.react(m1, "👀", true)
	a.waitFor("Reactions", nil)
	b.do(protocol.Request{Type: "LeaveRoom", Room: "lobby", Ref: "l"})
	b.waitFor("Ack", func(fr frame) bool { return fr.str("ref") == "l" })
	f.clock.Advance(time.Second)
	a.react(m1, "👀", true)
	a.react(m2, "✅", true)
	f.clock.Advance(time.Millisecond)
	a.react(m2, "✅", false)

	b.do(protocol.Request{Type: "JoinRoom", Room: "lobby", Since: m2, Ref: "back"})
	b.expect("Ack")
	b.expect("History")
	fr := b.expect("Reactions")
	if r, _ := fr["reacted"].([]any); fr.str("id") != m1 || counts(fr, "counts")["👀"] != 2 || len(r) != 1 || r[0] != "👀" || fr["by"] != nil {
		t.Errorf("catch-up: got %v, want 👀 2 on %s, reacted [👀], no by", fr, m1)
	}
	if fr := b.expect("Reactions"); fr.str("id") != m2 || len(counts(fr, "counts")) != 0 {
		t.Errorf("catch-up: got %v, want %s with no reactions left", fr, m2)
	}
	b.expect("Members")
}

// What reactions add to a History entry counts against the page's byte
// budget: the oldest that no longer fit are left out, and the page says
// truncated.
func TestReactionsCountAgainstThePageBudget(t *testing.T) {
	f := newFixture(t, actors.Config{HistoryBytes: 500})
	a, _ := f.aliceAndBob("lobby")
	var ids []string
	for _, c := range []string{"m1", "m2", "m3"} {
		ids = append(ids, a.send("lobby", c))
	}
	page := func() (frame, []any) {
		a.do(protocol.Request{Type: "History", Room: "lobby", Ref: "h"})
		h := a.waitFor("History", func(fr frame) bool { return fr.str("ref") == "h" })
		return h, h["messages"].([]any)
	}
	if h, msgs := page(); len(msgs) != 3 || h["truncated"] != false {
		t.Fatalf("without reactions: got %d messages, truncated %v, want 3, false", len(msgs), h["truncated"])
	}
	for _, id := range ids {
		f.clock.Advance(time.Second)
		a.react(id, "👍", true)
	}
	h, msgs := page()
	if len(msgs) != 2 || h["truncated"] != true || msgs[0].(map[string]any)["id"] != ids[1] {
		t.Errorf("with reactions: got %v, want the newest 2, truncated", h)
	}
}
