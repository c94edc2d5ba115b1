package actors_test

import (
	"slices"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// A join or leave on one connection of an account is done on all of them:
// the others hear Joined (with the room's history and members) or Left, the
// room sees one person arrive and leave, and a connection made later is in
// the rooms the account is in.
func TestAccountRoomsFollowEveryConnection(t *testing.T) {
	f := newFixture(t, actors.Config{})
	bob := f.named("bob")[0]
	bob.join("tech")
	bob.do(protocol.Request{Type: "SendMessage", Room: "tech", Content: "anyone?"})
	bob.expectMessage("bob", "anyone?")

	a1, a2 := f.connectAccount("alice"), f.connectAccount("alice")
	a2.join("random") // a2's current room
	a1.waitFor("Joined", nil)
	a1.waitFor("UserJoined", nil)

	a1.join("tech")
	bob.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "alice" })
	if j := a2.expect("Joined"); !slices.Equal(anyStrings(j["rooms"]), []string{"tech"}) {
		t.Fatalf("a2 after a1 joined tech: got %v, want Joined [tech]", j)
	}
	if h := a2.expect("History"); h.str("ref") != "" || h.str("room") != "tech" || len(h["messages"].([]any)) != 1 {
		t.Fatalf("a2's history of tech: got %v, want bob's one message, no ref", h)
	}
	if got := usernames(a2.expect("Members")); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("a2's members of tech: got %v, want alice, bob", got)
	}
	a2.expect("UserJoined")
	// a2's current room is still random: a send without a room goes there.
	a2.do(protocol.Request{Type: "SendMessage", Content: "in random"})
	if m := a2.expect("Message"); m.str("room") != "random" {
		t.Fatalf("a2's send without a room: got %v, want it in random", m)
	}
	a1.expectMessage("alice", "in random")
	bob.do(protocol.Request{Type: "SendMessage", Room: "tech", Content: "welcome"})
	for _, c := range []*client{bob, a1, a2} {
		c.expectMessage("bob", "welcome")
	}
	bob.quiet() // one UserJoined for both connections

	a2.do(protocol.Request{Type: "LeaveRoom", Room: "tech", Ref: "l"})
	if ack := a2.expect("Ack"); ack.str("room") != "tech" {
		t.Fatalf("leave: got %v, want its Ack", ack)
	}
	if l := a1.expect("Left"); l.str("room") != "tech" {
		t.Fatalf("a1 after a2 left tech: got %v, want Left tech", l)
	}
	if l := bob.expect("UserLeft"); l.str("username") != "alice" {
		t.Fatalf("bob: got %v, want alice to leave tech once both connections did", l)
	}

	a3 := f.connectAccount("alice")
	if j := a3.resumeFrames[0]; !slices.Equal(anyStrings(j["rooms"]), []string{"random"}) {
		t.Fatalf("a new connection: got %v, want Joined [random]", j)
	}
	a1.quiet()
	a2.quiet()
}

// Read markers: MarkRead moves the account's marker forward only and tells
// every connection of it, with what is unread after it; it takes a joined
// room or an existing conversation, and refuses a guest and bad requests.
func TestMarkRead(t *testing.T) {
	reg := newRegistry("alice", "carol")
	f := newFixture(t, actors.Config{Names: reg})
	bob := f.named("bob")[0]
	bob.join("general")
	a1, a2 := f.connectAccount("alice"), f.connectAccount("alice")
	a1.join("general")
	a2.waitFor("UserJoined", nil) // the spread join, done
	var ids []string
	for _, text := range []string{"one", "two", "three"} {
		bob.do(protocol.Request{Type: "SendMessage", Room: "general", Content: text})
		m := a1.waitFor("Message", nil)
		ids = append(ids, m.str("id"))
		a2.waitFor("Message", nil)
	}

	a1.do(protocol.Request{Type: "MarkRead", Room: "general", ID: ids[1], Ref: "m1"})
	for _, c := range []*client{a1, a2} {
		if rm := c.expect("ReadMarker"); rm.str("room") != "general" || rm.str("id") != ids[1] || rm["unread"] != 1.0 {
			t.Fatalf("%s: got %v, want ReadMarker general at %s with 1 unread", c.s.Username(), rm, ids[1])
		}
	}
	if ack := a1.expect("Ack"); ack.str("ref") != "m1" {
		t.Fatalf("MarkRead: got %v, want its Ack", ack)
	}
	a2.do(protocol.Request{Type: "MarkRead", Room: "general", ID: ids[0]}) // behind: the marker stays
	for _, c := range []*client{a1, a2} {
		if rm := c.expect("ReadMarker"); rm.str("id") != ids[1] || rm["unread"] != 1.0 {
			t.Fatalf("%s after a marker behind: got %v, want it still at %s", c.s.Username(), rm, ids[1])
		}
	}

	// A conversation: one from carol, read on a2.
	carol := f.connectAccount("carol")
	carol.do(protocol.Request{Type: "PrivateMessage", To: "alice", Content: "hey"})
	pm := a1.expect("PrivateMessage")
	a2.expect("PrivateMessage")
	a2.do(protocol.Request{Type: "MarkRead", With: "ALICE", ID: pm.str("id")}) // no conversation with herself
	if e := a2.expect("Error"); e.str("code") != "no_such_user" {
		t.Fatalf("MarkRead of a conversation alice does not have: got %v, want no_such_user", e)
	}
	a2.do(protocol.Request{Type: "MarkRead", With: "Carol", ID: pm.str("id")})
	for _, c := range []*client{a1, a2} {
		if rm := c.expect("ReadMarker"); rm.str("with") != "carol" || rm.str("id") != pm.str("id") || rm["unread"] != 0.0 {
			t.Fatalf("%s: got %v, want ReadMarker with carol at %s, 0 unread", c.s.Username(), rm, pm.str("id"))
		}
	}

	for _, tc := range []struct {
		req  protocol.Request
		code string
	}{
		{protocol.Request{Type: "MarkRead", Room: "tech", ID: ids[0]}, "not_in_room"},
		{protocol.Request{Type: "MarkRead", Room: "general", ID: "not-an-id"}, "bad_request"},
		{protocol.Request{Type: "MarkRead", Room: "general", With: "carol", ID: ids[0]}, "bad_request"},
		{protocol.Request{Type: "MarkRead", ID: ids[0]}, "bad_request"},
		{protocol.Request{Type: "MarkRead", With: "no one!", ID: ids[0]}, "invalid_username"},
	} {
		a1.do(tc.req)
		if e := a1.expect("Error"); e.str("code") != tc.code {
			t.Errorf("%+v: got %v, want %s", tc.req, e, tc.code)
		}
	}
	bob.do(protocol.Request{Type: "MarkRead", Room: "general", ID: ids[0]})
	if e := bob.waitFor("Error", nil); e.str("code") != "not_allowed" {
		t.Errorf("a guest's MarkRead: got %v, want not_allowed", e)
	}
	a1.quiet()
	a2.quiet()
}

// After connecting, an account hears what is unread: in each of its rooms
// (from where it joined the room, or its marker), and in the conversations
// with something unread, counted up to UnreadMax.
func TestUnreadAfterConnecting(t *testing.T) {
	reg := newRegistry("ann", "ben", "cid")
	f := newFixture(t, actors.Config{Names: reg})
	bob := f.named("bob")[0]
	bob.join("general")
	bob.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "before ann joined"})
	bob.expectMessage("bob", "before ann joined")

	ann := f.connectAccount("ann")
	if u := ann.resumeFrames[len(ann.resumeFrames)-1]; len(u["rooms"].([]any)) != 0 || len(u["conversations"].([]any)) != 0 {
		t.Fatalf("a new account's Unread: got %v, want nothing", u)
	}
	ann.join("general")
	ann.s.Close()
	for i := range 2 {
		bob.do(protocol.Request{Type: "SendMessage", Room: "general", Content: "while away", Ref: "s" + string(rune('a'+i))})
		bob.waitFor("Ack", nil)
	}
	ben := f.connectAccount("ben")
	for range actors.UnreadMax + 1 {
		f.clock.Advance(50 * time.Millisecond) // within the rate limit of 20 a second
		ben.do(protocol.Request{Type: "PrivateMessage", To: "ann", Content: "ping", Ref: "p"})
		ben.waitFor("Ack", nil)
	}
	cid := f.connectAccount("cid")
	f.clock.Advance(time.Millisecond) // after ben's last: ids of two senders order by millisecond
	cid.do(protocol.Request{Type: "PrivateMessage", To: "ann", Content: "read this", Ref: "c"})
	cid.waitFor("Ack", nil)

	ann = f.connectAccount("ann")
	u := ann.resumeFrames[len(ann.resumeFrames)-1]
	rooms, convs := entries(t, u, "rooms"), entries(t, u, "conversations")
	if len(rooms) != 1 || rooms[0].str("room") != "general" || rooms[0]["unread"] != 2.0 || rooms[0].str("read") == "" {
		t.Errorf("Unread rooms: got %v, want general with the 2 sent while away", rooms)
	}
	if len(convs) != 2 || convs[0].str("with") != "cid" || convs[0]["unread"] != 1.0 ||
		convs[1].str("with") != "ben" || convs[1]["unread"] != float64(actors.UnreadMax) || convs[1].str("read") != "" {
		t.Errorf("Unread conversations: got %v, want cid 1, then ben %d (the cap)", convs, actors.UnreadMax)
	}
}

func anyStrings(v any) []string {
	raw, _ := v.([]any)
	out := make([]string, len(raw))
	for i, r := range raw {
		out[i], _ = r.(string)
	}
	return out
}
