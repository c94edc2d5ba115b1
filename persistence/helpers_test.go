package persistence

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/persistence/storetest"
)

// testDeadline bounds every wait in these tests.
const testDeadline = 10 * time.Second

// The helpers the SQLite tests share with the conformance suite are the
// suite's own (persistence/storetest).
var (
	baseTime   = storetest.BaseTime
	roomMsg    = storetest.RoomMsg
	privMsg    = storetest.PrivMsg
	newResults = storetest.NewResults
	historyIDs = storetest.HistoryIDs
	waitClosed = storetest.WaitClosed
)

func appendAll(t testing.TB, w *Store, msgs []*actors.StoredMessage) {
	t.Helper()
	storetest.AppendAll(t, w, msgs)
}

func blockWriter(t testing.TB, w *Store) (release func()) {
	t.Helper()
	return storetest.BlockWriter(t, w)
}

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
