package persistence

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/textsearch"
	"parley/persistence/storetest"
)

// ftsIntegrity runs FTS5's integrity-check on the index file: an index
// whose entries drifted from its own structure (a row deleted twice, one
// indexed twice) fails it.
func ftsIntegrity(t *testing.T, path string) {
	t.Helper()
	if _, err := indexDB(t, path).Exec("INSERT INTO messages_fts (messages_fts) VALUES ('integrity-check')"); err != nil {
		t.Errorf("fts5 integrity-check: %v", err)
	}
}

// The messages stored before search existed are indexed (the migrations
// to version 7 and 8, then the indexer's rebuild of the new index file),
// and the indexer keeps the index equal to the content through edits,
// deletions and DeleteRoom.
func TestSearchMigrationIndexesStoredMessages(t *testing.T) {
	path := tempDB(t)
	ctx := testCtx(t)
	db := rawDB(t, path)
	for v, m := range migrations[:5] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", v+1, err)
		}
	}
	for i, content := range []string{"an old needle", "", "another old needle, deleted"} {
		id := "0" + string(rune('1'+i))
		if _, err := db.Exec(`INSERT INTO messages (id, room, username, content, timestamp, is_private, deleted)
VALUES (?, 'general', 'ann', ?, ?, 0, ?)`, id, content, "2024-01-01T12:00:00.000Z", i == 2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec("PRAGMA user_version = 5"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	w := openTest(t, path, Options{})
	waitIndexed(t, w)
	terms, _ := textsearch.Parse("needle")
	q := actors.SearchQuery{Terms: terms, Rooms: []string{"general"}, Limit: 10}
	msgs, _, err := w.Search(ctx, q)
	if got := storetest.HistoryIDs(msgs); err != nil || !slices.Equal(got, []string{"01"}) {
		t.Errorf("Search after the migration: got %q, %v, want [01] (02 is empty, 03 deleted)", got, err)
	}
	ftsIntegrity(t, path)

	appendAll(t, w, []*actors.StoredMessage{storetest.RoomMsg("04", "general", "ann", 4), storetest.RoomMsg("05", "other", "ann", 5)})
	at := storetest.BaseTime.Add(time.Minute)
	for _, c := range []actors.MessageChange{
		{ID: "01", Room: "general", Content: "a new needle", At: at},
		{ID: "01", Room: "general", Content: "needle needle", At: at},
		{ID: "04", Room: "general", Deleted: true, At: at},
	} {
		if err := w.ChangeMessage(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.DeleteRoom(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, w)
	ftsIntegrity(t, path)
	if got := indexedIDs(t, path); !slices.Equal(got, []string{"01"}) {
		t.Errorf("docs: got %q, want [01] (01 alone has content)", got)
	}
	msgs, _, err = w.Search(ctx, q)
	if got := storetest.HistoryIDs(msgs); err != nil || !slices.Equal(got, []string{"01"}) || msgs[0].Content != "needle needle" {
		t.Errorf("Search after the edits: got %q, %v, want [01] with its last content", got, err)
	}
}

// Matches in scope that rank below many out of scope are still found: the
// first try reads only the best few hits, and the next ones read more.
func TestSearchReadsMoreHitsWhenFewAreInScope(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	var msgs []*actors.StoredMessage
	for i := range 300 {
		m := storetest.RoomMsg(fmt.Sprintf("01JC%022d", i), "big", "ann", i)
		m.Content = "word word word"
		msgs = append(msgs, m)
	}
	for i := 300; i < 303; i++ {
		m := storetest.RoomMsg(fmt.Sprintf("01JC%022d", i), "small", "ann", i)
		m.Content = "a word among many other words of a longer message"
		msgs = append(msgs, m)
	}
	appendAll(t, w, msgs)
	terms, _ := textsearch.Parse("word")
	for _, tc := range []struct {
		limit int
		want  []string
		more  bool
	}{
		{2, []string{"01JC0000000000000000000302", "01JC0000000000000000000301"}, true},
		{5, []string{"01JC0000000000000000000302", "01JC0000000000000000000301", "01JC0000000000000000000300"}, false},
	} {
		got, more, err := w.Search(testCtx(t), actors.SearchQuery{Terms: terms, Rooms: []string{"small"}, Limit: tc.limit})
		if ids := storetest.HistoryIDs(got); err != nil || !slices.Equal(ids, tc.want) || more != tc.more {
			t.Errorf("Search(small, limit %d): got %q, more %v, %v, want %q, more %v", tc.limit, ids, more, err, tc.want, tc.more)
		}
	}
}

// A deletion takes the message's words out of the index's pages as soon as
// the indexer applies it (FTS5's secure-delete), not only by a delete
// marker that a later merge would apply: the words of a deleted message are
// gone from the index file, not just from the answers.
func TestSearchDeletionLeavesNoWordsInTheIndex(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	ctx := testCtx(t)
	m := storetest.RoomMsg("01", "general", "ann", 1)
	m.Content = "0swordfish is the password"
	appendAll(t, w, []*actors.StoredMessage{m, storetest.RoomMsg("02", "general", "ann", 2)})
	waitIndexed(t, w)
	inIndex := func() int {
		t.Helper()
		var n int
		if err := indexDB(t, path).Get(&n, "SELECT COUNT(*) FROM messages_fts_data WHERE instr(block, CAST('0swordfish' AS BLOB)) > 0"); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := inIndex(); n == 0 {
		t.Fatalf("before the deletion: the word is in %d index blocks, want some (the test would prove nothing)", n)
	}
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "01", Room: "general", Deleted: true, At: storetest.BaseTime}); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, w)
	if n := inIndex(); n != 0 {
		t.Errorf("after the deletion: the word is in %d index blocks, want none", n)
	}
	ftsIntegrity(t, path)
}
