package storetest

// The cases of reactions and mentions.

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"parley/actors"
)

// countsString is a message's counts as "emoji:n" (with * for Mine).
func countsString(counts []actors.ReactionCount) string {
	s := ""
	for _, c := range counts {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf("%s:%d", c.Emoji, c.Count)
		if c.Mine {
			s += "*"
		}
	}
	return s
}

// React adds one reaction per reactor per emoji, takes it back, reports
// whether anything changed, returns the counts in the order first reacted,
// bounds the distinct emoji, refuses a deleted, unknown, private or
// misplaced message, and its reactions survive a reopen; Annotate reads
// them per reader; a deleted message's reactions go with its content.
func testReactions(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	AppendAll(t, w, []*actors.StoredMessage{
		RoomMsg("01", "general", "alice", 1),
		RoomMsg("02", "general", "bob", 2),
		PrivMsg("03", "alice", "bob", 3),
	})
	at := BaseTime.Add(time.Minute)
	react := func(id, emoji, reactor string, on bool, max int) (string, bool, error) {
		t.Helper()
		at = at.Add(time.Second)
		counts, changed, err := w.React(ctx, actors.Reaction{ID: id, Room: "general", Emoji: emoji, Reactor: reactor, Name: reactor, On: on, At: at, Max: max})
		return countsString(counts), changed, err
	}
	for _, tc := range []struct {
		id, emoji, who string
		on             bool
		want           string
		changed        bool
	}{
		{"01", "👍", "a:alice", true, "👍:1*", true},
		{"01", "👍", "a:alice", true, "👍:1*", false}, // twice: one
		{"01", "🎉", "a:bob", true, "👍:1 🎉:1*", true},
		{"01", "👍", "g:x:7", true, "👍:2* 🎉:1", true},
		// The order is of the reactions there now: 👍's first is gone.
		{"01", "👍", "a:alice", false, "🎉:1 👍:1", true},
		{"01", "👍", "a:alice", false, "🎉:1 👍:1", false}, // not there
		{"02", "❤️", "a:alice", true, "❤️:1*", true},
	} {
		got, changed, err := react(tc.id, tc.emoji, tc.who, tc.on, 20)
		if err != nil || got != tc.want || changed != tc.changed {
			t.Errorf("React(%s %s by %s on=%t): got %q changed=%t, %v; want %q changed=%t", tc.id, tc.emoji, tc.who, tc.on, got, changed, err, tc.want, tc.changed)
		}
	}
	// The bound is on distinct emoji: two are there, a third is refused
	// with a bound of 2, a second reactor's existing one is not.
	if _, _, err := react("01", "😮", "a:carol", true, 2); !errors.Is(err, actors.ErrTooManyReactions) {
		t.Errorf("a third emoji with Max 2: got %v, want ErrTooManyReactions", err)
	}
	if got, _, err := react("01", "🎉", "a:carol", true, 2); err != nil || got != "🎉:2* 👍:1" {
		t.Errorf("an existing emoji at the bound: got %q, %v, want 🎉:2* 👍:1", got, err)
	}
	for _, r := range []actors.Reaction{
		{ID: "99", Room: "general"}, // none
		{ID: "02", Room: "random"},  // elsewhere
		{ID: "03", Room: ""},        // private
	} {
		r.Emoji, r.Reactor, r.Name, r.On, r.At, r.Max = "👍", "a:alice", "alice", true, at, 20
		if _, _, err := w.React(ctx, r); !errors.Is(err, actors.ErrNoMessage) {
			t.Errorf("React(%+v): got %v, want ErrNoMessage", r, err)
		}
	}

	check := func(w Store) {
		t.Helper()
		msgs, _, err := w.History(ctx, actors.HistoryQuery{Room: "general", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Annotate(ctx, msgs, "a:bob"); err != nil {
			t.Fatal(err)
		}
		got := []string{countsString(msgs[0].Reactions), countsString(msgs[1].Reactions)}
		if want := []string{"🎉:2* 👍:1", "❤️:1"}; !slices.Equal(got, want) {
			t.Errorf("Annotate for bob: got %q, want %q", got, want)
		}
	}
	check(w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, Options{})
	check(w)

	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "02", Room: "general", Deleted: true, At: at}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.React(ctx, actors.Reaction{ID: "02", Room: "general", Emoji: "👍", Reactor: "a:alice", On: true, At: at, Max: 20}); !errors.Is(err, actors.ErrNoMessage) {
		t.Errorf("React to a deleted message: got %v, want ErrNoMessage", err)
	}
	msgs := []actors.StoredMessage{{ID: "02", Room: "general"}}
	if err := w.Annotate(ctx, msgs, "a:alice"); err != nil || len(msgs[0].Reactions) != 0 {
		t.Errorf("a deleted message's reactions: got %+v, %v, want none", msgs[0].Reactions, err)
	}
	if err := w.DeleteRoom(ctx, "general"); err != nil {
		t.Fatal(err)
	}
	msgs = []actors.StoredMessage{{ID: "01", Room: "general"}}
	if err := w.Annotate(ctx, msgs, "a:alice"); err != nil || len(msgs[0].Reactions) != 0 {
		t.Errorf("reactions after DeleteRoom: got %+v, %v, want none", msgs[0].Reactions, err)
	}
}

// ReactionChanges returns the messages up to Through whose reactions
// changed at or after After, most recent first, at most Limit, of the room.
func testReactionChanges(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	AppendAll(t, w, []*actors.StoredMessage{
		RoomMsg("01", "general", "alice", 1),
		RoomMsg("02", "general", "alice", 2),
		RoomMsg("03", "general", "alice", 3),
		RoomMsg("04", "general", "alice", 4),
		RoomMsg("05", "random", "alice", 5),
	})
	at := BaseTime.Add(time.Minute)
	for i, c := range []struct {
		id, room string
		on       bool
	}{
		{"01", "general", true}, // before After
		{"02", "general", true}, // at After
		{"03", "general", true}, // after
		{"04", "general", true}, // after Through
		{"05", "random", true},  // another room
		{"02", "general", false},
	} {
		r := actors.Reaction{ID: c.id, Room: c.room, Emoji: "👍", Reactor: "a:bob", Name: "bob", On: c.on, At: at.Add(time.Duration(i) * time.Second), Max: 20}
		if _, _, err := w.React(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.ReactionChanges(ctx, actors.ChangesQuery{Room: "general", Through: "03", After: at.Add(time.Second), Limit: 10})
	if err != nil || !slices.Equal(got, []string{"02", "03"}) {
		t.Errorf("ReactionChanges: got %v, %v, want [02 03] (02 taken back last)", got, err)
	}
	got, err = w.ReactionChanges(ctx, actors.ChangesQuery{Room: "general", Through: "04", After: at, Limit: 1})
	if err != nil || !slices.Equal(got, []string{"02"}) {
		t.Errorf("ReactionChanges with Limit 1: got %v, %v, want [02]", got, err)
	}
}

// A room message's mentions are stored with it, read back in order by
// Annotate, survive a reopen, and count in the read state of the
// account mentioned (by skeleton), after its marker only.
func testMentions(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	id := func(i int) string { return fmt.Sprintf("01JD%022d", i) }
	var msgs []*actors.StoredMessage
	for i := 1; i <= 6; i++ {
		m := RoomMsg(id(i), "general", "bob", i)
		switch i {
		case 2, 4, 5:
			m.Mentions = []string{"Ann", "cid"}
		case 6:
			m.Mentions = []string{"cid"}
		}
		msgs = append(msgs, m)
	}
	AppendAll(t, w, msgs)
	ann := actors.Owner{Key: actors.Skeleton("Ann"), Name: "Ann"}
	if err := w.SetAccountRoom(ctx, ann.Key, "general", true, id(3), 100); err != nil {
		t.Fatal(err)
	}
	check := func(w Store) {
		t.Helper()
		got, err := w.RoomsRead(ctx, ann, []string{"general"})
		if want := (actors.ReadState{Room: "general", Read: id(3), Unread: 3, Mentions: 2}); err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("RoomsRead: got %+v, %v, want %+v", got, err, want)
		}
		page, _, err := w.History(ctx, actors.HistoryQuery{Room: "general", Limit: 10})
		if err == nil {
			err = w.Annotate(ctx, page, "a:"+ann.Key)
		}
		if err != nil || len(page) != 6 || !slices.Equal(page[1].Mentions, []string{"Ann", "cid"}) || page[0].Mentions != nil || !slices.Equal(page[5].Mentions, []string{"cid"}) {
			t.Errorf("History's mentions: got %+v, %v", page, err)
		}
	}
	check(w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, Options{})
	check(w)
	st, err := w.MarkRead(ctx, ann, actors.ReadState{Room: "general", Read: id(4)})
	if want := (actors.ReadState{Room: "general", Read: id(4), Unread: 2, Mentions: 1}); err != nil || st != want {
		t.Errorf("MarkRead: got %+v, %v, want %+v", st, err, want)
	}
}
