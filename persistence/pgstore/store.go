package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/internal/accounts"
	"parley/persistence"
)

var (
	_ actors.Store   = (*Store)(nil)
	_ accounts.Store = (*Store)(nil)
)

// ErrClosed is returned by Sync, CreateRoom and every account or marker
// write once Close has begun. It is persistence.ErrClosed: one sentinel
// for "the store is closed", whichever the engine.
var ErrClosed = persistence.ErrClosed

// Options tunes a Store. The zero value, and any zero field, asks for the
// default. The queue's bounds are package persistence's, and mean the same.
type Options struct {
	QueueMessages int           // messages accepted but not yet acknowledged; default 8192
	QueueBytes    int64         // bytes of those messages (see messageSize); default 16 MiB
	BatchMax      int           // items per transaction at most; default 512
	BatchDelay    time.Duration // after the first item, wait at most this long for more; default 2ms
	// WriteTimeout bounds one batch's transaction, BEGIN to COMMIT: a
	// server that stops answering fails the batch (its messages are not
	// acknowledged) instead of stalling the writer; default 10s.
	WriteTimeout time.Duration
	// MaxConns bounds the connection pool (reads, account writes and the
	// writer's one at a time); default pgxpool's (the greater of 4 and the
	// number of CPUs).
	MaxConns int32

	Logger *slog.Logger // default slog.Default()
}

func (o Options) withDefaults() Options {
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
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// controlSlots is the room in the queue for Sync and CreateRoom beyond
// QueueMessages: their senders wait when it is taken.
const controlSlots = 64

// Store is parley's PostgreSQL store. Its methods are safe for concurrent
// use. Open starts one goroutine, the writer (run, writer.go); Close stops
// it once it has written or failed everything queued.
type Store struct {
	opts Options
	log  *slog.Logger
	dsn  string // with any password removed, for messages

	// mu guards closed, as in package persistence: senders and account
	// writes hold it for reading, Close for writing, so that once Close
	// holds it nothing is being queued or written outside the writer.
	mu     sync.RWMutex
	closed bool

	items   chan item     // written by Append/Sync/CreateRoom under mu.RLock; read by run; never closed
	closing chan struct{} // closed by Close once no sender can send; run then drains the queue and exits
	exited  chan struct{} // closed by run when it returns

	pending atomic.Int64 // messages accepted and not yet acknowledged or failed
	queued  atomic.Int64 // bytes charged by those messages

	pool *pgxpool.Pool // the writer's transactions and, through db, everything else
	db   *sqlx.DB      // pool, through pgx's database/sql driver

	closeOnce sync.Once
	closeErr  error

	stats counters
}

type counters struct {
	batches, rows, failedBatches, failedRows, rejected atomic.Uint64
	lastBatchSize, lastCommitNanos                     atomic.Int64
}

// Stats is a snapshot of the store's counters: those of every store's
// batching writer (persistence.WriterStats).
type Stats = persistence.WriterStats

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Batches:       s.stats.batches.Load(),
		Rows:          s.stats.rows.Load(),
		FailedBatches: s.stats.failedBatches.Load(),
		FailedRows:    s.stats.failedRows.Load(),
		Rejected:      s.stats.rejected.Load(),
		LastBatchSize: int(s.stats.lastBatchSize.Load()),
		LastCommit:    time.Duration(s.stats.lastCommitNanos.Load()),
		QueueDepth:    int(s.pending.Load()),
		QueueBytes:    s.queued.Load(),
	}
}

// Open connects to the database at dsn (a postgres:// or postgresql://
// URL, or a key=value string), brings its schema up to date and starts the
// writer. The database must exist and be writable by the DSN's user.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	s, err := open(ctx, dsn, opts)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redact(dsn), err)
	}
	return s, nil
}

func open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate schema: %w", err)
	}
	s := &Store{
		opts:    opts,
		log:     opts.Logger,
		dsn:     redact(dsn),
		items:   make(chan item, opts.QueueMessages+controlSlots),
		closing: make(chan struct{}),
		exited:  make(chan struct{}),
		pool:    pool,
		db:      sqlx.NewDb(stdlib.OpenDBFromPool(pool), "pgx"),
	}
	go s.run()
	return s, nil
}

// keywordPassword is the password of a key=value DSN.
var keywordPassword = regexp.MustCompile(`password\s*=\s*('(\\.|[^'])*'|\S*)`)

// redact is dsn without its password, for messages and logs.
func redact(dsn string) string {
	if !strings.Contains(dsn, "://") {
		return keywordPassword.ReplaceAllString(dsn, "password=xxxxx")
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Close stops accepting items, writes what is queued, calls every pending
// done, and closes the pool. It is safe to call while other goroutines
// Append (they get false from the moment Close begins), and more than
// once: later calls wait for the first and return its result. If a batch
// fails while Close drains the queue, the items after it are failed
// rather than tried, so that Close ends in bounded time.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock() // waits for in-flight sends and account writes
		s.closed = true
		s.mu.Unlock()
		close(s.closing)
		<-s.exited
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close database %s: %w", s.dsn, err)
		}
		s.pool.Close()
	})
	return s.closeErr
}

// guard runs f unless the store is closed, holding Close off until f
// returns: every write outside the writer goes through it.
func (s *Store) guard(f func() error) error {
	if !s.mu.TryRLock() {
		return ErrClosed
	}
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return f()
}

// Redact is dsn without its password, for logs: what Open's errors name.
func Redact(dsn string) string { return redact(dsn) }
