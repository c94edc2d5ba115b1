package persistence

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// gatedSync is a syncFile that counts the syncs and, while closed is not
// yet closed, holds each one until the test lets it go.
type gatedSync struct {
	entered chan struct{} // one value per sync begun; buffered generously
	release chan struct{} // closed by the test to let every sync through
	calls   atomic.Int64
}

func newGatedSync() *gatedSync {
	return &gatedSync{entered: make(chan struct{}, 1024), release: make(chan struct{})}
}

func (g *gatedSync) sync(f *os.File) error {
	g.calls.Add(1)
	g.entered <- struct{}{}
	select {
	case <-g.release:
	case <-time.After(testDeadline): // never hang a test: the sync goes through late
	}
	return fdatasync(f)
}

// waitFor polls cond until it holds, failing after the test deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testDeadline, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A committed batch is acknowledged only once the WAL sync after its commit
// has returned, and one sync covers every batch committed while the previous
// one ran (group commit).
func TestAcksOnlyAfterWALSync(t *testing.T) {
	gate := newGatedSync()
	w := openTest(t, tempDB(t), Options{BatchMax: 16, BatchDelay: time.Hour, syncFile: gate.sync})
	t.Cleanup(func() {
		select {
		case <-gate.release:
		default:
			close(gate.release)
		}
	})
	const n = 64 // four batches of 16
	r := newResults(n)
	var ids []string
	appendN := func(from, to int) {
		for i := from; i < to; i++ {
			m := roomMsg(fmt.Sprintf("m%02d", i), "general", "alice", i)
			if !w.Append(m, r.Done(m.ID)) {
				t.Fatalf("Append(%s) = false", m.ID)
			}
			ids = append(ids, m.ID)
		}
	}
	appendN(0, 16)
	waitClosedOrValue(t, gate.entered, "the first sync")
	appendN(16, n)
	// The writer goes on committing while the acker waits for the sync.
	waitFor(t, "four commits", func() bool { return w.Stats().Batches == 4 })
	time.Sleep(20 * time.Millisecond) // room for a wrong early ack to show
	if got := r.Called(); got != 0 {
		t.Fatalf("%d messages acknowledged before their WAL sync returned", got)
	}
	if st := w.Stats(); st.QueueDepth != n || st.Rows != 0 {
		t.Errorf("Stats() = %+v, want QueueDepth %d and no rows acknowledged while the sync runs", st, n)
	}
	close(gate.release)
	for id, err := range r.Wait(t, n) {
		if err != nil {
			t.Errorf("done(%s) = %v", id, err)
		}
	}
	// The first sync covered the first batch; the three batches committed
	// meanwhile share the second.
	if got := gate.calls.Load(); got != 2 {
		t.Errorf("%d syncs for 4 batches committed around one slow sync, want 2", got)
	}
	if st := w.Stats(); st.Syncs != 2 || st.Rows != n || st.QueueDepth != 0 || st.QueueBytes != 0 {
		t.Errorf("Stats() = %+v, want 2 syncs, %d rows, empty queue", st, n)
	}
	checkStoredOnly(t, w, "general", ids...)
}

// waitClosedOrValue waits for one value from ch, or its closing.
func waitClosedOrValue(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testDeadline):
		t.Fatalf("timed out after %v waiting for %s", testDeadline, what)
	}
}

// Acknowledgements come in queue order, across batches, group syncs,
// refused rows, rooms and barriers.
func TestAcksInQueueOrder(t *testing.T) {
	var syncs atomic.Int64
	slowSync := func(f *os.File) error { // slow enough for batches to pile up behind it
		syncs.Add(1)
		time.Sleep(time.Millisecond)
		return fdatasync(f)
	}
	w := openTest(t, tempDB(t), Options{BatchMax: 32, syncFile: slowSync})
	const n = 3000
	var (
		mu    sync.Mutex
		order []string
		errs  = map[string]error{}
		all   = make(chan struct{})
	)
	done := func(id string) func(error) {
		return func(err error) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, id)
			errs[id] = err
			if len(order) == n {
				close(all)
			}
		}
	}
	var want []string
	for i := range n {
		id := fmt.Sprintf("m%05d", i)
		if i%500 == 499 {
			id = fmt.Sprintf("m%05d", i-1) // a duplicate: refused alone, in its place
		}
		for !w.Append(roomMsg(id, "general", "alice", i), done(fmt.Sprint(i))) {
			runtime.Gosched() // queue full: let the writer and the acker run
		}
		want = append(want, fmt.Sprint(i))
		if i%1000 == 0 {
			if err := w.Sync(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitClosed(t, all, "every acknowledgement")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, want) {
		t.Fatalf("acknowledgements out of queue order")
	}
	for i := range n {
		err := errs[fmt.Sprint(i)]
		if dup := i%500 == 499; dup != errors.Is(err, actors.ErrDuplicate) {
			t.Errorf("done(%d) = %v, want a duplicate error: %v", i, err, dup)
		}
	}
	st := w.Stats()
	t.Logf("%d batches, %d syncs", st.Batches, syncs.Load())
	if st.Syncs == 0 || st.Syncs > st.Batches {
		t.Errorf("Stats() = %+v: want between 1 sync and one per batch", st)
	}
}

// A failed sync fails the messages it was to make durable: their done gets
// the error, they are not counted as stored. Commits synced after it are not
// acknowledged either until a checkpoint has recovered the WAL (here held
// back by a reader); then acknowledgements resume.
func TestSyncFailureFailsBatch(t *testing.T) {
	injected := errors.New("injected: no space left on device")
	var failNext atomic.Bool
	failNext.Store(true)
	syncFile := func(f *os.File) error {
		if failNext.CompareAndSwap(true, false) {
			return injected
		}
		return fdatasync(f)
	}
	logs := &syncBuffer{}
	path := tempDB(t)
	w := openTest(t, path, Options{BusyTimeout: 50 * time.Millisecond, syncFile: syncFile, Logger: slog.New(slog.NewTextHandler(logs, nil))})

	// A reader holding a snapshot keeps the recovering RESTART checkpoint
	// from finishing.
	reader := rawDB(t, path)
	tx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	var count int
	if err := tx.QueryRow("SELECT count(*) FROM messages").Scan(&count); err != nil {
		t.Fatal(err)
	}

	err = appendExpectingFailure(t, w, roomMsg("m1", "general", "alice", 1))
	if !errors.Is(err, injected) || !strings.HasPrefix(err.Error(), "sync wal: ") {
		t.Errorf("done after a failed sync = %v, want 'sync wal: ...' wrapping the sync's error", err)
	}
	if st := w.Stats(); st.FailedSyncs != 1 || st.FailedRows != 1 || st.Rows != 0 || st.Batches != 1 {
		t.Errorf("Stats() = %+v, want 1 failed sync, 1 failed row, 0 rows, 1 batch", st)
	}
	if log := logs.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "wal sync failed") {
		t.Errorf("log = %q, want an ERROR about the failed sync", log)
	}

	// This sync succeeds, but the frames before it may not be on disk.
	err = appendExpectingFailure(t, w, roomMsg("m2", "general", "alice", 2))
	if !errors.Is(err, errNotRecovered) {
		t.Errorf("done after a failed sync, before recovery = %v, want %v", err, errNotRecovered)
	}

	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// The checkpointer retries on its own; the first append after it
	// succeeds is acknowledged.
	waitFor(t, "the recovering checkpoint", func() bool { return w.Stats().WALRestarts > 0 })
	appendAll(t, w, []*actors.StoredMessage{roomMsg("m3", "general", "alice", 3)})
	msgs, _, err := w.History(testCtx(t), actors.HistoryQuery{Room: "general", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	// m1 and m2 were committed, so they are there; they were never
	// acknowledged as stored, which is all the promise is about.
	if got := historyIDs(msgs); !slices.Contains(got, "m3") {
		t.Errorf("stored %q, want m3 among them", got)
	}
}

// Under sustained load the WAL restarts once it passes WALLimit, so that it
// stays bounded although PASSIVE checkpoints alone never catch up.
func TestWALBoundedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("sustained load")
	}
	const limit = 256 << 10
	path := tempDB(t)
	w := openTest(t, path, Options{WALLimit: limit, Synchronous: "NORMAL"})

	var maxWAL atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // samples the WAL's size until stop is closed, then closes sampled
		defer close(sampled)
		for {
			if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > maxWAL.Load() {
				maxWAL.Store(fi.Size())
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()

	// Far more than the limit: about 60 MiB of rows and index entries.
	const n = 200_000
	content := strings.Repeat("x", 200)
	var failed atomic.Int64
	done := func(err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	for i := range n {
		m := &actors.StoredMessage{ID: benchID(i), Room: fmt.Sprint("r", i%10), Username: "alice", Content: content, Timestamp: baseTime}
		for !w.Append(m, done) {
			time.Sleep(50 * time.Microsecond) // queue full: let the writer run
		}
	}
	if err := w.Sync(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	close(stop)
	waitClosed(t, sampled, "the sampler to stop")
	st := w.Stats()
	t.Logf("largest WAL %d KiB (limit %d KiB); %d batches, %d checkpoints, %d restarts",
		maxWAL.Load()>>10, limit>>10, st.Batches, st.Checkpoints, st.WALRestarts)
	if failed.Load() != 0 {
		t.Fatalf("%d messages failed", failed.Load())
	}
	if st.WALRestarts == 0 {
		t.Errorf("no WAL restart after %d messages with a %d KiB limit", n, limit>>10)
	}
	// What the writer commits between two checkpoint rounds overshoots the
	// limit; unbounded, the WAL would hold every row written.
	if got := maxWAL.Load(); got > limit+16<<20 {
		t.Errorf("WAL reached %d KiB, want at most the %d KiB limit plus 16 MiB", got>>10, limit>>10)
	}
}

// Close stops the acker and the checkpointer, and leaves no goroutine
// behind.
func TestCloseStopsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	w, err := Open(testCtx(t), tempDB(t), Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*actors.StoredMessage
	for i := range 100 {
		msgs = append(msgs, roomMsg(fmt.Sprint(i), "general", "alice", i))
	}
	appendAll(t, w, msgs)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []struct {
		c    chan struct{}
		name string
	}{{w.exited, "the writer"}, {w.ackerExited, "the acker"}, {w.ckptExited, "the checkpointer"}} {
		waitClosed(t, ch.c, ch.name+" to exit")
	}
	waitFor(t, "the goroutine count to come back", func() bool { return runtime.NumGoroutine() <= before })
}

// Only FULL syncs the WAL before acknowledging; NORMAL and OFF acknowledge
// at commit.
func TestSyncsOnlyWhenFull(t *testing.T) {
	for _, tc := range []struct {
		sync  string
		syncs bool
	}{{"FULL", true}, {"NORMAL", false}, {"OFF", false}} {
		t.Run(tc.sync, func(t *testing.T) {
			var calls atomic.Int64
			count := func(f *os.File) error { calls.Add(1); return fdatasync(f) }
			w := openTest(t, tempDB(t), Options{Synchronous: tc.sync, syncFile: count})
			appendAll(t, w, []*actors.StoredMessage{roomMsg("m1", "general", "alice", 1)})
			if got := calls.Load() > 0; got != tc.syncs {
				t.Errorf("%s: %d syncs, want syncs: %v", tc.sync, calls.Load(), tc.syncs)
			}
		})
	}
}

func TestTimestampCache(t *testing.T) {
	w := openTest(t, tempDB(t), Options{})
	paris := time.FixedZone("CET", 3600)
	for _, ts := range []time.Time{
		baseTime,
		baseTime.Add(500 * time.Microsecond), // same millisecond
		baseTime.Add(time.Millisecond),
		baseTime.In(paris), // same instant elsewhere
		time.Date(1969, 12, 31, 23, 59, 59, 999_900_000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
		baseTime,
	} {
		if got, want := w.timestamp(ts), protocol.FormatTimestamp(ts); got != want {
			t.Errorf("timestamp(%v) = %q, want %q", ts, got, want)
		}
	}
}
