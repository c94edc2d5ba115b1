package persistence

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"parley/actors"
)

var _ actors.Store = (*Store)(nil)

// ErrClosed is returned by Sync and CreateRoom once Close has begun.
var ErrClosed = errors.New("store closed")

// Options tunes a Store. The zero value, and any zero field, asks for the
// default.
type Options struct {
	QueueMessages int           // messages accepted but not yet acknowledged; default 8192
	QueueBytes    int64         // bytes of those messages (see messageSize); default 16 MiB
	BatchMax      int           // items per transaction at most; default 512
	BatchDelay    time.Duration // after the first item, wait at most this long for more; default 2ms
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

	CheckpointInterval time.Duration // least time between two background checkpoints; default 5ms
	WALLimit           int64         // WAL bytes past which a checkpoint restarts it, briefly holding the writer up; default 64 MiB

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
		o.BatchDelay = 2 * time.Millisecond
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
	if o.syncFile == nil {
		o.syncFile = fdatasync
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}

// itemOverhead is what an accepted message costs besides its strings: the
// StoredMessage, its queue slot and its done closure, roughly.
const itemOverhead = 128

// messageSize is what m is charged against Options.QueueBytes.
func messageSize(m *actors.StoredMessage) int64 {
	return int64(len(m.ID)+len(m.Room)+len(m.Username)+len(m.Recipient)+len(m.Content)+len(m.Nonce)) + itemOverhead
}

// Failed commits are retried no sooner than this, doubling up to maxBackoff,
// so that a full disk or a lost lock does not turn the writer into a busy loop.
const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
)

// Messages are inserted with multi-row INSERTs of these many rows, largest
// first: one statement per 64 rows costs far less than 64 statements
// (~495k against ~340k rows/s measured here), and 8 then 1 cover the rest.
var chunkSizes = [...]int{64, 8, 1}

const messageColumns = 8 // id, room, username, content, timestamp, is_private, recipient, nonce

// insertMessagesSQL is INSERT OR FAIL, not INSERT: a plain INSERT of several
// rows aborts as a whole on a constraint, so SQLite first copies every
// existing page the statement changes into a statement journal, to be able
// to undo the rows already inserted. With messages of ten rooms in a batch,
// each statement changes ten places of the (room, id) index, and that
// journal took a quarter of the writer's time (the persist scenario went
// from 215k to 350-400k msgs/s without it). OR FAIL keeps the rows before
// the refused one, needs no statement journal, and leaves their count in
// changes(), which is how writeTx knows which row was refused.
func insertMessagesSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT OR FAIL INTO messages (id, room, username, content, timestamp, is_private, recipient, nonce) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

type itemKind uint8

const (
	kindMessage itemKind = iota // Append
	kindRoom                    // CreateRoom
	kindBarrier                 // Sync
)

// item is one entry of the writer's queue.
type item struct {
	msg  *actors.StoredMessage // kindMessage
	room *actors.RoomRecord    // kindRoom
	ts   string                // msg.Timestamp or room.CreatedAt as stored, formatted by the sender
	done func(error)           // called once by run when the item is written or failed; may be nil
	size int64                 // charged against Options.QueueBytes; 0 except for messages
	kind itemKind
}

// Store is parley's SQLite store: it satisfies actors.Store. All writes are
// made by its writer goroutine, started by Open; reads go to a separate pool.
// Two helpers run beside the writer: the acker, which makes commits durable
// and calls the done callbacks, and the checkpointer (see durable.go). Its
// methods are safe for concurrent use.
type Store struct {
	opts    Options
	log     *slog.Logger
	path    string // as given to Open, for messages
	durable bool   // Options.Synchronous is FULL: the acker syncs the WAL before acknowledging

	// mu guards closed. Senders hold it for reading around their send, so
	// once Close holds it for writing no send is in flight and none can
	// start: the queue can then be drained to the last item without ever
	// closing it under a sender's feet.
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
	rdb   *sqlx.DB   // read-only pool for History, Rooms, LastID, FindNonce
	cdb   *sql.DB    // the checkpointer's pool, held to one connection
	cconn *sql.Conn  // that connection: used by the checkpointer alone, then by Close once it has exited
	wal   *os.File   // the -wal file: synced by the acker, its size read by the checkpointer; closed by Close once both exited

	frameBytes int64 // size of one WAL frame: a page and its 24-byte header

	lastStamp atomic.Pointer[stamp] // the last timestamp Append formatted; see timestamp

	// Prepared once on wconn's driver connection, reached through
	// sqlx.Conn.Raw and used only inside Raw: database/sql would box,
	// check and convert the 8 arguments of every row on each call. Used by
	// run only (and closed by Close once run has exited).
	insert                    [len(chunkSizes)]rawStmt // insert[i] inserts chunkSizes[i] rows
	insertRoom                rawStmt
	changes                   rawStmt // SELECT changes(): rows the last insert kept
	begin, commit, rollbackSt rawStmt

	// Scratch reused from batch to batch; run only.
	args   []driver.NamedValue // Ordinal set once; Value cleared after each statement
	msgIdx []int
	// The last room, username and timestamp as interface values: boxing a
	// string allocates, and consecutive rows mostly share these.
	room, user, ts boxed

	closeOnce sync.Once
	closeErr  error

	stats counters
}

// rawStmt is a statement prepared on the driver's connection.
type rawStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
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

// Stats is a snapshot of the writer's counters. Taking one is cheap (a few
// atomic loads), so it can be read on every metrics scrape.
type Stats struct {
	Batches       uint64        // transactions committed
	Rows          uint64        // messages committed and acknowledged as stored
	FailedBatches uint64        // transactions that failed; every item in them got the error
	FailedRows    uint64        // messages whose done got an error
	Rejected      uint64        // Appends refused: queue full (messages or bytes) or closed
	Syncs         uint64        // fdatasyncs of the WAL by the acker (FULL only; one may cover several batches)
	FailedSyncs   uint64        // of those, the ones that failed
	Checkpoints   uint64        // checkpoints run by the checkpointer
	WALRestarts   uint64        // of those, RESTART checkpoints (WAL past WALLimit, or recovery after a failed sync)
	LastBatchSize int           // items in the last batch written, committed or not
	LastCommit    time.Duration // time spent writing the last batch, BEGIN to COMMIT
	QueueDepth    int           // messages accepted and not yet acknowledged or failed
	QueueBytes    int64         // bytes charged by those messages
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Batches:       s.stats.batches.Load(),
		Rows:          s.stats.rows.Load(),
		FailedBatches: s.stats.failedBatches.Load(),
		FailedRows:    s.stats.failedRows.Load(),
		Rejected:      s.stats.rejected.Load(),
		Syncs:         s.stats.syncs.Load(),
		FailedSyncs:   s.stats.failedSyncs.Load(),
		Checkpoints:   s.stats.checkpoints.Load(),
		WALRestarts:   s.stats.walRestarts.Load(),
		LastBatchSize: int(s.stats.lastBatchSize.Load()),
		LastCommit:    time.Duration(s.stats.lastCommitNanos.Load()),
		QueueDepth:    int(s.pending.Load()),
		QueueBytes:    s.queued.Load(),
	}
}

// Open opens (creating if needed) the database at path, brings its schema up
// to date and starts the writer's goroutine. The database must be writable:
// a missing directory, a directory, a read-only file, a file that is not a
// database or one locked by another process for longer than
// opts.BusyTimeout all fail here, with an error naming the path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	s, err := open(ctx, path, opts)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	return s, nil
}

func open(ctx context.Context, path string, opts Options) (_ *Store, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("empty path")
	}
	// SQLite reports all of these as "unable to open database file"; say
	// which one it is.
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, errors.New("is a directory")
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return nil, err // e.g. "stat /no/such: no such file or directory"
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	// WAL mode creates chat.db-wal and chat.db-shm next to the database.
	// Probe with a file of our own: on a read-only file system SQLite's
	// own report is a misleading "no such file or directory".
	probe, err := os.CreateTemp(dir, ".parley-probe-*")
	if err != nil {
		return nil, fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name()) // a leftover empty probe file would be harmless
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}

	s := &Store{
		opts:        opts,
		log:         opts.Logger,
		path:        path,
		durable:     opts.Synchronous == "FULL",
		items:       make(chan item, opts.QueueMessages+controlSlots),
		closing:     make(chan struct{}),
		exited:      make(chan struct{}),
		acks:        make(chan *batchBuf, ackQueue),
		spare:       make(chan *batchBuf, ackQueue+2),
		ackerExited: make(chan struct{}),
		ckptKick:    make(chan struct{}, 1),
		ckptStop:    make(chan struct{}),
		ckptExited:  make(chan struct{}),
		args:        make([]driver.NamedValue, chunkSizes[0]*messageColumns),
		msgIdx:      make([]int, 0, opts.BatchMax),
	}
	for i := range s.args {
		s.args[i].Ordinal = i + 1
	}
	defer func() {
		if err != nil {
			// No checkpoint: it could wait out the busy timeout again on
			// a locked database. The error that failed Open is the one
			// to report.
			_ = s.closeDBs(false)
		}
	}()

	busyMillis := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	connSync := connSynchronous[opts.Synchronous]
	// go-sqlite3 does not turn WAL on by itself, so ask for it, and say
	// which synchronous level rather than rely on its default.
	// _txlock=immediate makes BeginTx take the write lock at BEGIN, where
	// the busy timeout applies, rather than fail on the first write.
	s.wdb, err = sqlx.Open("sqlite3", sqliteURI(abs, url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {connSync.name},
		"_busy_timeout": {busyMillis},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return nil, err
	}
	// One connection: SQLite has one writer at a time anyway, and one
	// connection makes the run goroutine its only user.
	s.wdb.SetMaxOpenConns(1)
	s.wconn, err = s.wdb.Connx(ctx)
	if err != nil {
		return nil, err // SQLite's own words, e.g. "file is not a database"
	}
	var mode string
	if err := s.wconn.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil {
		return nil, fmt.Errorf("enable wal: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("enable wal: journal_mode is %q (is the file system read-only, or unable to share memory?)", mode)
	}
	var level int
	if err := s.wconn.GetContext(ctx, &level, "PRAGMA synchronous"); err != nil {
		return nil, fmt.Errorf("set synchronous: %w", err)
	}
	if level != connSync.level {
		return nil, fmt.Errorf("set synchronous: got %d, want %d (%s)", level, connSync.level, connSync.name)
	}
	// The checkpointer checkpoints; the writer's commits must not (see
	// durable.go). When a checkpoint lets the writer start the WAL over, it
	// also cuts the file back to WALLimit, should it have grown past it.
	if _, err := s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d", opts.WALLimit)); err != nil {
		return nil, fmt.Errorf("set wal pragmas: %w", err)
	}
	var pageSize int64
	if err := s.wconn.GetContext(ctx, &pageSize, "PRAGMA page_size"); err != nil {
		return nil, fmt.Errorf("read page size: %w", err)
	}
	s.frameBytes = pageSize + 24
	if err := migrate(ctx, s.wconn); err != nil {
		return nil, fmt.Errorf("migrate schema: %w", err)
	}
	if err := s.prepare(ctx); err != nil {
		return nil, fmt.Errorf("prepare statements: %w", err)
	}
	// The migration's commit created the -wal file (if there was none),
	// and it stays until the last connection closes, at Close.
	if s.wal, err = openWAL(abs + "-wal"); err != nil {
		return nil, err
	}

	// The checkpointer's connection. It syncs the WAL before copying it and
	// the database file after: never OFF unless everything is. Its busy
	// timeout is short because a RESTART checkpoint holds the writer up
	// while it waits for readers: one that pins the WAL (a long read
	// elsewhere) costs a short stall and a retry, not seconds of writes.
	s.cdb, err = sql.Open("sqlite3", sqliteURI(abs, url.Values{
		"_synchronous":  {connSync.name},
		"_busy_timeout": {strconv.FormatInt(min(opts.BusyTimeout, restartBusyTimeout).Milliseconds(), 10)},
	}))
	if err != nil {
		return nil, fmt.Errorf("open checkpoint connection: %w", err)
	}
	s.cdb.SetMaxOpenConns(1)
	if s.cconn, err = s.cdb.Conn(ctx); err != nil {
		return nil, fmt.Errorf("open checkpoint connection: %w", err)
	}

	// The read pool opens the file read-only: reads can never write, and
	// in WAL mode they do not wait for the writer nor it for them.
	s.rdb, err = sqlx.Open("sqlite3", sqliteURI(abs, url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {busyMillis},
	}))
	if err != nil {
		return nil, fmt.Errorf("open read pool: %w", err)
	}
	s.rdb.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	if err := s.rdb.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("open read pool: %w", err)
	}

	// The writer's goroutine: the only user of wconn and its statements
	// from here on. It runs until Close closes s.closing, then drains the
	// queue, closes s.acks and closes s.exited.
	go s.run()
	// The acker: syncs the WAL and calls the done callbacks of what run
	// hands it. It drains s.acks until run closes it, then closes
	// s.ackerExited.
	go s.ackLoop()
	// The checkpointer: the only user of cconn from here on. It runs until
	// Close closes s.ckptStop (after the two above exited), then closes
	// s.ckptExited.
	go s.checkpointLoop()
	return s, nil
}

// sqliteURI builds a file: URI for path, escaped so that a '?' or '#' in a
// file name cannot be read as the start of the parameters. go-sqlite3 reads
// the parameters starting with '_'; SQLite itself reads mode and ignores the
// rest.
func sqliteURI(absPath string, params url.Values) string {
	return "file:" + (&url.URL{Path: absPath}).EscapedPath() + "?" + params.Encode()
}

// prepare prepares the writer's statements on the driver's connection.
// Transactions are driven by hand on the one connection, not through sql.Tx,
// so the statements are used directly, without re-binding them to a
// transaction for every batch.
func (s *Store) prepare(ctx context.Context) error {
	return s.wconn.Raw(func(dc any) error {
		conn, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return fmt.Errorf("driver connection %T cannot prepare with a context", dc)
		}
		prep := func(dst *rawStmt, query string) error {
			st, err := conn.PrepareContext(ctx, query)
			if err != nil {
				return err
			}
			rs, ok := st.(rawStmt)
			if !ok {
				_ = st.Close()
				return fmt.Errorf("driver statement %T cannot execute with a context", st)
			}
			*dst = rs
			return nil
		}
		for i, n := range chunkSizes {
			if err := prep(&s.insert[i], insertMessagesSQL(n)); err != nil {
				return fmt.Errorf("insert %d messages: %w", n, err)
			}
		}
		if err := prep(&s.insertRoom, "INSERT OR IGNORE INTO rooms (name, created_at) VALUES (?, ?)"); err != nil {
			return fmt.Errorf("insert room: %w", err)
		}
		if err := prep(&s.changes, "SELECT changes()"); err != nil {
			return fmt.Errorf("changes: %w", err)
		}
		if err := prep(&s.begin, "BEGIN IMMEDIATE"); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := prep(&s.commit, "COMMIT"); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		if err := prep(&s.rollbackSt, "ROLLBACK"); err != nil {
			return fmt.Errorf("rollback: %w", err)
		}
		return nil
	})
}

// Append queues m to be written with the next batch, without blocking. It
// reports false, and never calls done, when the queue is full in messages or
// in bytes, or the writer is closing; nothing of m is then kept. Otherwise
// done (if not nil) is called exactly once, on the writer's acker goroutine,
// in the order of the queue: after the transaction holding m committed and
// (with Synchronous FULL) the WAL was synced (nil), or once either failed
// (the error; it wraps actors.ErrDuplicate for a duplicate id or nonce). done
// must not block, nor call Sync, CreateRoom or Close, which wait for the
// acker. The writer owns m from the call on. A nil m is refused.
//
// A message is stored as given, except that a private message must have an
// empty Room and a Recipient, and a room message a Room and no Recipient;
// one that does not is failed through done.
func (s *Store) Append(m *actors.StoredMessage, done func(error)) bool {
	if m == nil {
		s.stats.rejected.Add(1)
		return false
	}
	size := messageSize(m)
	// TryRLock fails only while Close holds or waits for the lock: closing.
	if !s.mu.TryRLock() {
		s.stats.rejected.Add(1)
		return false
	}
	ok := false
	// Both charges are taken back unless m is queued: nothing half-happens.
	if !s.closed {
		if s.pending.Add(1) <= int64(s.opts.QueueMessages) {
			if s.queued.Add(size) <= s.opts.QueueBytes {
				// The timestamp is formatted here, on the sender's
				// goroutine, to take that work off the writer's, which
				// is the bottleneck.
				it := item{kind: kindMessage, msg: m, ts: s.timestamp(m.Timestamp), done: done, size: size}
				select {
				case s.items <- it:
					ok = true
				default: // cannot happen while pending bounds the messages; never block a room
				}
			}
			if !ok {
				s.queued.Add(-size)
			}
		}
		if !ok {
			s.pending.Add(-1)
		}
	}
	s.mu.RUnlock()
	if !ok {
		s.stats.rejected.Add(1)
	}
	return ok
}

// stamp is a timestamp as stored, with the millisecond it renders.
type stamp struct {
	sec    int64
	milli  int
	string string
}

// timestamp is formatTimestamp(t), remembering the last result: messages
// come in at many per millisecond, and formatting is most of what Append
// costs. Concurrent Appends may replace each other's entry; any entry is
// right for its own millisecond.
func (s *Store) timestamp(t time.Time) string {
	sec, milli := t.Unix(), t.Nanosecond()/int(time.Millisecond)
	if c := s.lastStamp.Load(); c != nil && c.sec == sec && c.milli == milli {
		return c.string
	}
	str := formatTimestamp(t)
	s.lastStamp.Store(&stamp{sec: sec, milli: milli, string: str})
	return str
}

// send queues it, waiting for room in the queue as long as ctx allows.
func (s *Store) send(ctx context.Context, it item) error {
	if !s.mu.TryRLock() {
		return ErrClosed
	}
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	// Holding the read lock while blocked is safe: run keeps taking items
	// until Close, which waits for this send, has taken the lock.
	select {
	case s.items <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sync returns once everything appended before the call has been committed
// or has failed; each message's outcome goes to its own done. Sync's own error
// is only about Sync: ctx ended, or the writer is closed (ErrClosed). It must
// not be called from a done callback.
func (s *Store) Sync(ctx context.Context) error {
	reply := make(chan error, 1) // buffered: run must never block on a caller that gave up
	if err := s.send(ctx, item{kind: kindBarrier, done: func(err error) { reply <- err }}); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("sync: %w", ctx.Err())
	}
}

// CreateRoom records a room. Recording one that exists is not an error and
// keeps its first created_at. The room is written by the writer's goroutine,
// in order with the messages appended before it.
func (s *Store) CreateRoom(ctx context.Context, name string, createdAt time.Time) error {
	reply := make(chan error, 1) // buffered: run must never block on a caller that gave up
	rec := &actors.RoomRecord{Name: name, CreatedAt: createdAt}
	it := item{kind: kindRoom, room: rec, ts: formatTimestamp(createdAt), done: func(err error) { reply <- err }}
	if err := s.send(ctx, it); err != nil {
		return fmt.Errorf("create room %q: %w", name, err)
	}
	select {
	case err := <-reply:
		if err != nil {
			return fmt.Errorf("create room %q: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		// The room may still be written; CreateRoom is idempotent, so a
		// retry is harmless.
		return fmt.Errorf("create room %q: %w", name, ctx.Err())
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
		<-s.exited      // run wrote or failed everything, and closed s.acks
		<-s.ackerExited // every done has been called
		close(s.ckptStop)
		<-s.ckptExited
		s.closeErr = s.closeDBs(true)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("close database %q: %w", s.path, s.closeErr)
		}
	})
	return s.closeErr
}

// closeDBs closes the read pool and the checkpointer's connection first, so
// that the checkpoint is not held back by readers and the writer's connection
// is the last to close, which lets SQLite remove the WAL file. It runs once
// no goroutine of the writer is left (or none was started).
func (s *Store) closeDBs(checkpoint bool) error {
	var errs []error
	if s.rdb != nil {
		if err := s.rdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close read pool: %w", err))
		}
	}
	if s.cconn != nil {
		if err := s.cconn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close checkpoint connection: %w", err))
		}
	}
	if s.cdb != nil {
		if err := s.cdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close checkpoint pool: %w", err))
		}
	}
	if s.wal != nil {
		if err := s.wal.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close wal: %w", err))
		}
	}
	if s.wconn != nil {
		if checkpoint {
			if _, err := s.wconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				errs = append(errs, fmt.Errorf("checkpoint: %w", err))
			}
		}
		_ = s.wconn.Raw(func(any) error {
			for _, st := range append(s.insert[:], s.insertRoom, s.changes, s.begin, s.commit, s.rollbackSt) {
				if st != nil {
					_ = st.Close() // closing the connection below finalizes them anyway
				}
			}
			return nil
		})
		if err := s.wconn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close write connection: %w", err))
		}
	}
	if s.wdb != nil {
		if err := s.wdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close write pool: %w", err))
		}
	}
	return errors.Join(errs...)
}

// run is the writer's goroutine. One select takes items as they come (with
// whatever else is already waiting, up to BatchMax): the first item of a
// batch starts the BatchDelay timer, and the batch is written
// when it is full, when the timer fires, or at once for a Sync or CreateRoom
// (their callers are waiting). Each batch, written or failed, is handed to
// the acker, in order. After a failed batch the queue is left alone
// for a backoff, so that a persistent fault does not become a busy loop;
// meanwhile the queue fills and Append reports it full.
func (s *Store) run() {
	defer close(s.exited)
	defer close(s.acks) // after the last batch: the acker acknowledges it, then exits
	b := s.newBuf()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		wait       <-chan time.Time // timer.C while a batch is open or a backoff runs, else nil
		items      = s.items        // nil during a backoff
		backoff    time.Duration
		backingOff bool
	)
	for {
		select {
		case it := <-items:
			b.items = append(b.items, it)
			// Take what is already waiting without going back to the
			// select: plain receives cost less, and cannot block, as run
			// is the only receiver.
			for it.kind == kindMessage && len(b.items) < s.opts.BatchMax && len(s.items) > 0 {
				it = <-s.items
				b.items = append(b.items, it)
			}
			if it.kind == kindMessage && len(b.items) < s.opts.BatchMax {
				if wait == nil {
					timer.Reset(s.opts.BatchDelay)
					wait = timer.C
				}
				continue
			}
		case <-wait:
			wait = nil
			if backingOff {
				backingOff = false
				items = s.items
				continue
			}
		case <-s.closing:
			timer.Stop()
			s.drain(b)
			return
		}
		timer.Stop()
		wait = nil
		if err := s.flush(b); err != nil {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			backingOff = true
			items = nil
			timer.Reset(backoff)
			wait = timer.C
		} else {
			backoff = 0
		}
		b = s.newBuf() // b now belongs to the acker
	}
}

// drain writes b and everything still queued, in batches, once Close has
// made sure that nothing more can be queued.
func (s *Store) drain(b *batchBuf) {
	var failed error
	for {
		// Only run receives, and no one can send any more, so len is exact.
		for len(b.items) < s.opts.BatchMax && len(s.items) > 0 {
			b.items = append(b.items, <-s.items)
		}
		if len(b.items) == 0 {
			return
		}
		if failed != nil {
			s.fail(b, fmt.Errorf("not written: writer closed after a failed batch: %w", failed))
		} else {
			failed = s.flush(b)
		}
		b = s.newBuf()
	}
}

// fail hands b to the acker with err for every item, without writing.
func (s *Store) fail(b *batchBuf, err error) {
	b.errs = b.errs[:0]
	for range b.items {
		b.errs = append(b.errs, err)
	}
	s.acks <- b
}

// flush writes b in one transaction and hands it to the acker, which will
// call every done: nil for what was committed (once the WAL is synced, with
// FULL), the batch's error if the transaction failed, a row's own error if
// only that row was refused. It returns the batch's error.
func (s *Store) flush(b *batchBuf) error {
	start := time.Now()
	b.errs = slices.Grow(b.errs[:0], len(b.items))[:len(b.items)]
	clear(b.errs)
	tx, err := s.write(b.items, b.errs)
	elapsed := time.Since(start)

	if tx { // a batch of barriers (and invalid messages) is no transaction
		s.stats.lastBatchSize.Store(int64(len(b.items)))
		s.stats.lastCommitNanos.Store(int64(elapsed))
		if err != nil {
			s.stats.failedBatches.Add(1)
		} else {
			s.stats.batches.Add(1)
			s.kickCheckpointer()
		}
	}
	if err != nil {
		msgs := 0
		for i, it := range b.items {
			if it.kind == kindMessage {
				msgs++
			}
			b.errs[i] = err
		}
		s.log.Error("persistence: batch failed; its messages are not acknowledged",
			"path", s.path, "items", len(b.items), "messages", msgs, "elapsed", elapsed, "err", err)
	}
	b.sync = tx && err == nil && s.durable
	// Waits while the acker is ackQueue batches behind: the writer must
	// not outrun the syncs by more than that.
	s.acks <- b
	return err
}

// write runs batch in one transaction, and reports whether it began one. A
// row refused by a constraint (a duplicate id or nonce), or invalid, gets its
// error in rowErr and does not fail the others; any other error fails the
// whole batch and is returned.
//
// INSERT OR FAIL (see insertMessagesSQL), not INSERT OR IGNORE: a duplicate
// id is a bug to be reported, and a duplicate nonce means a resend raced past
// FindNonce, which its sender must hear about rather than be told that its
// message was stored.
func (s *Store) write(batch []item, rowErr []error) (tx bool, err error) {
	// Messages, in queue order, that passed validation.
	msgs := s.msgIdx[:0]
	defer func() { s.msgIdx = msgs[:0] }()
	writes := 0
	for i, it := range batch {
		switch it.kind {
		case kindMessage:
			if err := validate(it.msg); err != nil {
				rowErr[i] = err
				continue
			}
			msgs = append(msgs, i)
			writes++
		case kindRoom:
			writes++
		}
	}
	if writes == 0 {
		return false, nil // barriers and invalid messages only: nothing to commit
	}
	// A RESTART checkpoint waits here for the end of this transaction,
	// and this transaction for the end of that checkpoint.
	s.walMu.Lock()
	defer s.walMu.Unlock()
	// The driver's connection is used only inside Raw, which holds it.
	if rerr := s.wconn.Raw(func(any) error {
		err = s.writeTx(batch, msgs, rowErr)
		return nil
	}); rerr != nil {
		return true, fmt.Errorf("write connection: %w", rerr)
	}
	return true, err
}

// writeTx is write's transaction, inside wconn.Raw.
func (s *Store) writeTx(batch []item, msgs []int, rowErr []error) (err error) {
	// The writer's statements run with context.Background on purpose:
	// go-sqlite3 starts a watcher goroutine per statement for a context
	// that can be cancelled, and a batch, once begun, should end.
	bg := context.Background()
	if _, err := s.begin.ExecContext(bg, nil); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			// Some failures (an I/O error at COMMIT) roll back by
			// themselves, in which case ROLLBACK says there is no
			// transaction; the first error is the one to report.
			_, _ = s.rollbackSt.ExecContext(bg, nil)
		}
	}()
	for i, it := range batch {
		if it.kind != kindRoom {
			continue
		}
		args := []driver.NamedValue{{Ordinal: 1, Value: it.room.Name}, {Ordinal: 2, Value: it.ts}}
		if _, err := s.insertRoom.ExecContext(bg, args); err != nil {
			return fmt.Errorf("insert room %q: %w", batch[i].room.Name, err)
		}
	}
	for rest := msgs; len(rest) > 0; {
		ci := 0
		for chunkSizes[ci] > len(rest) {
			ci++
		}
		n := chunkSizes[ci]
		err := s.insertChunk(ci, batch, rest[:n])
		if err == nil {
			rest = rest[n:]
			continue
		}
		if !isConstraint(err) {
			return fmt.Errorf("insert %d messages: %w", n, err)
		}
		// OR FAIL: a constraint stops only this statement, at the
		// refused row, keeping the rows before it. That row alone fails;
		// the rows after it go on with the next statement.
		kept, cerr := s.keptRows()
		if cerr != nil {
			return fmt.Errorf("count rows kept before a refused one: %w", cerr)
		}
		if kept < 0 || kept >= n {
			return fmt.Errorf("insert %d messages: refused, yet changes() = %d: %w", n, kept, err)
		}
		idx := rest[kept]
		rowErr[idx] = rowError(batch[idx].msg, err)
		rest = rest[kept+1:]
	}
	if _, err := s.commit.ExecContext(bg, nil); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// keptRows returns changes(): after an INSERT OR FAIL refused a row, how
// many rows before it the statement kept.
func (s *Store) keptRows() (int, error) {
	rows, err := s.changes.QueryContext(context.Background(), nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return 0, err
	}
	n, ok := dest[0].(int64)
	if !ok {
		return 0, fmt.Errorf("changes() is %T, not an integer", dest[0])
	}
	return int(n), nil
}

// insertChunk inserts the messages batch[idx...] with insert[ci], which takes
// exactly len(idx) rows.
func (s *Store) insertChunk(ci int, batch []item, idx []int) error {
	args := s.args[:len(idx)*messageColumns]
	for j, bi := range idx {
		m := batch[bi].msg
		a := args[j*messageColumns : (j+1)*messageColumns]
		a[0].Value = m.ID
		a[1].Value = s.room.box(m.Room)
		a[2].Value = s.user.box(m.Username)
		a[3].Value = m.Content
		a[4].Value = s.ts.box(batch[bi].ts)
		a[5].Value = m.Private
		a[6].Value = nullIfEmpty(m.Recipient)
		a[7].Value = nullIfEmpty(m.Nonce)
	}
	// Query, not Exec: go-sqlite3 binds and steps a query in one cgo call,
	// where Exec makes one per argument (8 per row), and the writer's
	// goroutine is the bottleneck. The query runs its first (and, for an
	// INSERT, only) step before it returns, reporting the INSERT's failure.
	rows, err := s.insert[ci].QueryContext(context.Background(), args)
	for i := range args {
		args[i].Value = nil // do not keep the batch's strings alive until the next one
	}
	if err != nil {
		return err
	}
	return rows.Close()
}

// boxed is a string and the same string as an interface value.
type boxed struct {
	s string
	v any
}

// box returns s as an interface value, the one it made last time if s is
// the same string.
func (b *boxed) box(s string) any {
	if b.v == nil || s != b.s {
		b.s, b.v = s, s
	}
	return b.v
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// validate checks what the schema's readers rely on: History serves rooms
// and must never find a private message there.
func validate(m *actors.StoredMessage) error {
	switch {
	case m.ID == "":
		return errors.New("invalid message: empty id")
	case m.Private && (m.Room != "" || m.Recipient == ""):
		return fmt.Errorf("invalid message %s: a private message needs a recipient and no room", m.ID)
	case !m.Private && (m.Room == "" || m.Recipient != ""):
		return fmt.Errorf("invalid message %s: a room message needs a room and no recipient", m.ID)
	}
	return nil
}

func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// rowError is the done error of m, refused by err: it wraps
// actors.ErrDuplicate when the refusal was for an id or nonce already stored.
func rowError(m *actors.StoredMessage, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique) {
		return fmt.Errorf("insert message %s: %w: %w", m.ID, actors.ErrDuplicate, err)
	}
	return fmt.Errorf("insert message %s: %w", m.ID, err)
}

// messageRow is a messages row as the read queries select it.
type messageRow struct {
	ID        string `db:"id"`
	Room      string `db:"room"`
	Username  string `db:"username"`
	Content   string `db:"content"`
	Timestamp string `db:"timestamp"`
	Private   bool   `db:"is_private"`
	Recipient string `db:"recipient"`
	Nonce     string `db:"nonce"`
}

const historySelect = `SELECT id, room, username, content, timestamp, is_private,
       IFNULL(recipient, '') AS recipient, IFNULL(nonce, '') AS nonce
FROM messages
WHERE room = ? AND is_private = 0`

// History returns the newest q.Limit public messages of q.Room within the
// bounds, oldest first, and whether older ones within the bounds were left
// out. Private messages are never returned. A negative Limit is an error; a
// zero Limit returns no messages but still reports whether there are some.
func (s *Store) History(ctx context.Context, q actors.HistoryQuery) ([]actors.StoredMessage, bool, error) {
	if q.Limit < 0 {
		return nil, false, fmt.Errorf("history of %q: negative limit %d", q.Room, q.Limit)
	}
	var b strings.Builder
	b.WriteString(historySelect)
	args := make([]any, 1, 5)
	args[0] = q.Room
	for _, bound := range []struct{ op, id string }{{">", q.After}, {"<", q.Before}, {"<=", q.Through}} {
		if bound.id != "" {
			b.WriteString(" AND id " + bound.op + " ?")
			args = append(args, bound.id)
		}
	}
	// One more than asked tells whether older ones were left out.
	b.WriteString(" ORDER BY id DESC LIMIT ?")
	args = append(args, q.Limit+1)

	var rows []messageRow
	if err := s.rdb.SelectContext(ctx, &rows, b.String(), args...); err != nil {
		return nil, false, fmt.Errorf("history of %q: %w", q.Room, err)
	}
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	msgs := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		ts, err := parseTimestamp(r.Timestamp)
		if err != nil {
			return nil, false, fmt.Errorf("history of %q: message %s: %w", q.Room, r.ID, err)
		}
		// Newest first from the query; oldest first to the caller.
		msgs[len(rows)-1-i] = actors.StoredMessage{
			ID: r.ID, Room: r.Room, Username: r.Username, Recipient: r.Recipient,
			Content: r.Content, Timestamp: ts, Private: r.Private, Nonce: r.Nonce,
		}
	}
	return msgs, more, nil
}

// Rooms lists every recorded room, by name.
func (s *Store) Rooms(ctx context.Context) ([]actors.RoomRecord, error) {
	var rows []struct {
		Name      string `db:"name"`
		CreatedAt string `db:"created_at"`
	}
	if err := s.rdb.SelectContext(ctx, &rows, "SELECT name, created_at FROM rooms ORDER BY name"); err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	rooms := make([]actors.RoomRecord, len(rows))
	for i, r := range rows {
		t, err := parseTimestamp(r.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("list rooms: room %q: %w", r.Name, err)
		}
		rooms[i] = actors.RoomRecord{Name: r.Name, CreatedAt: t}
	}
	return rooms, nil
}

// LastID returns the greatest message id stored for room, or "" if none.
// Private messages are stored with room "", so LastID("") is the greatest
// private message id.
func (s *Store) LastID(ctx context.Context, room string) (string, error) {
	var id sql.NullString
	if err := s.rdb.GetContext(ctx, &id, "SELECT MAX(id) FROM messages WHERE room = ?", room); err != nil {
		return "", fmt.Errorf("last id of %q: %w", room, err)
	}
	return id.String, nil
}

// findNonceSQL compares exactly the expressions and collations of the
// messages_nonce index, so that SQLite answers from the index.
const findNonceSQL = `SELECT id, timestamp FROM messages
WHERE room = ? AND IFNULL(recipient, '') = ? COLLATE NOCASE
  AND username = ? COLLATE NOCASE AND nonce = ?`

// FindNonce returns the id and timestamp of the message that key.Username
// already stored with key.Nonce in key.Room (or, for a private message, to
// key.Recipient). ok is false when there is none, and always for an empty
// nonce. Names match case-insensitively.
func (s *Store) FindNonce(ctx context.Context, key actors.NonceKey) (id string, ts time.Time, ok bool, err error) {
	if key.Nonce == "" {
		return "", time.Time{}, false, nil
	}
	var row struct {
		ID        string `db:"id"`
		Timestamp string `db:"timestamp"`
	}
	err = s.rdb.GetContext(ctx, &row, findNonceSQL, key.Room, key.Recipient, key.Username, key.Nonce)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("find nonce: %w", err)
	}
	ts, err = parseTimestamp(row.Timestamp)
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("find nonce: message %s: %w", row.ID, err)
	}
	return row.ID, ts, true, nil
}
