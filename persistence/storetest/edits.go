package storetest

// The cases of edited and deleted room messages.

import (
	"errors"
	"testing"
	"time"

	"parley/actors"
)

// An edit replaces the content and sets EditedAt; a deletion empties the
// content and marks the message, which keeps its id and place; both are
// read back by Message, History and Changes, and survive a reopen. A
// deleted message, a private one, or one named in the wrong room is not
// changed.
func testEditAndDelete(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	AppendAll(t, w, []*actors.StoredMessage{
		RoomMsg("01", "general", "alice", 1),
		RoomMsg("02", "general", "bob", 2),
		RoomMsg("03", "general", "alice", 3),
		PrivMsg("04", "alice", "bob", 4),
	})
	at := BaseTime.Add(time.Minute)
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "01", Room: "general", Content: "fixed", At: at}); err != nil {
		t.Fatalf("edit 01: got %v, want nil", err)
	}
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "02", Room: "general", Deleted: true, At: at.Add(time.Second)}); err != nil {
		t.Fatalf("delete 02: got %v, want nil", err)
	}
	for _, c := range []actors.MessageChange{
		{ID: "02", Room: "general", Content: "back", At: at},    // deleted
		{ID: "02", Room: "general", Deleted: true, At: at},      // deleted twice
		{ID: "03", Room: "random", Content: "moved", At: at},    // wrong room
		{ID: "04", Room: "", Content: "private", At: at},        // private
		{ID: "99", Room: "general", Content: "nothing", At: at}, // none
	} {
		if err := w.ChangeMessage(ctx, c); !errors.Is(err, actors.ErrNoMessage) {
			t.Errorf("ChangeMessage(%+v): got %v, want ErrNoMessage", c, err)
		}
	}
	if _, err := w.Message(ctx, "04"); !errors.Is(err, actors.ErrNoMessage) {
		t.Errorf("Message of a private message: got %v, want ErrNoMessage", err)
	}

	check := func(w Store) {
		t.Helper()
		msgs, _, err := w.History(ctx, actors.HistoryQuery{Room: "general", Limit: 10})
		if err != nil || len(msgs) != 3 {
			t.Fatalf("History: got %d messages, %v, want 3", len(msgs), err)
		}
		if m := msgs[0]; m.ID != "01" || m.Content != "fixed" || !m.EditedAt.Equal(at) || m.Deleted {
			t.Errorf("edited: got %+v, want 01 with content fixed, EditedAt %v", m, at)
		}
		if m := msgs[1]; m.ID != "02" || m.Content != "" || !m.Deleted || !m.EditedAt.Equal(at.Add(time.Second)) || m.Username != "bob" {
			t.Errorf("deleted: got %+v, want 02 of bob, deleted, no content", m)
		}
		if m := msgs[2]; m.Content != "message 3 from alice" || !m.EditedAt.IsZero() || m.Deleted {
			t.Errorf("untouched: got %+v, want its content and no EditedAt", m)
		}
		if m, err := w.Message(ctx, "02"); err != nil || !m.Deleted || m.Room != "general" {
			t.Errorf("Message(02): got %+v, %v, want it deleted, in general", m, err)
		}
	}
	check(w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	check(open(t, Options{}))
}

// Changes returns the messages up to Through changed at or after After,
// most recently changed first, at most Limit.
func testChanges(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	var msgs []*actors.StoredMessage
	for i, id := range []string{"01", "02", "03", "04"} {
		msgs = append(msgs, RoomMsg(id, "general", "alice", i))
	}
	msgs = append(msgs, RoomMsg("05", "random", "alice", 5))
	AppendAll(t, w, msgs)
	at := BaseTime.Add(time.Minute)
	for i, c := range []actors.MessageChange{
		{ID: "01", Content: "early"},      // before After
		{ID: "02", Content: "two"},        // at After
		{ID: "03", Deleted: true},         // after
		{ID: "04", Content: "past since"}, // after Through
	} {
		c.Room, c.At = "general", at.Add(time.Duration(i)*time.Second)
		if err := w.ChangeMessage(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "05", Room: "random", Content: "other room", At: at.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	got, err := w.Changes(ctx, actors.ChangesQuery{Room: "general", Through: "03", After: at.Add(time.Second), Limit: 10})
	if ids := HistoryIDs(got); err != nil || len(ids) != 2 || ids[0] != "03" || ids[1] != "02" {
		t.Fatalf("Changes: got %v, %v, want [03 02]", ids, err)
	}
	if !got[0].Deleted || got[0].Content != "" || got[1].Content != "two" || !got[1].EditedAt.Equal(at.Add(time.Second)) {
		t.Errorf("Changes: got %+v, want 03 deleted and 02 reading two", got)
	}
	got, err = w.Changes(ctx, actors.ChangesQuery{Room: "general", Through: "04", After: at, Limit: 1})
	if ids := HistoryIDs(got); err != nil || len(ids) != 1 || ids[0] != "04" {
		t.Errorf("Changes with Limit 1: got %v, %v, want [04]", ids, err)
	}
}
