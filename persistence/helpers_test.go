package persistence

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/actors"
)

// testDeadline bounds every wait in these tests.
const testDeadline = 10 * time.Second

var baseTime = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	t.Cleanup(cancel)
	return ctx
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func tempDB(t testing.TB) string { return filepath.Join(t.TempDir(), "chat.db") }

// openTest opens a writer on path and closes it when the test ends.
func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	w, err := Open(testCtx(t), path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return w
}

// rawDB opens path with a plain connection of its own, as another program
// (the sqlite3 shell, another process) would.
func rawDB(t testing.TB, path string) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("sqlite3", path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatalf("open raw connection: %v", err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func roomMsg(id, room, user string, i int) *actors.StoredMessage {
	return &actors.StoredMessage{
		ID:        id,
		Room:      room,
		Username:  user,
		Content:   fmt.Sprintf("message %d from %s", i, user),
		Timestamp: baseTime.Add(time.Duration(i) * time.Millisecond),
	}
}

func privMsg(id, from, to string, i int) *actors.StoredMessage {
	return &actors.StoredMessage{
		ID:        id,
		Username:  from,
		Recipient: to,
		Content:   fmt.Sprintf("private %d from %s", i, from),
		Timestamp: baseTime.Add(time.Duration(i) * time.Millisecond),
		Private:   true,
	}
}

type result struct {
	id  string
	err error
}

// results collects done outcomes. Its channel is buffered for every message
// a test appends, so a done callback never blocks the writer.
type results struct{ ch chan result }

func newResults(n int) *results { return &results{ch: make(chan result, n)} }

func (r *results) done(id string) func(error) {
	return func(err error) { r.ch <- result{id, err} }
}

// wait returns the outcome of n messages by id, failing on a timeout or on a
// done called twice for one id.
func (r *results) wait(t testing.TB, n int) map[string]error {
	t.Helper()
	got := make(map[string]error, n)
	deadline := time.NewTimer(testDeadline)
	defer deadline.Stop()
	for len(got) < n {
		select {
		case res := <-r.ch:
			if _, dup := got[res.id]; dup {
				t.Fatalf("done called twice for %s", res.id)
			}
			got[res.id] = res.err
		case <-deadline.C:
			t.Fatalf("after %v, %d of %d done callbacks called", testDeadline, len(got), n)
		}
	}
	return got
}

// appendAll appends msgs, failing if any is refused, and waits for all of
// them, failing unless every one was committed.
func appendAll(t testing.TB, w *Store, msgs []*actors.StoredMessage) {
	t.Helper()
	r := newResults(len(msgs))
	for _, m := range msgs {
		if !w.Append(m, r.done(m.ID)) {
			t.Fatalf("Append(%s) = false, want true", m.ID)
		}
	}
	for id, err := range r.wait(t, len(msgs)) {
		if err != nil {
			t.Fatalf("done(%s) = %v, want nil", id, err)
		}
	}
}

// waitClosed fails unless ch is closed within the deadline.
func waitClosed(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testDeadline):
		t.Fatalf("timed out after %v waiting for %s", testDeadline, what)
	}
}

// blockWriter appends a message whose done blocks the writer's goroutine
// until the returned release is called (also called at cleanup), and returns
// once the writer is blocked there: from then on nothing reads the queue.
// Nothing else may be appended before it returns, so that the blocker is
// written alone (at once with BatchMax 1, else after BatchDelay).
func blockWriter(t testing.TB, w *Store) (release func()) {
	t.Helper()
	entered := make(chan struct{})
	unblock := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release) // runs before the Close registered by openTest
	if !w.Append(roomMsg("blocker", "general", "alice", 0), func(error) {
		close(entered)
		<-unblock
	}) {
		t.Fatal("Append(blocker) = false, want true")
	}
	waitClosed(t, entered, "the writer to call the blocking done")
	return release
}

// syncBuffer is a bytes.Buffer safe for the writer's goroutine to log into
// while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func historyIDs(msgs []actors.StoredMessage) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}
