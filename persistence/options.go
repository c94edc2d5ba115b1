package persistence

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"
)

// Options tunes a Store. The zero value, and any zero field, asks for the
// default.
type Options struct {
	QueueMessages int           // messages accepted but not yet acknowledged; default 8192
	QueueBytes    int64         // bytes of those messages (see messageSize); default 16 MiB
	BatchMax      int           // items per transaction at most; default 512
	BatchDelay    time.Duration // after the first item, wait at most this long for more; default 10ms
	BusyTimeout   time.Duration // how long SQLite waits for a lock held elsewhere; default 5s

	// Synchronous is what an acknowledgement promises; default FULL.
	//
	// FULL: the message survives power loss. The writer commits with
	// SQLite's synchronous=NORMAL and another goroutine fdatasyncs the WAL
	// after each commit (one sync covering every batch committed
	// meanwhile) before acknowledging: as durable as SQLite's FULL (see
	// durable.go), without an fsync on the writer's goroutine.
	//
	// NORMAL: acknowledged at commit, without that sync. It survives a
	// crash of the process, but power loss can take the last commits
	// (never corrupting the database).
	//
	// OFF: SQLite syncs nothing, not even at checkpoints: for tests and
	// benchmarks only; power loss can corrupt the database.
	//
	// EXTRA is refused: in WAL mode it adds nothing over FULL.
	Synchronous string

	CheckpointInterval time.Duration // least time between two background checkpoints while the writer is busy (quietCheckpointPause otherwise); default 5ms
	WALLimit           int64         // WAL bytes past which a checkpoint restarts it, briefly holding the writer up; default 64 MiB

	// SearchWait bounds how long a Search waits for the search index to
	// catch up with what was committed before it (searchindex.go: the
	// index follows the commits); default 2s, negative: never wait. It
	// only waits when the index is a few batches behind at most.
	SearchWait time.Duration

	Logger *slog.Logger // default slog.Default()

	// syncFile makes the WAL durable; tests replace it to count or fail
	// syncs. Default fdatasync.
	syncFile func(*os.File) error
}

// connSynchronous is the PRAGMA synchronous that the writer's and the
// checkpointer's connections run with for each Options.Synchronous, as the
// pragma reads it back (Open checks). FULL's per-commit sync is the acker's,
// not SQLite's.
var connSynchronous = map[string]struct {
	name  string
	level int
}{"OFF": {"OFF", 0}, "NORMAL": {"NORMAL", 1}, "FULL": {"NORMAL", 1}}

// withDefaults fills in every zero field and checks Synchronous.
func (o Options) withDefaults() (Options, error) {
	if o.QueueMessages <= 0 {
		o.QueueMessages = 8192
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 16 << 20
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 512
	}
	if o.BatchDelay <= 0 {
		// A transaction costs its commit, a sync and a checkpoint however
		// few messages it holds; at an everyday load, batches gathered
		// for 2 ms cost the server a sixth more CPU per delivery than
		// 10 ms (docs/performance.md). A sender's Ack waits the
		// difference; deliveries do not wait for the store at all.
		o.BatchDelay = 10 * time.Millisecond
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Synchronous == "" {
		o.Synchronous = "FULL"
	}
	if _, ok := connSynchronous[strings.ToUpper(o.Synchronous)]; !ok {
		return o, fmt.Errorf("invalid synchronous mode %q (want FULL, NORMAL or OFF)", o.Synchronous)
	}
	o.Synchronous = strings.ToUpper(o.Synchronous)
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 5 * time.Millisecond
	}
	if o.WALLimit <= 0 {
		o.WALLimit = 64 << 20
	}
	if o.SearchWait == 0 {
		o.SearchWait = 2 * time.Second
	}
	if o.syncFile == nil {
		o.syncFile = fdatasync
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
