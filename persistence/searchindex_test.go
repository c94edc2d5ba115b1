package persistence

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/oklog/ulid/v2"

	"parley/actors"
	"parley/internal/textsearch"
)

// waitIndexed waits until w's search index holds everything committed so
// far. The bound is testDeadline, which is testkit.WaitLimit's value: this
// package cannot import testkit, which imports the server, which imports
// this package.
func waitIndexed(t testing.TB, w *Store) {
	t.Helper()
	if err := w.WaitIndexed(testCtx(t)); err != nil {
		t.Fatalf("WaitIndexed: %v", err)
	}
}

// indexDB opens the search index file of the database at path with a
// plain connection of its own.
func indexDB(t testing.TB, path string) *sqlx.DB {
	t.Helper()
	return rawDB(t, path+searchSuffix)
}

// indexedIDs returns the ids the index file of the database at path holds,
// in order.
func indexedIDs(t testing.TB, path string) []string {
	t.Helper()
	var ids []string
	if err := indexDB(t, path).Select(&ids, "SELECT id FROM docs ORDER BY id"); err != nil {
		t.Fatalf("read the index's docs: %v", err)
	}
	return ids
}

// indexHolds counts the index file's rows that hold word, from the index
// alone.
func indexHolds(t testing.TB, path, word string) int {
	t.Helper()
	var n int
	if err := indexDB(t, path).Get(&n, "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?", word); err != nil {
		t.Fatalf("match %q in the index: %v", word, err)
	}
	return n
}

// searchIDs runs a Search for query in rooms and returns the ids found.
func searchIDs(t testing.TB, w *Store, query string, rooms ...string) []string {
	t.Helper()
	terms, err := textsearch.Parse(query)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _, err := w.Search(testCtx(t), actors.SearchQuery{Terms: terms, Rooms: rooms, Limit: 50})
	if err != nil {
		t.Fatalf("Search(%q): %v", query, err)
	}
	return historyIDs(msgs)
}

// holdIndexer keeps w's indexer from starting a pass until release: the
// writer goes on committing, and the index falls behind. release must run
// before w is closed.
func holdIndexer(w *Store) (release func()) {
	w.idx.hold.Lock()
	return w.idx.hold.Unlock
}

func msgWith(id, room, content string, i int) *actors.StoredMessage {
	m := roomMsg(id, room, "ann", i)
	m.Content = content
	return m
}

// The writer's transaction indexes nothing: with the indexer held, what
// Sync says is committed is stored and not indexed; the indexer then
// catches up by itself.
func TestSearchIndexFollowsTheWriterAfterTheCommit(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{SearchWait: -1})
	release := holdIndexer(w)
	appendAll(t, w, []*actors.StoredMessage{msgWith("01", "general", "kiwi one", 1), msgWith("02", "general", "kiwi two", 2)})
	if got := indexedIDs(t, path); len(got) != 0 {
		t.Errorf("index with the indexer held: got %q, want nothing (the writer must not index)", got)
	}
	if st := w.Stats(); st.SearchBehind != 1 {
		t.Errorf("Stats().SearchBehind: got %d, want 1 (one batch)", st.SearchBehind)
	}
	release()
	waitIndexed(t, w)
	if got := indexedIDs(t, path); !slices.Equal(got, []string{"01", "02"}) {
		t.Errorf("index after WaitIndexed: got %q, want [01 02]", got)
	}
	if got := searchIDs(t, w, "kiwi", "general"); !slices.Equal(got, []string{"02", "01"}) {
		t.Errorf("Search(kiwi): got %q, want [02 01]", got)
	}
	if st := w.Stats(); st.SearchBehind != 0 || st.SearchRebuilding {
		t.Errorf("Stats() after WaitIndexed: behind %d, rebuilding %v, want 0, false", st.SearchBehind, st.SearchRebuilding)
	}
}

// A Search finds what was committed before it: with the index a batch
// behind, it waits for the indexer (Options.SearchWait) rather than answer
// without the message. The search starts while the indexer is held, so it
// can find the message only if it waited for it; whenever it runs, the
// answer must hold it.
func TestSearchWaitsForTheIndexToCatchUp(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{SearchWait: testDeadline})
	release := holdIndexer(w)
	appendAll(t, w, []*actors.StoredMessage{msgWith("01", "general", "quince", 1)})
	got := make(chan []string, 1)
	ctx := testCtx(t)
	go func() {
		terms, _ := textsearch.Parse("quince")
		msgs, _, err := w.Search(ctx, actors.SearchQuery{Terms: terms, Rooms: []string{"general"}, Limit: 10})
		if err != nil {
			t.Errorf("Search: %v", err)
		}
		got <- historyIDs(msgs)
	}()
	release()
	if ids := <-got; !slices.Equal(ids, []string{"01"}) {
		t.Errorf("Search(quince) started while the index was behind: got %q, want [01]", ids)
	}
}

// While the indexer is behind, a search never shows what is gone: a
// deleted message is not found by its old words, nor an edited one by the
// words it no longer holds. Once the indexer catches up, the edited message
// is found by its new words only, and the deleted one's words are out of
// the index file.
func TestSearchNeverShowsStaleContentWhileTheIndexIsBehind(t *testing.T) {
	path := tempDB(t)
	ctx := testCtx(t)
	w := openTest(t, path, Options{SearchWait: -1})
	appendAll(t, w, []*actors.StoredMessage{
		msgWith("01", "general", "alpha 0secret words", 1),
		msgWith("02", "general", "alpha draft", 2),
		msgWith("03", "general", "alpha kept", 3),
	})
	waitIndexed(t, w)
	release := holdIndexer(w)
	at := baseTime.Add(time.Minute)
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "01", Room: "general", Deleted: true, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "02", Room: "general", Content: "beta final", At: at}); err != nil {
		t.Fatal(err)
	}
	if n := indexHolds(t, path, "0secret"); n != 1 {
		t.Fatalf("index with the indexer held: 0secret in %d rows, want 1 (else this test proves nothing)", n)
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"0secret", nil},          // deleted
		{"alpha", []string{"03"}}, // 01 deleted, 02 no longer says it
		{"draft", nil},
	} {
		if got := searchIDs(t, w, tc.query, "general"); !slices.Equal(got, tc.want) {
			t.Errorf("Search(%q) while behind: got %q, want %q", tc.query, got, tc.want)
		}
	}
	release()
	waitIndexed(t, w)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"0secret", nil},
		{"alpha", []string{"03"}},
		{"draft", nil},
		{"beta", []string{"02"}},
	} {
		if got := searchIDs(t, w, tc.query, "general"); !slices.Equal(got, tc.want) {
			t.Errorf("Search(%q) caught up: got %q, want %q", tc.query, got, tc.want)
		}
	}
	for word, want := range map[string]int{"0secret": 0, "draft": 0, "beta": 1} {
		if n := indexHolds(t, path, word); n != want {
			t.Errorf("index caught up: %s in %d rows, want %d", word, n, want)
		}
	}
	if got := indexedIDs(t, path); !slices.Equal(got, []string{"02", "03"}) {
		t.Errorf("docs caught up: got %q, want [02 03]", got)
	}
	ftsIntegrity(t, path)
}

// killChildEnv names the database a child process of
// TestSearchIndexCatchesUpAfterKill writes before it is killed.
const killChildEnv = "PARLEY_SEARCHINDEX_KILL_CHILD"

// A kill -9 while the indexer is behind loses nothing: the next Open's
// indexer goes on from the watermark the index file committed, and
// applies the messages, the edit and the deletion committed after it.
func TestSearchIndexCatchesUpAfterKill(t *testing.T) {
	if path := os.Getenv(killChildEnv); path != "" {
		killChild(path)
		return
	}
	path := tempDB(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSearchIndexCatchesUpAfterKill$", "-test.count=1")
	cmd.Env = append(os.Environ(), killChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	// The child says "ready" once its writes are committed; a child that
	// fails closes its stdout without it (and the test's deadline bounds
	// the rest).
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	if ok := <-ready; !ok {
		t.Fatal("the child process ended without committing its writes")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	if got := indexedIDs(t, path); !slices.Equal(got, []string{"01", "02", "03"}) {
		t.Fatalf("index after the kill: got %q, want [01 02 03] (what the child indexed before holding its indexer)", got)
	}
	w := openTest(t, path, Options{})
	waitIndexed(t, w)
	want := []string{"01", "03"}
	for i := range 100 {
		want = append(want, fmt.Sprintf("1%03d", i))
	}
	if got := indexedIDs(t, path); !slices.Equal(got, want) {
		t.Errorf("index after the restart: got %d ids %q, want %d", len(got), got, len(want))
	}
	for _, tc := range []struct {
		query string
		want  int
	}{{"late", 100}, {"first", 0}, {"renamed", 1}, {"second", 0}, {"third", 1}} {
		if n := indexHolds(t, path, tc.query); n != tc.want {
			t.Errorf("index after the restart: %q in %d rows, want %d", tc.query, n, tc.want)
		}
	}
	ftsIntegrity(t, path)
}

// killChild is the child process of TestSearchIndexCatchesUpAfterKill: it
// indexes three messages, holds its indexer, commits a hundred more, an
// edit and a deletion, says "ready" and waits to be killed.
func killChild(path string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "kill child:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	w, err := Open(ctx, path, Options{Logger: quietLogger()})
	if err != nil {
		fail(err)
	}
	appendSync := func(msgs ...*actors.StoredMessage) {
		for _, m := range msgs {
			if !w.Append(m, func(err error) {
				if err != nil {
					fail(err)
				}
			}) {
				fail(fmt.Errorf("append %s refused", m.ID))
			}
		}
		if err := w.Sync(ctx); err != nil {
			fail(err)
		}
	}
	appendSync(msgWith("01", "general", "first", 1), msgWith("02", "general", "second", 2), msgWith("03", "general", "third", 3))
	if err := w.WaitIndexed(ctx); err != nil {
		fail(err)
	}
	holdIndexer(w) // never released: the process dies holding it
	var late []*actors.StoredMessage
	for i := range 100 {
		late = append(late, msgWith(fmt.Sprintf("1%03d", i), "general", "late", 10+i))
	}
	appendSync(late...)
	for _, c := range []actors.MessageChange{
		{ID: "01", Room: "general", Content: "renamed", At: baseTime.Add(time.Minute)},
		{ID: "02", Room: "general", Deleted: true, At: baseTime.Add(time.Minute)},
	} {
		if err := w.ChangeMessage(ctx, c); err != nil {
			fail(err)
		}
	}
	fmt.Println("ready")
	select {} // until SIGKILL
}

// A database at version 7 (the index in its own file, kept by triggers
// in the writer's transaction) loses the triggers and version 7's tables,
// and its messages are indexed anew in the index file.
func TestSearchIndexMigratesVersion7(t *testing.T) {
	path := tempDB(t)
	db := rawDB(t, path)
	for v, m := range migrations[:7] {
		if _, err := db.Exec(m); err != nil {
			t.Fatalf("migration %d: %v", v+1, err)
		}
	}
	for i, content := range []string{"an old needle", "another needle", "no match"} {
		if _, err := db.Exec(`INSERT INTO messages (id, room, username, content, timestamp, is_private)
VALUES (?, 'general', 'ann', ?, '2024-01-01T12:00:00.000Z', 0)`, fmt.Sprintf("0%d", i+1), content); err != nil {
			t.Fatal(err)
		}
	}
	// Enough more that the rebuild takes several passes, with new
	// messages committed while it runs.
	if _, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO messages (id, room, username, content, timestamp, is_private)
SELECT printf('5%06d', i), 'big', 'ann', 'filler words', '2024-01-01T12:00:00.000Z', 0 FROM n`, rebuildFiller); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 7"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	w := openTest(t, path, Options{})
	var left []string
	if err := w.rdb.SelectContext(testCtx(t), &left, `SELECT name FROM sqlite_master
WHERE name LIKE 'messages_search_%' OR name LIKE 'messages_fts%' OR name IN ('search_docs', 'search_content') ORDER BY name`); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("version 7's search objects after the migration: got %q, want none", left)
	}
	appendAll(t, w, []*actors.StoredMessage{msgWith("0000", "general", "early needle", 0), msgWith("9000", "general", "late needle", 9)})
	waitIndexed(t, w)
	if got := searchIDs(t, w, "needle", "general"); len(got) != 4 {
		t.Errorf("Search(needle) after the migration: got %q, want 0000, 01, 02 and 9000", got)
	}
	ids := indexedIDs(t, path)
	if len(ids) != rebuildFiller+5 || !slices.Equal(ids[:4], []string{"0000", "01", "02", "03"}) || ids[len(ids)-1] != "9000" {
		t.Errorf("index after the migration: got %d ids, want %d (0000, 01-03, the filler, 9000)", len(ids), rebuildFiller+5)
	}
	if n := indexHolds(t, path, "filler"); n != rebuildFiller {
		t.Errorf("index after the migration: filler in %d rows, want %d", n, rebuildFiller)
	}
	ftsIntegrity(t, path)
}

// rebuildFiller is how many more messages TestSearchIndexMigratesVersion7
// stores: a few of the indexer's passes.
const rebuildFiller = 3*indexBudget + 100

// An index file that is missing, not a database, or another database's is
// made anew at Open and rebuilt from messages.
func TestSearchIndexRebuildsAMissingOrBadFile(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, path string)
	}{
		{"missing", func(t *testing.T, path string) {
			if err := os.Remove(path + searchSuffix); err != nil {
				t.Fatal(err)
			}
		}},
		{"not a database", func(t *testing.T, path string) {
			if err := os.WriteFile(path+searchSuffix, []byte(strings.Repeat("not sqlite ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"another database's", func(t *testing.T, path string) {
			other := tempDB(t)
			w := openTest(t, other, Options{})
			appendAll(t, w, []*actors.StoredMessage{msgWith("09", "general", "stranger", 9)})
			waitIndexed(t, w)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(other + searchSuffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+searchSuffix, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempDB(t)
			w, err := Open(testCtx(t), path, Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			appendAll(t, w, []*actors.StoredMessage{msgWith("01", "general", "plum", 1), msgWith("02", "general", "plum pie", 2)})
			waitIndexed(t, w)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, path)
			w = openTest(t, path, Options{})
			waitIndexed(t, w)
			if got := searchIDs(t, w, "plum", "general"); len(got) != 2 {
				t.Errorf("Search(plum) after the rebuild: got %q, want 01 and 02", got)
			}
			if got := indexedIDs(t, path); !slices.Equal(got, []string{"01", "02"}) {
				t.Errorf("index after the rebuild: got %q, want [01 02]", got)
			}
		})
	}
}

// An index file behind rows the feed no longer holds (a database restored
// from a copy newer than the index) is rebuilt: going on from its
// watermark would skip what those rows covered.
func TestSearchIndexRebuildsWhenTheFeedHasAGap(t *testing.T) {
	path := tempDB(t)
	w, err := Open(testCtx(t), path, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, w, []*actors.StoredMessage{msgWith("01", "general", "plum", 1)})
	waitIndexed(t, w)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, q := range []string{
		"INSERT INTO messages (id, room, username, content, timestamp, is_private) VALUES ('02', 'general', 'ann', 'plum tart', '2024-01-01T12:00:00.000Z', 0)",
		"INSERT INTO search_feed (low, high) VALUES ('02', '02')",
		"DELETE FROM search_feed",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	w = openTest(t, path, Options{})
	waitIndexed(t, w)
	if got := indexedIDs(t, path); !slices.Equal(got, []string{"01", "02"}) {
		t.Errorf("index after a gap in the feed: got %q, want [01 02]", got)
	}
}

// The writer deletes the feed rows the index has applied: the feed does
// not grow with the history.
func TestSearchFeedIsTrimmed(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	for i := range trimEvery + 20 {
		appendAll(t, w, []*actors.StoredMessage{msgWith(fmt.Sprintf("%04d", i), "general", "row", i)})
		waitIndexed(t, w)
	}
	var rows int
	if err := w.rdb.GetContext(testCtx(t), &rows, "SELECT COUNT(*) FROM search_feed"); err != nil {
		t.Fatal(err)
	}
	if rows >= trimEvery {
		t.Errorf("search_feed after %d batches, each indexed: got %d rows, want fewer than %d", trimEvery+20, rows, trimEvery)
	}
	if n := indexHolds(t, path, "row"); n != trimEvery+20 {
		t.Errorf("index: row in %d rows, want %d", n, trimEvery+20)
	}
}

// Close stops the indexer: WaitIndexed then reports the store closed
// rather than wait for ever.
func TestCloseStopsTheIndexer(t *testing.T) {
	w, err := Open(testCtx(t), tempDB(t), Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	release := holdIndexer(w)
	appendAll(t, w, []*actors.StoredMessage{msgWith("01", "general", "fig", 1)})
	release()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-w.idx.exited:
	default:
		t.Fatal("Close returned with the indexer still running")
	}
	// Whether the indexer applied the batch before it stopped is up to
	// the race with Close; either way the wait ends.
	if err := w.WaitIndexed(testCtx(t)); err != nil && !errors.Is(err, ErrClosed) {
		t.Errorf("WaitIndexed after Close: got %v, want nil or ErrClosed", err)
	}
}

// The indexer takes the feed's ranges that lie close in time as one, and
// never a room's deletion or an edit of an old message with them.
func TestFeedRangesMerge(t *testing.T) {
	at := func(ms uint64) string { return ulid.MustNew(ms, bytes.NewReader(make([]byte, 16))).String() }
	t0 := uint64(1_700_000_000_000)
	rng := func(lo, hi uint64) feedRow { return feedRow{Low: at(lo), High: at(hi)} }
	room := feedRow{Low: at(t0), High: at(t0), Room: sql.NullString{String: "tech", Valid: true}}
	for _, c := range []struct {
		name string
		g, f feedRow
		want bool
	}{
		{"two batches a few ms apart", rng(t0, t0+3), rng(t0+5, t0+9), true},
		{"a batch within the window of the group's first", rng(t0, t0+3), rng(t0+1900, t0+2000), true},
		{"an edit of a message older than the window", rng(t0+5000, t0+5001), rng(t0, t0), false},
		{"a room deleted", rng(t0, t0+3), room, false},
		{"after a room deleted", room, rng(t0, t0+3), false},
		{"an id that is not a ULID", rng(t0, t0+3), feedRow{Low: "x", High: "y"}, false},
	} {
		if got := mergeable(c.g, c.f); got != c.want {
			t.Errorf("%s: got mergeable %t, want %t", c.name, got, c.want)
		}
	}
}
