package persistence

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"parley/actors"
)

// storageFault appends m to w while a fault is in place and returns the
// error its done got, failing if it got none.
func appendExpectingFailure(t *testing.T, w *Store, m *actors.StoredMessage) error {
	t.Helper()
	r := newResults(1)
	if !w.Append(m, r.Done(m.ID)) {
		t.Fatalf("Append(%s) = false", m.ID)
	}
	err := r.Wait(t, 1)[m.ID]
	if err == nil {
		t.Fatalf("done(%s) = nil during a storage fault: acknowledged but not storable", m.ID)
	}
	return err
}

// checkStoredOnly fails unless room holds exactly ids, and the database
// passes integrity_check.
func checkStoredOnly(t *testing.T, w *Store, room string, ids ...string) {
	t.Helper()
	msgs, _, err := w.History(testCtx(t), actors.HistoryQuery{Room: room, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := historyIDs(msgs); !slices.Equal(got, ids) {
		t.Errorf("stored in %s: %q, want %q", room, got, ids)
	}
	var integrity string
	if err := w.rdb.GetContext(testCtx(t), &integrity, "PRAGMA integrity_check"); err != nil || integrity != "ok" {
		t.Errorf("integrity_check = %q, %v; want ok", integrity, err)
	}
}

// The database locked by another connection beyond the busy timeout: the
// batch fails, its done gets the error, the failure is logged with the batch
// size, and once the lock is released the next batch commits.
func TestRuntimeLockFailsBatchThenRecovers(t *testing.T) {
	logs := &syncBuffer{}
	path := tempDB(t)
	w := openTest(t, path, Options{
		BusyTimeout: 50 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(logs, nil)),
	})

	other := rawDB(t, path)
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec("INSERT INTO rooms (name, created_at) VALUES ('held', 'x')"); err != nil {
		t.Fatal(err) // the other connection now holds the write lock
	}

	err = appendExpectingFailure(t, w, roomMsg("m1", "general", "alice", 1))
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
		t.Errorf("done during the lock = %v, want SQLITE_BUSY", err)
	}
	if st := w.Stats(); st.FailedBatches != 1 || st.FailedRows != 1 || st.Rows != 0 {
		t.Errorf("Stats() = %+v, want 1 failed batch of 1 row, 0 rows", st)
	}
	if log := logs.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "batch failed") || !strings.Contains(log, "items=1") {
		t.Errorf("log = %q, want an ERROR about the failed batch with items=1", log)
	}

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	appendAll(t, w, []*actors.StoredMessage{roomMsg("m2", "general", "alice", 2)})
	checkStoredOnly(t, w, "general", "m2")
}

// A batch that fails while Close drains fails what is still queued behind it
// at once instead of waiting out the busy timeout once per batch; every done
// is still called exactly once.
func TestCloseAfterFailedBatchFailsTheRest(t *testing.T) {
	path := tempDB(t)
	w, err := Open(testCtx(t), path, Options{BusyTimeout: 50 * time.Millisecond, BatchMax: 2, BatchDelay: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	other := rawDB(t, path)
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec("INSERT INTO rooms (name, created_at) VALUES ('held', 'x')"); err != nil {
		t.Fatal(err)
	}
	// m1 and m2 fill a batch and fail on the lock; the writer then backs off,
	// leaving m3..m5 queued for Close to drain.
	r := newResults(5)
	for i := 1; i <= 5; i++ {
		m := roomMsg(string(rune('0'+i)), "general", "alice", i)
		if !w.Append(m, r.Done(m.ID)) {
			t.Fatalf("Append(%s) = false", m.ID)
		}
	}
	start := time.Now()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	elapsed := time.Since(start)
	got := r.Wait(t, 5)
	for id, err := range got {
		var se sqlite3.Error
		if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
			t.Errorf("done(%s) = %v, want an error wrapping SQLITE_BUSY", id, err)
		}
	}
	// Whichever way the writer and Close interleave, m1's batch is tried and
	// fails, so m5, last in the queue, is failed without being tried.
	if err := got["5"]; err == nil || !strings.Contains(err.Error(), "not written: writer closed after a failed batch") {
		t.Errorf("done(5) = %v, want it failed untried", err)
	}
	// At most two batches wait out the 50ms busy timeout.
	if elapsed > 2*time.Second {
		t.Errorf("Close took %v with a locked database", elapsed)
	}
}
