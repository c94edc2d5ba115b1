package storetest

// The cases of edited and deleted private messages.

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"parley/actors"
)

// A private message is edited and deleted as a room message is (with
// Private set): PrivateMessage, both sides' Conversation and Conversations
// read it as it is now, a deletion keeps its id and place and drops its
// content, a reopen keeps both; a room message is not changed as private,
// nor a private one as a room's, nor a deleted one again; search finds
// neither by its old words. A guest's private message (kept by no
// conversation) is changed too.
func testEditAndDeletePrivate(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	id := func(i int) string { return fmt.Sprintf("01JP%022d", i) }
	guest := PrivMsg(id(3), "gus", "Ann", 3)
	AppendAll(t, w, []*actors.StoredMessage{
		kept(1, "Ann", "Ben"),
		kept(2, "Ben", "Ann"),
		guest,
		RoomMsg(id(4), "general", "Ann", 4),
	})
	one, two := fmt.Sprintf("01JC%022d", 1), fmt.Sprintf("01JC%022d", 2) // kept's ids
	at := BaseTime.Add(time.Minute)
	for _, c := range []actors.MessageChange{
		{ID: one, Private: true, Content: "fixed", At: at},
		{ID: two, Private: true, Deleted: true, At: at.Add(time.Second)},
		{ID: id(3), Private: true, Content: "guest fixed", At: at},
	} {
		if err := w.ChangeMessage(ctx, c); err != nil {
			t.Fatalf("ChangeMessage(%+v): got %v, want nil", c, err)
		}
	}
	for _, c := range []actors.MessageChange{
		{ID: two, Private: true, Content: "back", At: at},      // deleted
		{ID: two, Private: true, Deleted: true, At: at},        // deleted twice
		{ID: id(4), Private: true, Content: "room", At: at},    // a room message
		{ID: one, Room: "general", Content: "as room", At: at}, // a private one as a room's
		{ID: id(9), Private: true, Content: "none", At: at},    // none
	} {
		if err := w.ChangeMessage(ctx, c); !errors.Is(err, actors.ErrNoMessage) {
			t.Errorf("ChangeMessage(%+v): got %v, want ErrNoMessage", c, err)
		}
	}
	if _, err := w.PrivateMessage(ctx, id(4)); !errors.Is(err, actors.ErrNoMessage) {
		t.Errorf("PrivateMessage of a room message: got %v, want ErrNoMessage", err)
	}
	if _, err := w.PrivateMessage(ctx, id(9)); !errors.Is(err, actors.ErrNoMessage) {
		t.Errorf("PrivateMessage of none: got %v, want ErrNoMessage", err)
	}
	ann, ben := actors.Skeleton("Ann"), actors.Skeleton("Ben")

	check := func(w Store) {
		t.Helper()
		if m, err := w.PrivateMessage(ctx, one); err != nil || m.Content != "fixed" || !m.EditedAt.Equal(at) || m.Deleted || !m.Private || m.Recipient != "Ben" {
			t.Errorf("PrivateMessage(edited): got %+v, %v, want Ann's to Ben reading fixed, EditedAt %v", m, err, at)
		}
		if m, err := w.PrivateMessage(ctx, id(3)); err != nil || m.Content != "guest fixed" {
			t.Errorf("PrivateMessage(guest's): got %+v, %v, want it reading guest fixed", m, err)
		}
		for _, owner := range [][2]string{{ann, ben}, {ben, ann}} {
			msgs, _, err := w.Conversation(ctx, actors.ConversationQuery{Owner: owner[0], Peer: owner[1], Limit: 10})
			if err != nil || !slices.Equal(HistoryIDs(msgs), []string{one, two}) {
				t.Fatalf("Conversation of %s: got %v, %v, want [%s %s]", owner[0], HistoryIDs(msgs), err, one, two)
			}
			if m := msgs[0]; m.Content != "fixed" || !m.EditedAt.Equal(at) || m.Deleted {
				t.Errorf("Conversation of %s, edited: got %+v, want content fixed, EditedAt %v", owner[0], m, at)
			}
			if m := msgs[1]; m.Content != "" || !m.Deleted || !m.EditedAt.Equal(at.Add(time.Second)) || m.Username != "Ben" {
				t.Errorf("Conversation of %s, deleted: got %+v, want Ben's, deleted, no content", owner[0], m)
			}
		}
		// Search finds the edit by its new words, and neither message by its old ones.
		if ids, _ := search(t, w, "fixed", actors.SearchQuery{Owner: ann, Peer: ben, Limit: 10}); !slices.Equal(ids, []string{one}) {
			t.Errorf("Search of the edit's words: got %v, want [%s]", ids, one)
		}
		if ids, _ := search(t, w, "private", actors.SearchQuery{Owner: ben, Peer: ann, Limit: 10}); len(ids) != 0 {
			t.Errorf("Search of the old words: got %v, want none", ids)
		}
		convs, _, err := w.Conversations(ctx, actors.Owner{Key: ann, Name: "Ann"}, 10)
		if err != nil || len(convs) != 1 || convs[0].Last.ID != two || !convs[0].Last.Deleted || convs[0].Last.Content != "" {
			t.Errorf("Conversations: got %+v, %v, want one, its last %s deleted", convs, err, two)
		}
	}
	check(w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, Options{}))
}

// Changes with an Owner returns the conversation's messages up to Through
// changed at or after After, most recently changed first, at most Limit:
// the same for both sides, and nothing of another conversation or of a
// room.
func testConversationChanges(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	id := func(i int) string { return fmt.Sprintf("01JC%022d", i) }
	AppendAll(t, w, []*actors.StoredMessage{
		kept(1, "Ann", "Ben"),
		kept(2, "Ben", "Ann"),
		kept(3, "Ann", "Ben"),
		kept(4, "Ann", "Ben"),
		kept(5, "Ann", "Cid"),
		RoomMsg(id(6), "general", "Ann", 6),
	})
	at := BaseTime.Add(time.Minute)
	for i, c := range []actors.MessageChange{
		{ID: id(1), Content: "early"},      // before After
		{ID: id(2), Content: "two"},        // at After
		{ID: id(3), Deleted: true},         // after
		{ID: id(4), Content: "past since"}, // after Through
		{ID: id(5), Content: "to cid"},     // another conversation
	} {
		c.Private, c.At = true, at.Add(time.Duration(i)*time.Second)
		if err := w.ChangeMessage(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: id(6), Room: "general", Content: "room", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ann, ben := actors.Skeleton("Ann"), actors.Skeleton("Ben")
	for _, side := range [][2]string{{ann, ben}, {ben, ann}} {
		got, err := w.Changes(ctx, actors.ChangesQuery{Owner: side[0], Peer: side[1], Through: id(3), After: at.Add(time.Second), Limit: 10})
		if ids := HistoryIDs(got); err != nil || !slices.Equal(ids, []string{id(3), id(2)}) {
			t.Fatalf("Changes of %s's: got %v, %v, want [%s %s]", side[0], ids, err, id(3), id(2))
		}
		if !got[0].Deleted || got[0].Content != "" || got[1].Content != "two" || !got[1].EditedAt.Equal(at.Add(time.Second)) || !got[1].Kept {
			t.Errorf("Changes of %s's: got %+v, want %s deleted and %s reading two, kept", side[0], got, id(3), id(2))
		}
	}
	got, err := w.Changes(ctx, actors.ChangesQuery{Owner: ann, Peer: ben, Through: id(4), After: at, Limit: 1})
	if ids := HistoryIDs(got); err != nil || !slices.Equal(ids, []string{id(4)}) {
		t.Errorf("Changes with Limit 1: got %v, %v, want [%s]", ids, err, id(4))
	}
	got, err = w.Changes(ctx, actors.ChangesQuery{Owner: ann, Peer: actors.Skeleton("Cid"), Through: id(9), After: at, Limit: 10})
	if ids := HistoryIDs(got); err != nil || !slices.Equal(ids, []string{id(5)}) {
		t.Errorf("Changes of Ann's with Cid: got %v, %v, want [%s]", ids, err, id(5))
	}
}
