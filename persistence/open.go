package persistence

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Open opens (creating if needed) the database at path, brings its schema up
// to date and starts the store's goroutines. The database must be writable:
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

// open runs Open's steps in order; on an error it closes whatever the steps
// before it opened.
func open(ctx context.Context, path string, opts Options) (_ *Store, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	abs, err := checkPath(path)
	if err != nil {
		return nil, err
	}
	s := newStore(path, opts)
	defer func() {
		if err != nil {
			// No checkpoint: it could wait out the busy timeout again on
			// a locked database. The error that failed Open is the one
			// to report.
			_ = s.closeDBs(false)
		}
	}()
	if err := s.openWriteConn(ctx, abs); err != nil {
		return nil, err
	}
	if err := s.setWritePragmas(ctx); err != nil {
		return nil, err
	}
	if err := checkFTS5(ctx, s.wconn); err != nil {
		return nil, err
	}
	if err := migrate(ctx, s.wconn); err != nil {
		return nil, fmt.Errorf("migrate schema: %w", err)
	}
	if err := s.wconn.Raw(func(dc any) error { return s.stmts.prepare(ctx, dc) }); err != nil {
		return nil, fmt.Errorf("prepare statements: %w", err)
	}
	// The migration's commit created the -wal file (if there was none),
	// and it stays until the last connection closes, at Close.
	if s.wal, err = openWAL(abs + "-wal"); err != nil {
		return nil, err
	}
	if err := s.openCheckpointConn(ctx, abs); err != nil {
		return nil, fmt.Errorf("open checkpoint connection: %w", err)
	}
	if err := s.openSearchIndex(ctx, abs); err != nil {
		return nil, fmt.Errorf("open search index: %w", err)
	}
	if err := s.openReadPool(ctx, abs); err != nil {
		return nil, fmt.Errorf("open read pool: %w", err)
	}
	if err := s.openAccountConn(ctx, abs); err != nil {
		return nil, fmt.Errorf("open account connection: %w", err)
	}
	s.start()
	return s, nil
}

// checkPath says which of the cases SQLite reports all alike, as "unable to
// open database file", keeps path from being opened, and returns its
// absolute form.
func checkPath(path string) (abs string, err error) {
	if path == "" {
		return "", errors.New("empty path")
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return "", errors.New("is a directory")
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return "", err // e.g. "stat /no/such: no such file or directory"
	} else if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	// WAL mode creates chat.db-wal and chat.db-shm next to the database.
	// Probe with a file of our own: on a read-only file system SQLite's
	// own report is a misleading "no such file or directory".
	probe, err := os.CreateTemp(dir, ".parley-probe-*")
	if err != nil {
		return "", fmt.Errorf("directory %s is not writable: %w", dir, err)
	}
	_ = probe.Close()
	_ = os.Remove(probe.Name()) // a leftover empty probe file would be harmless
	return filepath.Abs(path)
}

// newStore makes a Store with its queues and scratch, and no connection yet.
func newStore(path string, opts Options) *Store {
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
	return s
}

// openWriteConn opens the write pool and takes its one connection. Its
// errors are SQLite's own words (e.g. "file is not a database"), which
// Open's context makes clear enough.
func (s *Store) openWriteConn(ctx context.Context, abs string) (err error) {
	// go-sqlite3 does not turn WAL on by itself, so ask for it, and say
	// which synchronous level rather than rely on its default.
	// _txlock=immediate makes BeginTx take the write lock at BEGIN, where
	// the busy timeout applies, rather than fail on the first write.
	s.wdb, err = sqlx.Open("sqlite3", sqliteURI(abs, url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {connSynchronous[s.opts.Synchronous].name},
		"_busy_timeout": {millis(s.opts.BusyTimeout)},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return err
	}
	// One connection: SQLite has one writer at a time anyway, and one
	// connection makes the run goroutine its only user.
	s.wdb.SetMaxOpenConns(1)
	s.wconn, err = s.wdb.Connx(ctx)
	return err
}

// setWritePragmas checks that the write connection got the journal mode and
// synchronous level it asked for, turns SQLite's own checkpoints off and
// reads the WAL's frame size.
func (s *Store) setWritePragmas(ctx context.Context) error {
	var mode string
	if err := s.wconn.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil {
		return fmt.Errorf("enable wal: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("enable wal: journal_mode is %q (is the file system read-only, or unable to share memory?)", mode)
	}
	want := connSynchronous[s.opts.Synchronous]
	var level int
	if err := s.wconn.GetContext(ctx, &level, "PRAGMA synchronous"); err != nil {
		return fmt.Errorf("set synchronous: %w", err)
	}
	if level != want.level {
		return fmt.Errorf("set synchronous: got %d, want %d (%s)", level, want.level, want.name)
	}
	// The checkpointer checkpoints; the writer's commits must not (see
	// durable.go). When a checkpoint lets the writer start the WAL over, it
	// also cuts the file back to WALLimit, should it have grown past it.
	if _, err := s.wconn.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = %d", s.opts.WALLimit)); err != nil {
		return fmt.Errorf("set wal pragmas: %w", err)
	}
	var pageSize int64
	if err := s.wconn.GetContext(ctx, &pageSize, "PRAGMA page_size"); err != nil {
		return fmt.Errorf("read page size: %w", err)
	}
	s.frameBytes = pageSize + 24
	return nil
}

// openCheckpointConn opens the checkpointer's pool and takes its one
// connection. It syncs the WAL before copying it and the database file
// after: never OFF unless everything is. Its busy timeout is short because a
// RESTART checkpoint holds the writer up while it waits for readers: one
// that pins the WAL (a long read elsewhere) costs a short stall and a retry,
// not seconds of writes.
func (s *Store) openCheckpointConn(ctx context.Context, abs string) (err error) {
	s.cdb, err = sql.Open("sqlite3", sqliteURI(abs, url.Values{
		"_synchronous":  {connSynchronous[s.opts.Synchronous].name},
		"_busy_timeout": {millis(min(s.opts.BusyTimeout, restartBusyTimeout))},
	}))
	if err != nil {
		return err
	}
	s.cdb.SetMaxOpenConns(1)
	s.cconn, err = s.cdb.Conn(ctx)
	return err
}

// openReadPool opens the pool that serves reads. It opens the file
// read-only: reads can never write, and in WAL mode they do not wait for the
// writer nor it for them. Each connection attaches the search index
// (searchindex.go), read-only too, as "search".
func (s *Store) openReadPool(ctx context.Context, abs string) (err error) {
	s.rdb = attachedDB(sqliteURI(abs, url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {millis(s.opts.BusyTimeout)},
	}), "search", sqliteURI(s.idx.path, url.Values{"mode": {"ro"}}))
	s.rdb.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	return s.rdb.PingContext(ctx)
}

// start starts the store's four goroutines; Close stops them.
func (s *Store) start() {
	// The writer: the only user of wconn and its statements from here
	// on. It runs until Close closes s.closing, then drains the queue,
	// closes s.acks and closes s.exited.
	go s.run()
	// The acker: syncs the WAL and calls the done callbacks of what run
	// hands it. It drains s.acks until run closes it, then closes
	// s.ackerExited.
	go s.ackLoop()
	// The checkpointer: the only user of cconn from here on. It runs
	// until Close closes s.ckptStop (after the two above exited), then
	// closes s.ckptExited.
	go s.checkpointLoop()
	// The indexer (searchindex.go): the only user of the search index's
	// connection from here on. It runs until Close closes s.idx.stop
	// (after the writer and the acker exited), then closes s.idx.exited.
	go s.indexLoop()
}

// millis is d as go-sqlite3's _busy_timeout wants it.
func millis(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// sqliteURI builds a file: URI for path, escaped so that a '?' or '#' in a
// file name cannot be read as the start of the parameters. go-sqlite3 reads
// the parameters starting with '_'; SQLite itself reads mode and ignores the
// rest.
func sqliteURI(absPath string, params url.Values) string {
	return "file:" + (&url.URL{Path: absPath}).EscapedPath() + "?" + params.Encode()
}

// closeDBs closes the read pool and the checkpointer's connection first, so
// that the checkpoint is not held back by readers and the writer's connection
// is the last to close, which lets SQLite remove the WAL file. It runs once
// no goroutine of the store is left (or none was started).
func (s *Store) closeDBs(checkpoint bool) error {
	var errs []error
	if s.rdb != nil {
		if err := s.rdb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close read pool: %w", err))
		}
	}
	// After the read pool, which attaches the index file; before the
	// write connection, which must be the chat database's last.
	if err := s.closeSearchIndex(); err != nil {
		errs = append(errs, err)
	}
	if s.adb != nil {
		if err := s.adb.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close account connection: %w", err))
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
			s.stmts.close()
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
