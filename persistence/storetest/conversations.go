package storetest

import (
	"fmt"
	"slices"
	"testing"

	"parley/actors"
)

// kept is a private message between two accounts: kept in both sides'
// conversations.
func kept(i int, from, to string) *actors.StoredMessage {
	m := PrivMsg(fmt.Sprintf("01JC%022d", i), from, to, i)
	m.Kept = true
	return m
}

// A conversation holds the messages between two accounts either way, in id
// order, and pages like a room's history; Conversations lists an account's
// conversations newest first by their last message; a guest's private
// messages (not Kept) are in none; a reopened store keeps them.
func testConversations(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	AppendAll(t, w, []*actors.StoredMessage{
		kept(1, "Ann", "Ben"),
		kept(2, "Ben", "Ann"),
		PrivMsg(fmt.Sprintf("01JC%022d", 3), "Ann", "Ben", 3), // a guest named Ann, before the account was
		kept(4, "Ann", "Cid"),
		kept(5, "Ann", "Ben"),
		kept(6, "Ann", "Ann"), // to oneself
		RoomMsg(fmt.Sprintf("01JC%022d", 7), "general", "Ann", 7),
	})
	id := func(i int) string { return fmt.Sprintf("01JC%022d", i) }
	ann, ben, cid := actors.Skeleton("Ann"), actors.Skeleton("Ben"), actors.Skeleton("Cid")

	for _, tc := range []struct {
		what     string
		q        actors.ConversationQuery
		want     []string
		wantMore bool
	}{
		{"Ann with Ben", actors.ConversationQuery{Owner: ann, Peer: ben, Limit: 50}, []string{id(1), id(2), id(5)}, false},
		{"Ben with Ann", actors.ConversationQuery{Owner: ben, Peer: ann, Limit: 50}, []string{id(1), id(2), id(5)}, false},
		{"newest two", actors.ConversationQuery{Owner: ann, Peer: ben, Limit: 2}, []string{id(2), id(5)}, true},
		{"before", actors.ConversationQuery{Owner: ann, Peer: ben, Before: id(2), Limit: 50}, []string{id(1)}, false},
		{"Ann with herself", actors.ConversationQuery{Owner: ann, Peer: ann, Limit: 50}, []string{id(6)}, false},
		{"Cid with Ben: none", actors.ConversationQuery{Owner: cid, Peer: ben, Limit: 50}, []string{}, false},
		{"zero limit", actors.ConversationQuery{Owner: ann, Peer: ben, Limit: 0}, []string{}, true},
	} {
		got, more, err := w.Conversation(ctx, tc.q)
		if err != nil || !slices.Equal(HistoryIDs(got), tc.want) || more != tc.wantMore {
			t.Errorf("Conversation %s: got %v, more %t, %v, want %v, more %t", tc.what, HistoryIDs(got), more, err, tc.want, tc.wantMore)
		}
	}
	if _, _, err := w.Conversation(ctx, actors.ConversationQuery{Owner: ann, Peer: ben, Limit: -1}); err == nil {
		t.Errorf("Conversation with a negative limit: got no error")
	}
	got, _, _ := w.Conversation(ctx, actors.ConversationQuery{Owner: ben, Peer: ann, Limit: 1})
	if len(got) != 1 || got[0].Username != "Ann" || got[0].Recipient != "Ben" || !got[0].Private ||
		got[0].Content != "private 5 from Ann" || !got[0].Kept {
		t.Errorf("Conversation entry: got %+v, want Ann's message 5 to Ben", got)
	}

	// Unread, with no markers: the other side's messages (a guest's are in
	// no conversation; one's own never count).
	check := func(w Store, what string) {
		t.Helper()
		for _, tc := range []struct {
			owner      actors.Owner
			limit      int
			want       []string
			wantUnread []int
			wantMore   bool
		}{
			{actors.Owner{Key: ann, Name: "Ann"}, 50, []string{id(6), id(5), id(4)}, []int{0, 1, 0}, false},
			{actors.Owner{Key: ann, Name: "Ann"}, 2, []string{id(6), id(5)}, []int{0, 1}, true},
			{actors.Owner{Key: ben, Name: "Ben"}, 50, []string{id(5)}, []int{2}, false},
			{actors.Owner{Key: cid, Name: "Cid"}, 50, []string{id(4)}, []int{1}, false},
			{actors.Owner{Key: actors.Skeleton("Dee"), Name: "Dee"}, 50, []string{}, []int{}, false},
		} {
			convs, more, err := w.Conversations(ctx, tc.owner, tc.limit)
			last := make([]actors.StoredMessage, len(convs))
			unread := make([]int, len(convs))
			for i, c := range convs {
				last[i], unread[i] = c.Last, c.Unread
			}
			if err != nil || !slices.Equal(HistoryIDs(last), tc.want) || !slices.Equal(unread, tc.wantUnread) || more != tc.wantMore {
				t.Errorf("%s: Conversations(%s, %d): got %v unread %v, more %t, %v, want %v unread %v, more %t",
					what, tc.owner.Name, tc.limit, HistoryIDs(last), unread, more, err, tc.want, tc.wantUnread, tc.wantMore)
			}
		}
	}
	check(w, "open")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, Options{}), "reopened")
}

// A room message marked Kept is refused alone: a conversation holds only
// private messages.
func testConversationKeepsOnlyPrivateMessages(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	room := RoomMsg(fmt.Sprintf("01JC%022d", 1), "general", "Ann", 1)
	room.Kept = true
	ok := kept(2, "Ann", "Ben")
	r := NewResults(2)
	for _, m := range []*actors.StoredMessage{room, ok} {
		if !w.Append(m, r.Done(m.ID)) {
			t.Fatalf("Append(%s) = false", m.ID)
		}
	}
	got := r.Wait(t, 2)
	if got[room.ID] == nil || got[ok.ID] != nil {
		t.Errorf("a Kept room message and a kept PM: got %v, want the room message refused alone", got)
	}
}
