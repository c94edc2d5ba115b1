package persistence

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/actors"
)

var _ actors.Store = (*Store)(nil)

// ErrClosed is returned by Sync and CreateRoom once Close has begun.
var ErrClosed = errors.New("store closed")

// Store is parley's SQLite store: it satisfies actors.Store. Its methods are
// safe for concurrent use. Open starts its four goroutines and Close stops
// them, in this order:
//
//   - the writer (run, writer.go) makes every write, in batches, on the one
//     write connection;
//   - the acker (ackLoop, durable.go) makes each committed batch durable and
//     calls its done callbacks;
//   - the indexer (indexLoop, searchindex.go) keeps the search index, a
//     file of its own, after the writer's commits;
//   - the checkpointer (checkpointLoop, durable.go) copies the WAL into the
//     database file on a connection of its own.
//
// Reads (reads.go) go to a separate read-only pool; WAL lets them run while
// the writer commits.
type Store struct {
	opts    Options
	log     *slog.Logger
	path    string // as given to Open, for messages
	durable bool   // Options.Synchronous is FULL: the acker syncs the WAL before acknowledging

	// mu guards closed. Senders hold it for reading around their send, so
	// once Close holds it for writing no send is in flight and none can
	// start: the queue can then be drained to the last item without ever
	// closing it under a sender's feet. Account writes (accounts.go) hold
	// it for reading from start to sync, so Close waits for them too.
	mu     sync.RWMutex
	closed bool

	// items holds QueueMessages messages at most (pending bounds them)
	// plus controlSlots for Sync and CreateRoom, whose senders wait.
	items   chan item     // written by Append/Sync/CreateRoom under mu.RLock; read by run; never closed
	closing chan struct{} // closed by Close once no sender can send; read by run, which then drains and exits
	exited  chan struct{} // closed by run when it returns; read by Close

	acks        chan *batchBuf // written by run, in queue order, each batch once it is written or failed; read by the acker; closed by run when it exits
	spare       chan *batchBuf // buffers back from the acker (non-blocking send) to run (non-blocking receive); never closed
	ackerExited chan struct{}  // closed by the acker when it returns; read by Close
	ckptKick    chan struct{}  // capacity 1; written (never blocking) by run after a commit and by the acker after a failed sync; read by the checkpointer; never closed
	ckptStop    chan struct{}  // closed by Close after run and the acker exited; read by the checkpointer
	ckptExited  chan struct{}  // closed by the checkpointer when it returns; read by Close

	pending atomic.Int64 // messages accepted and not yet acknowledged or failed
	queued  atomic.Int64 // bytes charged by those messages

	// walMu is held by run around each transaction and by the
	// checkpointer around a RESTART checkpoint, which needs the write lock:
	// waiting here, in a fair Go mutex, the checkpointer gets its turn
	// between two batches instead of losing SQLite's busy-handler race to
	// the writer for the whole busy timeout.
	walMu sync.Mutex

	// A sync failure leaves the WAL untrusted until a RESTART checkpoint
	// begun after it succeeds (see durable.go): the acker counts failures,
	// the checkpointer stores the count its checkpoint made up for.
	syncFailures, recovered atomic.Uint64

	wdb   *sqlx.DB   // the write pool, held to one connection
	wconn *sqlx.Conn // that connection: used by Open, then by run alone, then by Close once run has exited
	rdb   *sqlx.DB   // read-only pool for History, Rooms, LastID, FindNonce, and the account reads
	adb   *sqlx.DB   // account writes (accounts.go), held to one connection; closed by Close once no write holds mu
	cdb   *sql.DB    // the checkpointer's pool, held to one connection
	cconn *sql.Conn  // that connection: used by the checkpointer alone, then by Close once it has exited
	wal   *os.File   // the -wal file: synced by the acker and by account writes (under mu's read lock), its size read by the checkpointer; closed by Close once all of them are done

	frameBytes int64 // size of one WAL frame: a page and its 24-byte header

	lastStamp atomic.Pointer[stamp] // the last timestamp Append formatted; see timestamp

	stmts writeStmts // prepared on wconn by Open; used by run only, then closed by Close once run has exited

	// Scratch reused from batch to batch; run only.
	args   []driver.NamedValue // Ordinal set once; Value cleared after each statement
	msgIdx []int
	// The last room, username and timestamp as interface values: boxing a
	// string allocates, and consecutive rows mostly share these.
	room, user, ts boxed

	closeOnce sync.Once
	closeErr  error

	stats counters

	idx searchIndex // the search index and its indexer (searchindex.go)
}

// restartBusyTimeout bounds how long a RESTART checkpoint waits for readers,
// holding the writer up meanwhile.
const restartBusyTimeout = 100 * time.Millisecond

// controlSlots is the room in the queue for Sync and CreateRoom beyond
// QueueMessages: their senders wait when it is taken.
const controlSlots = 64

// ackQueue is how many written batches may wait for the acker: enough for
// the writer to go on while a sync runs, few enough to bound what waits.
const ackQueue = 8

type counters struct {
	batches, rows, failedBatches, failedRows, rejected atomic.Uint64
	syncs, failedSyncs, checkpoints, walRestarts       atomic.Uint64
	lastBatchSize, lastCommitNanos                     atomic.Int64
}

// WriterStats is what every store's batching writer counts, SQLite's and
// PostgreSQL's (package pgstore) alike: WriterCollectors exports them under
// the same names for both.
type WriterStats struct {
	Batches       uint64        // transactions committed
	Rows          uint64        // messages committed and acknowledged as stored
	FailedBatches uint64        // transactions that failed; every item in them got the error
	FailedRows    uint64        // messages whose done got an error
	Rejected      uint64        // Appends refused: queue full (messages or bytes) or closed
	LastBatchSize int           // items in the last batch written, committed or not
	LastCommit    time.Duration // time spent writing the last batch, BEGIN to COMMIT
	QueueDepth    int           // messages accepted and not yet acknowledged or failed
	QueueBytes    int64         // bytes charged by those messages
}

// Stats is a snapshot of the store's counters. Taking one is cheap (a few
// atomic loads), so it can be read on every metrics scrape.
type Stats struct {
	WriterStats
	Syncs       uint64 // fdatasyncs of the WAL by the acker (FULL only; one may cover several batches)
	FailedSyncs uint64 // of those, the ones that failed
	Checkpoints uint64 // checkpoints run by the checkpointer
	WALRestarts uint64 // of those, RESTART checkpoints (WAL past WALLimit, or recovery after a failed sync)

	SearchBehind     int64 // search feed rows (batches, edits, rooms deleted) committed and not yet in the search index
	SearchRebuilding bool  // the search index is being rebuilt from messages
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		WriterStats: WriterStats{
			Batches:       s.stats.batches.Load(),
			Rows:          s.stats.rows.Load(),
			FailedBatches: s.stats.failedBatches.Load(),
			FailedRows:    s.stats.failedRows.Load(),
			Rejected:      s.stats.rejected.Load(),
			LastBatchSize: int(s.stats.lastBatchSize.Load()),
			LastCommit:    time.Duration(s.stats.lastCommitNanos.Load()),
			QueueDepth:    int(s.pending.Load()),
			QueueBytes:    s.queued.Load(),
		},
		Syncs:       s.stats.syncs.Load(),
		FailedSyncs: s.stats.failedSyncs.Load(),
		Checkpoints: s.stats.checkpoints.Load(),
		WALRestarts: s.stats.walRestarts.Load(),

		SearchBehind:     max(0, s.idx.committed.Load()-s.idx.applied.Load()),
		SearchRebuilding: s.idx.rebuilding.Load(),
	}
}

// Close stops accepting items, writes what is queued, calls every pending
// done, stops the acker and the checkpointer, checkpoints the WAL and closes
// the database. It is safe to call while
// other goroutines Append (they get false from the moment Close begins), and
// more than once: later calls wait for the first and return its result.
//
// If a batch fails while Close drains the queue, the items still queued
// after it are failed with that error rather than tried, so that Close ends
// in bounded time even when the database is locked or the disk full.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock() // waits for in-flight sends; fails every later TryRLock
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		<-s.exited        // run wrote or failed everything, and closed s.acks
		<-s.ackerExited   // every done has been called
		close(s.idx.stop) // no commit can feed it any more
		<-s.idx.exited
		close(s.ckptStop)
		<-s.ckptExited
		s.closeErr = s.closeDBs(true)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close database %q: %w", s.path, s.closeErr)
		}
	})
	return s.closeErr
}
