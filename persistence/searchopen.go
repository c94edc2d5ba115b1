package persistence

// Opening and closing the search index file (searchindex.go says what it
// is and who fills it).

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"
)

// openSearchIndex opens the index file beside the database (abs), or makes
// it anew when it cannot be used as it is. It runs in Open, after the
// migrations and before the read pool (which attaches the file) opens.
func (s *Store) openSearchIndex(ctx context.Context, abs string) error {
	x := &s.idx
	x.path = abs + searchSuffix
	x.kick = make(chan struct{}, 1)
	x.stop = make(chan struct{})
	x.exited = make(chan struct{})
	x.changed = make(chan struct{})
	var token string
	var seq int64
	if err := s.wconn.GetContext(ctx, &token, "SELECT token FROM search_identity"); err != nil {
		return fmt.Errorf("read search identity: %w", err)
	}
	if err := s.wconn.GetContext(ctx, &seq, "SELECT IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'search_feed'), 0)"); err != nil {
		return fmt.Errorf("read search feed: %w", err)
	}
	x.committed.Store(seq)
	why, err := x.openExisting(ctx, abs, token, seq)
	if err == nil {
		return nil
	}
	if x.db != nil {
		_ = x.db.Close()
		x.db = nil
	}
	if why != "" {
		s.log.Warn("persistence: rebuilding the search index", "path", x.path, "why", why, "err", err)
	}
	for _, p := range []string{x.path, x.path + "-wal", x.path + "-shm"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove search index: %w", err)
		}
	}
	if _, err := x.openFile(ctx, abs); err != nil {
		return err
	}
	// A database with no message yet (a new one) has nothing to rebuild:
	// the feed will bring every message.
	var stored bool
	if err := s.wconn.GetContext(ctx, &stored, "SELECT EXISTS (SELECT 1 FROM messages)"); err != nil {
		return fmt.Errorf("look for messages to index: %w", err)
	}
	rebuild := any(nil)
	if stored {
		rebuild = ""
	}
	err = InTx(ctx, x.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, searchSchema); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('db', ?), ('applied', ?), ('rebuild', ?)", token, seq, rebuild); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", searchSchemaVersion))
		return err
	})
	if err != nil {
		return fmt.Errorf("create search index: %w", err)
	}
	x.applied.Store(seq)
	x.trimmed = seq
	x.rebuilding.Store(stored)
	return nil
}

// openExisting opens the index file and checks that it is this database's,
// at a watermark the feed has reached. When it is not usable it returns
// why (empty for a file that is simply not there yet) and an error.
func (x *searchIndex) openExisting(ctx context.Context, abs, token string, seq int64) (why string, err error) {
	fresh, err := x.openFile(ctx, abs)
	if err != nil {
		return "cannot open it", err
	}
	if fresh {
		return "", errors.New("no index file")
	}
	var version int
	if err := x.db.GetContext(ctx, &version, "PRAGMA user_version"); err != nil {
		return "cannot read it", err
	}
	if version != searchSchemaVersion {
		return "another version", fmt.Errorf("index version %d, want %d", version, searchSchemaVersion)
	}
	var meta struct {
		DB      string         `db:"db"`
		Applied int64          `db:"applied"`
		Rebuild sql.NullString `db:"rebuild"`
	}
	err = x.db.GetContext(ctx, &meta, `SELECT
    (SELECT value FROM meta WHERE key = 'db') AS db,
    (SELECT value FROM meta WHERE key = 'applied') AS applied,
    (SELECT value FROM meta WHERE key = 'rebuild') AS rebuild`)
	if err != nil {
		return "cannot read it", err
	}
	if meta.DB != token {
		return "another database's", errors.New("identity differs")
	}
	if meta.Applied > seq {
		return "ahead of the database (restored from a backup?)", fmt.Errorf("index at %d, feed at %d", meta.Applied, seq)
	}
	// The feed must still hold every row past the watermark: the writer
	// deletes only rows the index committed, but a database restored
	// from a copy newer than the index file may have lost some.
	var next sql.NullInt64
	if err := x.db.GetContext(ctx, &next, "SELECT MIN(seq) FROM chat.search_feed WHERE seq > ?", meta.Applied); err != nil {
		return "cannot read the feed", err
	}
	if meta.Applied < seq && next.Int64 != meta.Applied+1 {
		return "behind what the feed still holds (restored from a backup?)", fmt.Errorf("index at %d, feed resumes at %d", meta.Applied, next.Int64)
	}
	// A cheap look at FTS5's own structure record: a file whose index
	// pages are damaged mostly fails here rather than at the first search.
	if _, err := x.db.ExecContext(ctx, "SELECT COUNT(*) FROM messages_fts_idx"); err != nil {
		return "cannot read it", err
	}
	x.applied.Store(meta.Applied)
	x.trimmed = meta.Applied
	x.cursor = meta.Rebuild.String
	x.rebuilding.Store(meta.Rebuild.Valid)
	return "", nil
}

// openFile opens the index file at x.path (creating it if need be) on one
// connection with the chat database (abs) attached read-only, and reports
// whether the file was new.
func (x *searchIndex) openFile(ctx context.Context, abs string) (fresh bool, err error) {
	_, statErr := os.Stat(x.path)
	fresh = errors.Is(statErr, os.ErrNotExist)
	// synchronous=FULL: a commit of the index is on disk before the writer
	// may delete the feed rows it applied, so power loss cannot leave the
	// index behind a feed that lost its rows. It syncs once per pass (a few
	// thousand messages), on the indexer's goroutine.
	x.db = attachedDB(sqliteURI(x.path, url.Values{
		"_journal_mode":  {"WAL"},
		"_synchronous":   {"FULL"},
		"_busy_timeout":  {"5000"},
		"_txlock":        {"immediate"},
		"_secure_delete": {"on"},
	}), "chat", sqliteURI(abs, url.Values{"mode": {"ro"}}))
	x.db.SetMaxOpenConns(1)
	x.db.SetConnMaxIdleTime(0)
	var mode string
	if err := x.db.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil {
		return fresh, err
	}
	if mode != "wal" {
		return fresh, fmt.Errorf("search index: journal_mode is %q", mode)
	}
	_, err = x.db.ExecContext(ctx, "PRAGMA journal_size_limit = 67108864")
	return fresh, err
}

// attachedDB opens a pool on the SQLite database at uri whose every
// connection has the database at other attached as alias: the pool's
// connections come and go, and each needs the ATTACH.
func attachedDB(uri, alias, other string) *sqlx.DB {
	drv := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		// An alias cannot be a bound parameter; ours is a constant.
		_, err := c.Exec("ATTACH DATABASE ? AS "+alias, []driver.Value{other})
		return err
	}}
	return sqlx.NewDb(sql.OpenDB(connector{drv: drv, dsn: uri}), "sqlite3")
}

// connector opens dsn with drv: a driver with a ConnectHook of its own,
// without registering it under a name.
type connector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// closeSearchIndex closes the index file's connection; a file found
// corrupt is then removed, so that the next Open rebuilds it. It runs once
// the indexer has exited and the read pool (which attaches the file) is
// closed.
func (s *Store) closeSearchIndex() error {
	if s.idx.db == nil {
		return nil
	}
	err := s.idx.db.Close()
	if err != nil {
		err = fmt.Errorf("close search index: %w", err)
	}
	if s.idx.broken.Load() {
		for _, p := range []string{s.idx.path, s.idx.path + "-wal", s.idx.path + "-shm"} {
			if rerr := os.Remove(p); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("remove corrupt search index: %w", rerr))
			}
		}
	}
	return err
}
