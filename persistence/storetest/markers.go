package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"parley/actors"
)

// An account's rooms: a join is stored once, up to the cap, a leave removes
// it, they come back sorted, another account's are its own, and a reopened
// store keeps them.
func testAccountRooms(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	for _, step := range []struct {
		owner, room string
		joined      bool
	}{
		{"ann", "tech", true}, {"ann", "general", true}, {"ann", "tech", true}, {"ann", "random", true},
		{"ann", "random", false}, {"ann", "nowhere", false}, {"ben", "general", true},
		{"ann", "lobby", true}, {"ann", "one-too-many", true}, // the cap: 3
	} {
		if err := w.SetAccountRoom(ctx, step.owner, step.room, step.joined, "", 3); err != nil {
			t.Fatalf("SetAccountRoom(%+v): %v", step, err)
		}
	}
	check := func(w Store, what string) {
		t.Helper()
		for owner, want := range map[string][]string{"ann": {"general", "lobby", "tech"}, "ben": {"general"}, "cid": nil} {
			got, err := w.AccountRooms(ctx, owner)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("%s: AccountRooms(%s): got %v, %v, want %v", what, owner, got, err, want)
			}
		}
	}
	check(w, "open")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, Options{}), "reopened")
}

// Read markers: a room's starts where the account joined it and only moves
// forward; unread counts the others' messages after it, up to UnreadMax; a
// conversation's takes a marker only if the account has it, and names the
// other side as displayed; a reopened store keeps them.
func testReadMarkers(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	id := func(i int) string { return fmt.Sprintf("01JD%022d", i) }
	var msgs []*actors.StoredMessage
	for i := 1; i <= 10; i++ {
		from := "bob"
		if i%5 == 0 {
			from = "Ann" // her own: never unread
		}
		msgs = append(msgs, RoomMsg(id(i), "general", from, i))
	}
	for i := 11; i <= 11+actors.UnreadMax; i++ {
		msgs = append(msgs, RoomMsg(id(i), "busy", "bob", i))
	}
	dm := func(i int, from, to string) *actors.StoredMessage {
		m := PrivMsg(id(i), from, to, i)
		m.Kept = true
		return m
	}
	msgs = append(msgs, dm(200, "Ben", "Ann"), dm(201, "Ann", "Ben"), dm(202, "Ben", "Ann"))
	AppendAll(t, w, msgs)
	ann := actors.Owner{Key: actors.Skeleton("Ann"), Name: "Ann"}

	if err := w.SetAccountRoom(ctx, ann.Key, "general", true, id(4), 100); err != nil {
		t.Fatal(err)
	}
	if err := w.SetAccountRoom(ctx, ann.Key, "busy", true, "", 100); err != nil {
		t.Fatal(err)
	}
	got, err := w.RoomsRead(ctx, ann, []string{"general", "busy", "empty"})
	want := []actors.ReadState{
		{Room: "general", Read: id(4), Unread: 4}, // 6, 7, 8, 9: 5 and 10 are hers
		{Room: "busy", Unread: actors.UnreadMax},  // one more than the cap
		{Room: "empty"},
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("RoomsRead after joining: got %+v, %v, want %+v", got, err, want)
	}

	for _, tc := range []struct {
		what string
		mark actors.ReadState
		want actors.ReadState
	}{
		{"forward", actors.ReadState{Room: "general", Read: id(8)}, actors.ReadState{Room: "general", Read: id(8), Unread: 1}},
		{"back: ignored", actors.ReadState{Room: "general", Read: id(2)}, actors.ReadState{Room: "general", Read: id(8), Unread: 1}},
		{"a rejoin does not move it back", actors.ReadState{Room: "general", Read: id(8)}, actors.ReadState{Room: "general", Read: id(8), Unread: 1}},
		{"conversation, by skeleton", actors.ReadState{Peer: actors.Skeleton("BEN"), Read: id(200)},
			actors.ReadState{Peer: actors.Skeleton("BEN"), With: "Ben", Read: id(200), Unread: 1}},
	} {
		if tc.what == "a rejoin does not move it back" {
			if err := w.SetAccountRoom(ctx, ann.Key, "general", true, id(3), 100); err != nil {
				t.Fatal(err)
			}
		}
		got, err := w.MarkRead(ctx, ann, tc.mark)
		if err != nil || got != tc.want {
			t.Errorf("MarkRead %s: got %+v, %v, want %+v", tc.what, got, err, tc.want)
		}
	}
	if _, err := w.MarkRead(ctx, ann, actors.ReadState{Peer: actors.Skeleton("Cid"), Read: id(200)}); !errors.Is(err, actors.ErrNoConversation) {
		t.Errorf("MarkRead of a conversation Ann does not have: got %v, want ErrNoConversation", err)
	}
	// Ben has no marker: of the three, only Ann's message is unread for him.
	convs, _, err := w.Conversations(ctx, actors.Owner{Key: actors.Skeleton("Ben"), Name: "Ben"}, 10)
	if err != nil || len(convs) != 1 || convs[0].Read != "" || convs[0].Unread != 1 {
		t.Errorf("Ben's conversations: got %+v, %v, want one with nothing read and 1 unread", convs, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, Options{})
	convs, _, err = w.Conversations(ctx, ann, 10)
	if err != nil || len(convs) != 1 || convs[0].Read != id(200) || convs[0].Unread != 1 {
		t.Errorf("Ann's conversations, reopened: got %+v, %v, want one read to %s with 1 unread", convs, err, id(200))
	}
	got, err = w.RoomsRead(ctx, ann, []string{"general"})
	if err != nil || len(got) != 1 || got[0].Read != id(8) {
		t.Errorf("RoomsRead, reopened: got %+v, %v, want general read to %s", got, err, id(8))
	}
}

// A page stops at its byte budget in the query: the newest messages that
// fit, and more is set; the same for a conversation.
func testPagesStopAtTheirByteBudget(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	var msgs []*actors.StoredMessage
	for i := 1; i <= 10; i++ {
		m := RoomMsg(fmt.Sprintf("01JF%022d", i), "general", "bob", i)
		p := PrivMsg(fmt.Sprintf("01JG%022d", i), "Ann", "Ben", i)
		p.Kept = true
		msgs = append(msgs, m, p)
	}
	AppendAll(t, w, msgs)
	one := actors.MessageSize(msgs[0])
	got, more, err := w.History(ctx, actors.HistoryQuery{Room: "general", Limit: 50, MaxBytes: 3*one + one/2})
	if err != nil || more != true || !slices.Equal(HistoryIDs(got), []string{msgs[14].ID, msgs[16].ID, msgs[18].ID}) {
		t.Errorf("History within 3.5 messages' bytes: got %v, more %t, %v, want the newest 3, more", HistoryIDs(got), more, err)
	}
	conv, more, err := w.Conversation(ctx, actors.ConversationQuery{Owner: actors.Skeleton("Ann"), Peer: actors.Skeleton("Ben"), Limit: 50, MaxBytes: actors.MessageSize(msgs[17]) + actors.MessageSize(msgs[19])})
	if err != nil || more != true || !slices.Equal(HistoryIDs(conv), []string{msgs[17].ID, msgs[19].ID}) {
		t.Errorf("Conversation within 2 messages' bytes: got %v, more %t, %v, want the newest 2, more", HistoryIDs(conv), more, err)
	}
	all, more, err := w.History(ctx, actors.HistoryQuery{Room: "general", Limit: 50})
	if err != nil || more || len(all) != 10 {
		t.Errorf("History without a byte bound: got %d, more %t, %v, want all 10", len(all), more, err)
	}
}
