package migratecmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx" for database/sql
	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"parley/persistence"
	"parley/persistence/pgstore"
)

// source is the SQLite database, open read-only, and the one read
// transaction every table is read in: a consistent snapshot of the whole
// file, however long the copy takes (WAL keeps it for the reader).
type source struct {
	db *sqlx.DB
	tx *sqlx.Tx
}

// openSource opens path read-only and checks that it is a parley database
// whose schema this build copies whole.
func openSource(ctx context.Context, path string) (_ *source, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("-from %s: no such file", path)
	}
	if err != nil {
		return nil, fmt.Errorf("-from %s: %w", path, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("-from %s: is a directory, not a SQLite database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("-from %s: %w", path, err)
	}
	// mode=ro: SQLite opens the file read-only, so nothing here can change
	// it, even by mistake. The URI is escaped as persistence's is.
	uri := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + url.Values{
		"mode":          {"ro"},
		"_busy_timeout": {"5000"},
	}.Encode()
	db, err := sqlx.Open("sqlite3", uri)
	if err != nil {
		return nil, fmt.Errorf("-from %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &source{db: db}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.tx, err = db.BeginTxx(ctx, nil); err != nil {
		if se := (sqlite3.Error{}); errors.As(err, &se) && se.Code == sqlite3.ErrNotADB {
			return nil, fmt.Errorf("-from %s: not a parley SQLite database: %w", path, err)
		}
		return nil, fmt.Errorf("-from %s: %w", path, err)
	}
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("-from %s: %w", path, err)
	}
	return s, nil
}

// check refuses what is not a parley database of the schema version this
// build copies, and any table or column the table list does not name:
// better no copy than one that leaves something behind without a word.
func (s *source) check(ctx context.Context) error {
	var version int
	if err := s.tx.GetContext(ctx, &version, "PRAGMA user_version"); err != nil {
		return fmt.Errorf("not a parley SQLite database: %w", err)
	}
	var names []string
	if err := s.tx.SelectContext(ctx, &names,
		`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`); err != nil {
		return fmt.Errorf("not a parley SQLite database: %w", err)
	}
	if version == 0 || !slices.Contains(names, "messages") {
		return errors.New("not a parley SQLite database (no parley schema in it)")
	}
	if version > sqliteVersion {
		return fmt.Errorf("its schema version %d is newer than this build copies (%d): use a parley build at least as new as the server that wrote it", version, sqliteVersion)
	}
	if version < sqliteVersion {
		return fmt.Errorf("its schema version %d is older than this build's (%d): start this build's server on it once (or run `parley room list -db FILE`), which brings it up to date, then copy it", version, sqliteVersion)
	}
	known := map[string]table{}
	for _, t := range tables {
		known[t.name] = t
	}
	for _, name := range names {
		if derived(name) {
			continue
		}
		t, ok := known[name]
		if !ok {
			return fmt.Errorf("it has a table %q that this build does not know how to copy", name)
		}
		var cols []string
		if err := s.tx.SelectContext(ctx, &cols, "SELECT name FROM pragma_table_info(?) ORDER BY cid", name); err != nil {
			return fmt.Errorf("columns of %s: %w", name, err)
		}
		want := t.colNames()
		for _, c := range cols {
			if !slices.Contains(want, c) {
				return fmt.Errorf("table %s has a column %q that this build does not know how to copy", name, c)
			}
		}
		for _, c := range want {
			if !slices.Contains(cols, c) {
				return fmt.Errorf("table %s has no column %q", name, c)
			}
		}
	}
	for _, t := range tables {
		if !slices.Contains(names, t.name) {
			return fmt.Errorf("it has no table %s", t.name)
		}
	}
	return nil
}

func (s *source) close() {
	if s.tx != nil {
		_ = s.tx.Rollback() // read-only: nothing to keep or lose
	}
	_ = s.db.Close()
}

// target is the PostgreSQL database: one connection of a pool of one,
// holding the advisory lock that keeps two copies from running at once.
type target struct {
	db    *sqlx.DB
	conn  *sqlx.Conn
	prior map[string]progress // the progress table as the run began
}

// progress is one row of migrate_store_progress.
type progress struct {
	cursor []string // the key of the last row copied; nil: none yet
	rows   int64    // rows of the source up to cursor, copied or found there
	done   bool
}

const progressTable = `CREATE TABLE IF NOT EXISTS migrate_store_progress (
    tbl TEXT PRIMARY KEY,
    last_key TEXT NOT NULL,
    rows BIGINT NOT NULL,
    done BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
)`

// copyLock is the advisory lock key of a copy ("migrat" in ASCII), apart
// from pgstore's migration lock.
const copyLock = 0x6d6967726174

func openTarget(ctx context.Context, dsn string, log *slog.Logger) (_ *target, err error) {
	// pgstore.Open makes the schema or brings it up to date, and refuses
	// one newer than this build: then the copy writes what a server of
	// this build reads.
	st, err := pgstore.Open(ctx, dsn, pgstore.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("-to: %w", err)
	}
	if err := st.Close(); err != nil {
		return nil, fmt.Errorf("-to: %w", err)
	}
	db, err := sqlx.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("-to %s: %w", pgstore.Redact(dsn), err)
	}
	db.SetMaxOpenConns(1)
	t := &target{db: db}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if t.conn, err = db.Connx(ctx); err != nil {
		return nil, fmt.Errorf("-to %s: %w", pgstore.Redact(dsn), err)
	}
	var locked bool
	if err := t.conn.GetContext(ctx, &locked, "SELECT pg_try_advisory_lock($1)", int64(copyLock)); err != nil {
		return nil, fmt.Errorf("take the copy's lock: %w", err)
	}
	if !locked {
		return nil, errors.New("another migrate-store is copying into this database")
	}
	if _, err := t.conn.ExecContext(ctx, progressTable); err != nil {
		return nil, fmt.Errorf("create migrate_store_progress: %w", err)
	}
	if t.prior, err = t.readProgress(ctx); err != nil {
		return nil, err
	}
	if len(t.prior) == 0 {
		// A first run. Accounts are copied with their ids (sessions refer
		// to them): accounts the target made itself would have the same.
		var has bool
		if err := t.conn.GetContext(ctx, &has, "SELECT EXISTS (SELECT 1 FROM accounts)"); err != nil {
			return nil, fmt.Errorf("look for accounts in the target: %w", err)
		}
		if has {
			return nil, errors.New("the target has accounts of its own already: their ids would collide with those copied; copy into a database without accounts")
		}
	}
	return t, nil
}

func (t *target) readProgress(ctx context.Context) (map[string]progress, error) {
	rows, err := t.conn.QueryContext(ctx, "SELECT tbl, last_key, rows, done FROM migrate_store_progress")
	if err != nil {
		return nil, fmt.Errorf("read migrate_store_progress: %w", err)
	}
	defer rows.Close()
	out := map[string]progress{}
	for rows.Next() {
		var (
			name, key string
			p         progress
		)
		if err := rows.Scan(&name, &key, &p.rows, &p.done); err != nil {
			return nil, fmt.Errorf("read migrate_store_progress: %w", err)
		}
		if err := json.Unmarshal([]byte(key), &p.cursor); err != nil {
			return nil, fmt.Errorf("migrate_store_progress of %s: %w", name, err)
		}
		out[name] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read migrate_store_progress: %w", err)
	}
	return out, nil
}

func (t *target) close() {
	if t.conn != nil {
		// The lock is the session's: closing the pool ends the session,
		// but say so rather than count on it.
		_, _ = t.conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", int64(copyLock))
		_ = t.conn.Close()
	}
	_ = t.db.Close()
}

// saveProgress records p for table in tx: with the batch it follows, or
// the table's end.
func saveProgress(ctx context.Context, tx *sqlx.Tx, table string, p progress) error {
	key, err := json.Marshal(p.cursor)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO migrate_store_progress (tbl, last_key, rows, done) VALUES ($1, $2, $3, $4)
ON CONFLICT (tbl) DO UPDATE SET last_key = excluded.last_key, rows = excluded.rows, done = excluded.done, updated_at = now()`,
		table, string(key), p.rows, p.done)
	if err != nil {
		return fmt.Errorf("save progress: %w", err)
	}
	return nil
}

// copyTable copies t from where the last run left it, batch rows per
// transaction. Only one batch is in memory at a time.
func copyTable(ctx context.Context, src *source, dst *target, t table, batch int, log *slog.Logger) (TableResult, error) {
	log = log.With("table", t.name)
	r := TableResult{Table: t.name}
	if err := src.tx.GetContext(ctx, &r.Source, "SELECT count(*) FROM "+t.name); err != nil {
		return r, fmt.Errorf("count the source's rows: %w", err)
	}
	p := dst.prior[t.name]
	r.Skipped = p.rows
	if p.done {
		log.Info("migrate-store: table copied by an earlier run", "rows", p.rows, "source", r.Source)
		return r, dst.finish(ctx, t, p)
	}
	log.Info("migrate-store: copying table", "source", r.Source, "resume_after", p.rows)
	for {
		rows, err := src.readBatch(ctx, t, p.cursor, batch)
		if err != nil {
			return r, err
		}
		if len(rows) == 0 {
			break
		}
		prev := p.cursor
		copied, err := dst.writeBatch(ctx, t, rows, &p)
		if err != nil {
			return r, err
		}
		// Key order means every batch ends past the one before. A batch
		// that ends where the last did would be read again forever (a key
		// bound as the wrong type compares as no key does): stop instead.
		if prev != nil && slices.Equal(prev, p.cursor) {
			return r, fmt.Errorf("the copy does not move past key %q", prev)
		}
		r.Copied += copied
		r.Skipped += int64(len(rows)) - copied
		log.Info("migrate-store: batch", "rows", len(rows), "copied", r.Copied, "skipped", r.Skipped,
			"done", p.rows, "of", r.Source)
		if len(rows) < batch {
			break
		}
	}
	p.done = true
	if err := dst.finish(ctx, t, p); err != nil {
		return r, err
	}
	log.Info("migrate-store: table copied", "copied", r.Copied, "skipped", r.Skipped, "source", r.Source)
	return r, nil
}

// readBatch reads up to n rows of t after cursor, in key order.
func (s *source) readBatch(ctx context.Context, t table, cursor []string, n int) ([][]any, error) {
	var args []any
	if cursor != nil {
		var err error
		if args, err = t.cursorArgs(cursor); err != nil {
			return nil, err
		}
	}
	args = append(args, n)
	rows, err := s.tx.QueryContext(ctx, t.selectSQL(cursor != nil), args...)
	if err != nil {
		return nil, fmt.Errorf("read the source: %w", err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		row := make([]any, len(t.cols))
		ptrs := make([]any, len(row))
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("read the source: %w", err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the source: %w", err)
	}
	return out, nil
}

// writeBatch inserts rows into t and moves p past them, in one
// transaction, and returns how many rows were new.
func (d *target) writeBatch(ctx context.Context, t table, rows [][]any, p *progress) (copied int64, err error) {
	args := make([]any, 0, len(rows)*len(t.cols))
	for _, row := range rows {
		conv, err := t.convert(row)
		if err != nil {
			cur, _ := t.cursor(row)
			return 0, fmt.Errorf("row %s: %w", strings.Join(cur, ", "), err)
		}
		args = append(args, conv...)
	}
	cursor, err := t.cursor(rows[len(rows)-1])
	if err != nil {
		return 0, err
	}
	next := progress{cursor: cursor, rows: p.rows + int64(len(rows))}
	err = d.inTx(ctx, func(tx *sqlx.Tx) error {
		per := t.rowsPerInsert()
		for start := 0; start < len(rows); start += per {
			n := min(per, len(rows)-start)
			res, err := tx.ExecContext(ctx, t.insertSQL(n), args[start*len(t.cols):(start+n)*len(t.cols)]...)
			if err != nil {
				return fmt.Errorf("write: %w", err)
			}
			k, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("write: %w", err)
			}
			copied += k
		}
		return saveProgress(ctx, tx, t.name, next)
	})
	if err != nil {
		return 0, err
	}
	*p = next
	return copied, nil
}

// finish records that t is copied whole and runs its after statement.
func (d *target) finish(ctx context.Context, t table, p progress) error {
	return d.inTx(ctx, func(tx *sqlx.Tx) error {
		if t.after != "" {
			if _, err := tx.ExecContext(ctx, t.after); err != nil {
				return fmt.Errorf("after the copy: %w", err)
			}
		}
		return saveProgress(ctx, tx, t.name, p)
	})
}

func (d *target) inTx(ctx context.Context, f func(tx *sqlx.Tx) error) error {
	return persistence.InTx(ctx, d.conn, f)
}
