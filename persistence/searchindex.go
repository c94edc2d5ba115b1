package persistence

// The full-text index, kept after the commit (schema version 9).
//
// Indexing a message (FTS5's tokenizing and its segment writes) costs
// several times what storing it does. Until version 9 the triggers of
// version 7 did it inside the writer's transaction, which took the writer
// from ~440k to ~170k messages a second (docs/performance.md). Now the index
// lives in a file of its own, <db>.search, with its own connection and WAL,
// so that its writes never hold the chat database's write lock, and one
// indexer goroutine fills it after the commits:
//
//   - The writer adds one row to search_feed per batch, in the batch's own
//     transaction: the lowest and the highest id it stored (a few bytes per
//     batch, not per message, so the writer's cost stays within noise).
//     ChangeMessage adds one for the message it edits or deletes, and
//     DeleteRoom one naming the room. messages is WITHOUT ROWID and its ids
//     are given by many sources (one per room), so they do not arrive in id
//     order: the feed's AUTOINCREMENT seq is the commit order the indexer
//     tails, not the ids.
//   - After each commit the writer (or the account write) nudges the
//     indexer through a channel of capacity 1, never blocking: a full
//     channel already holds a nudge, and a nudge lost is no loss, because
//     the indexer reads the feed from its watermark, not the nudges.
//   - The indexer, one pass at a time, reads the feed rows past its
//     watermark and copies the messages they cover out of the chat
//     database (attached read-only) in one short snapshot, so that it
//     never holds up the checkpointer; then, in one transaction of the
//     index file, it reconciles each row's id range (or room) with those
//     messages as they are now: a message with content and not deleted
//     that the index lacks is indexed; an indexed one that is gone,
//     deleted, emptied or edited since (its edited_at differs from the
//     one indexed) is taken out, and an edited one indexed anew. The
//     watermark (meta's 'applied') is committed in the same transaction,
//     so a kill -9 at any point leaves the index at a watermark it holds
//     exactly, and the next Open goes on from there. Reconciling is
//     idempotent, so doing a range twice is harmless.
//   - Indexing is what may wait: the indexer's thread runs at nice 10;
//     while the writer has a full batch waiting the indexer waits, one
//     pass per indexDefer at most; and at everyday load it gathers for
//     indexPace after a nudge, merging nearby batches' ranges. A burst is
//     written at the writer's full speed and indexed after it
//     (docs/performance.md, "Search indexing after the commit").
//   - The writer deletes the feed rows the index has committed, a few
//     hundred at a time, in its own transaction: the feed is the indexer's
//     queue, on disk, one short row per batch; what bounds it is how far
//     the indexer is behind (Stats.SearchBehind), and nothing the writer
//     does waits for the indexer.
//
// A missing index file, one that is not a database, one that belongs to
// another chat database (meta's 'db' is search_identity's token), or one
// that does not fit the feed (its watermark is past the feed's sequence,
// or the feed no longer holds the rows past it: a database restored from
// a copy) is made anew at Open (searchopen.go) and rebuilt by the indexer
// from messages, in id order, a chunk per pass, resuming from meta's
// 'rebuild' cursor after a restart. That is also how a version-7
// database's index moves here. An index found corrupt while running is
// removed at Close, and so rebuilt at the next Open.
//
// Search (search.go) reads the index through the read pool, which attaches
// the index file read-only as "search", and joins every hit to its row in
// messages, which alone gives what is shown: a hit whose message is deleted,
// or was edited after it was indexed, is dropped, so no result shows
// content that is gone, even while the indexer is behind.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"
	"github.com/oklog/ulid/v2"
)

// searchSuffix names the index file: <db>.search, beside the database.
const searchSuffix = ".search"

// searchSchemaVersion is the index file's user_version. It is rebuilt, not
// migrated: a file of another version is made anew.
const searchSchemaVersion = 1

// searchSchema is the index file's schema. docs gives each indexed message
// the integer key FTS5 needs (in indexing order, which is about id order),
// its room (for DeleteRoom) and the edited_at it was indexed with (” for
// none). messages_fts keeps its own copy of what it indexed: by the time
// the indexer takes a message out, messages no longer holds the words it
// was indexed with (the row is emptied, edited or gone), and FTS5 needs
// them to take them out of its pages. (A contentless_delete table needs
// no copy, but only marks a row deleted, leaving its words in the file
// until a merge.) secure-delete takes a deleted message's words out of the
// index's pages at once, and the connection's secure_delete pragma zeroes
// the copy's freed bytes. unicode61 folds case and diacritics; no
// stemming, as PostgreSQL's 'simple' configuration.
const searchSchema = `
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value
) WITHOUT ROWID;
CREATE TABLE docs (
    docid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    room TEXT NOT NULL,
    edited TEXT NOT NULL
);
CREATE INDEX docs_room ON docs (room);
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    content,
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
`

// The indexer's sizes.
const (
	// indexBudget is about how many index rows one pass writes, so that
	// its transaction (and the snapshot of the chat database it holds,
	// which a RESTART checkpoint waits for) stays short: tens of ms.
	indexBudget = 2048
	// feedRowsPerPass bounds the feed rows one pass reads.
	feedRowsPerPass = 256
	// trimEvery: the writer deletes applied feed rows once this many
	// have piled up.
	trimEvery = 256
	// searchWaitRows: Search waits for the index to catch up only when it
	// is at most this many feed rows (batches) behind; further behind, the
	// indexer is overloaded, and a search answers at once from what is
	// indexed.
	searchWaitRows = 64
	// indexMaxBackoff bounds the pause after a failed pass.
	indexMaxBackoff = time.Second
	// indexYield is how long the indexer leaves a busy writer alone
	// between two passes (indexLoop).
	indexYield = 100 * time.Millisecond
	// indexDefer bounds how long the indexer waits for a busy writer
	// before a pass: under a long burst it still runs one pass a second.
	indexDefer = time.Second
	// indexPace is how long the indexer gathers after a nudge finds it
	// idle (indexLoop): at everyday load the writer commits a small batch
	// every few milliseconds, and a pass for each (two transactions and
	// an fsync of the index file, in cgo calls that hold the server's one
	// P) added a millisecond to the median delivery at 1,500 messages/s
	// on one core (docs/performance.md). A search waits for it (SearchWait).
	indexPace = 100 * time.Millisecond
)

// idMax sorts after every id (ids are text compared bytewise): the upper
// bound of a range that has none.
const idMax = "\U0010FFFF"

// searchIndex is the index file and its indexer goroutine's state.
type searchIndex struct {
	path string
	db   *sqlx.DB // the index file, held to one connection, the chat database attached read-only as "chat": used by Open, then by the indexer alone, then by Close

	kick   chan struct{} // capacity 1; written (never blocking) after each commit that wrote a feed row; read by the indexer; never closed
	stop   chan struct{} // closed by Close once the writer and the acker exited; read by the indexer
	exited chan struct{} // closed by the indexer when it returns; read by Close and WaitIndexed

	committed atomic.Int64 // highest feed seq committed to the chat database (the writer, account writes)
	applied   atomic.Int64 // highest feed seq the index file holds, committed
	trimmed   int64        // the writer's: feed rows up to here are deleted

	rebuilding atomic.Bool // the index is being rebuilt from messages
	cursor     string      // the indexer's: the rebuild has reached this id
	broken     atomic.Bool // the index file was found corrupt while running: Close removes it, and the next Open rebuilds it

	mu      sync.Mutex
	changed chan struct{} // closed and replaced under mu each time applied or rebuilding moves

	// hold is held by the indexer around each pass; tests hold it to keep
	// the indexer behind the writer.
	hold sync.Mutex
}

// noteFeed records that a transaction with a feed row up to seq committed,
// and nudges the indexer. It never blocks: a full kick channel holds a
// nudge already.
func (s *Store) noteFeed(seq int64) {
	for {
		cur := s.idx.committed.Load()
		if seq <= cur || s.idx.committed.CompareAndSwap(cur, seq) {
			break
		}
	}
	select {
	case s.idx.kick <- struct{}{}:
	default:
	}
}

// indexLoop is the indexer's goroutine: Open starts it (start) and Close
// stops it (closing idx.stop once the writer and the acker have exited; it
// finishes the pass under way and returns, without catching up: the next
// Open goes on from the watermark). Woken by a nudge, it waits indexPace
// for more, then runs passes until one finds nothing to do. After a failed pass it waits, doubling the wait
// up to indexMaxBackoff, and tries again.
func (s *Store) indexLoop() {
	defer close(s.idx.exited)
	if err := indexerThread(); err != nil {
		s.log.Warn("persistence: cannot lower the search indexer's priority", "err", err)
	}
	ctx := context.Background() // a pass, once begun, should end; Close waits for it
	var backoff time.Duration
	for {
		worked, err := s.indexPass(ctx)
		switch {
		case err != nil:
			if isCorrupt(err) && !s.idx.broken.Swap(true) {
				s.log.Error("persistence: the search index is corrupt; it is rebuilt at the next start", "path", s.idx.path, "err", err)
			} else if !s.idx.broken.Load() {
				s.log.Error("persistence: search indexing failed; retrying", "path", s.idx.path, "err", err)
			}
			backoff = min(max(2*backoff, 10*time.Millisecond), indexMaxBackoff)
			if !s.idx.sleep(backoff) {
				return
			}
			continue
		case worked:
			backoff = 0
			// A busy writer goes first: while it has a full batch
			// waiting, the indexer waits (indexYield at a time, up to
			// indexDefer), so that a burst is written at the writer's
			// full speed and indexed after it (or slowly during it, if
			// it lasts).
			for waited := time.Duration(0); waited < indexDefer && s.pending.Load() >= int64(s.opts.BatchMax); waited += indexYield {
				if !s.idx.sleep(indexYield) {
					return
				}
			}
			continue
		}
		select {
		case <-s.idx.kick:
		case <-s.idx.stop:
			return
		}
		if !s.idx.sleep(indexPace) {
			return
		}
	}
}

// sleep waits d (not at all for 0) and reports false if Close stopped the
// indexer meanwhile.
func (x *searchIndex) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-x.stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.stop:
		return false
	}
}

// isCorrupt reports whether err is SQLite finding a damaged file.
func isCorrupt(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB)
}

// feedRow is a row of search_feed: an id range, or a room deleted.
type feedRow struct {
	Seq  int64          `db:"seq"`
	Low  string         `db:"low"`
	High string         `db:"high"`
	Room sql.NullString `db:"room"`
}

// passTables are the indexer's scratch tables, in the index connection's
// TEMP database: the messages one pass reads, copied out of the chat
// database in one short snapshot, so that the pass's index transaction
// (FTS5's work, and its sync) holds no snapshot of the chat database. A
// long read there would hold up the checkpointer's RESTART, and with it
// the writer.
const passTables = `
CREATE TEMP TABLE IF NOT EXISTS pass_msgs (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    content TEXT NOT NULL,
    live BOOLEAN NOT NULL,
    edited TEXT NOT NULL
) WITHOUT ROWID;
DELETE FROM temp.pass_msgs;
`

// copyMsgs is the SELECT that copies messages into pass_msgs; %s is the
// rest of the statement (its FROM's joins, WHERE, ORDER, LIMIT).
const copyMsgs = `INSERT OR IGNORE INTO temp.pass_msgs (id, room, content, live, edited)
SELECT m.id, m.room, m.content, m.content <> '' AND NOT m.deleted, IFNULL(m.edited_at, '') FROM chat.messages m %s`

// pass is what one pass of the indexer does: the feed rows it applies and,
// while a rebuild is under way, the rebuild's next chunk [cursor, high].
type pass struct {
	feed          []feedRow // the rows applied, in seq order
	groups        []feedRow // what the rows ask for, merged (mergeable)
	rebuild       bool      // this pass does a chunk of the rebuild
	cursor, high  string    // the chunk
	rebuildIsDone bool      // the chunk reaches the end of messages
}

// indexPass runs one pass: the feed rows past the watermark, up to about
// indexBudget messages, then, while a rebuild is under way, its next chunk
// with what is left of the budget. It reports whether it found anything to
// do. It copies what it reads (readPass), then applies it in one
// transaction of the index file (applyPass), which commits the watermark
// with the index.
func (s *Store) indexPass(ctx context.Context) (worked bool, err error) {
	x := &s.idx
	x.hold.Lock()
	defer x.hold.Unlock()
	p := pass{cursor: x.cursor, rebuild: x.rebuilding.Load()}
	if err := InTx(ctx, x.db, func(tx *sqlx.Tx) error { return readPass(ctx, tx, x.applied.Load(), &p) }); err != nil {
		return false, err
	}
	if len(p.feed) == 0 && !p.rebuild {
		return false, nil
	}
	applied := x.applied.Load()
	if len(p.feed) > 0 {
		applied = p.feed[len(p.feed)-1].Seq
	}
	err = InTx(ctx, x.db, func(tx *sqlx.Tx) error { return applyPass(ctx, tx, applied, &p) })
	if err != nil {
		return false, err
	}
	if p.rebuild {
		x.cursor = p.high
		if p.rebuildIsDone {
			x.rebuilding.Store(false)
		}
	}
	x.applied.Store(applied)
	x.mu.Lock()
	close(x.changed)
	x.changed = make(chan struct{})
	x.mu.Unlock()
	return true, nil
}

// mergeWindow is how close in time (by their ids) the feed's ranges must
// lie to be copied and reconciled as one. The writer adds a range per
// batch, a few milliseconds apart at everyday load: one range for all of
// them costs a pass a few statements instead of five per batch (which
// made the indexer a tenth of the server's CPU at 500 messages a second).
// A range that spans more would copy messages no row asks for: an edit
// names one message's id, which may be old.
const mergeWindow = 2 * time.Second

// mergeRows bounds the feed rows one range takes in: a full batch is 512
// messages, and four of them are about a pass's budget (indexBudget), so
// that under a burst a pass stays as short as unmerged.
const mergeRows = 4

// mergeable reports whether the feed row f may join the group g: both are
// ranges (not a room deleted) whose ids are ULIDs within mergeWindow of
// each other. A range merged takes in the messages between, which are
// reconciled early (harmless: reconciling is idempotent).
func mergeable(g, f feedRow) bool {
	if g.Room.Valid || f.Room.Valid {
		return false
	}
	lo, err1 := ulid.ParseStrict(min(g.Low, f.Low))
	hi, err2 := ulid.ParseStrict(max(g.High, f.High))
	return err1 == nil && err2 == nil && hi.Time()-lo.Time() <= uint64(mergeWindow.Milliseconds())
}

// readPass picks the pass's feed rows (and rebuild chunk) and copies the
// messages they cover into pass_msgs, all in one snapshot of the chat
// database: for a range, every message in it; for a room deleted, the
// messages that the index holds for that room and that are still there.
func readPass(ctx context.Context, tx *sqlx.Tx, applied int64, p *pass) error {
	if _, err := tx.ExecContext(ctx, passTables); err != nil {
		return fmt.Errorf("scratch tables: %w", err)
	}
	var feed []feedRow
	if err := tx.SelectContext(ctx, &feed, "SELECT seq, low, high, room FROM chat.search_feed WHERE seq > ? ORDER BY seq LIMIT ?", applied, feedRowsPerPass); err != nil {
		return fmt.Errorf("read feed: %w", err)
	}
	budget := int64(indexBudget)
	for i := 0; i < len(feed) && budget > 0; {
		// The group: this row and the ranges after it that mergeable
		// lets it take in.
		g, j := feed[i], i+1
		for ; j < len(feed) && j-i < mergeRows && mergeable(g, feed[j]); j++ {
			g.Low, g.High = min(g.Low, feed[j].Low), max(g.High, feed[j].High)
		}
		var (
			res sql.Result
			err error
		)
		if g.Room.Valid {
			res, err = tx.ExecContext(ctx, fmt.Sprintf(copyMsgs, "CROSS JOIN main.docs d ON d.id = m.id WHERE d.room = ?"), g.Room.String)
		} else {
			res, err = tx.ExecContext(ctx, fmt.Sprintf(copyMsgs, "WHERE m.id BETWEEN ? AND ?"), g.Low, g.High)
		}
		if err != nil {
			return fmt.Errorf("feed row %d: %w", g.Seq, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		p.feed = append(p.feed, feed[i:j]...)
		p.groups = append(p.groups, g)
		budget -= max(n, 1)
		i = j
	}
	if !p.rebuild || budget <= 0 {
		p.rebuild = false
		return nil
	}
	// The chunk: the next budget messages from the cursor on; fewer
	// means the end of messages, which ends the rebuild.
	err := tx.GetContext(ctx, &p.high, "SELECT id FROM chat.messages WHERE id >= ? ORDER BY id LIMIT 1 OFFSET ?", p.cursor, max(budget, 64)-1)
	if errors.Is(err, sql.ErrNoRows) {
		p.high, p.rebuildIsDone = idMax, true
	} else if err != nil {
		return fmt.Errorf("rebuild from %q: %w", p.cursor, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(copyMsgs, "WHERE m.id BETWEEN ? AND ?"), p.cursor, p.high); err != nil {
		return fmt.Errorf("rebuild from %q: %w", p.cursor, err)
	}
	return nil
}

// applyPass makes the index agree with pass_msgs for each of the pass's
// feed rows and its rebuild chunk, and commits the watermark with it.
func applyPass(ctx context.Context, tx *sqlx.Tx, applied int64, p *pass) error {
	for _, f := range p.groups {
		var err error
		if f.Room.Valid {
			_, err = reconcile(ctx, tx, "d.room = ?", f.Room.String)
		} else {
			err = reconcileRange(ctx, tx, f.Low, f.High)
		}
		if err != nil {
			return fmt.Errorf("feed row %d: %w", f.Seq, err)
		}
	}
	rebuild := any(nil)
	if p.rebuild {
		if err := reconcileRange(ctx, tx, p.cursor, p.high); err != nil {
			return fmt.Errorf("rebuild from %q: %w", p.cursor, err)
		}
		if !p.rebuildIsDone {
			rebuild = p.high
		}
	} else if cursor, err := currentRebuild(ctx, tx); err != nil {
		return err
	} else {
		rebuild = cursor
	}
	_, err := tx.ExecContext(ctx, "UPDATE meta SET value = CASE key WHEN 'applied' THEN ? ELSE ? END WHERE key IN ('applied', 'rebuild')", applied, rebuild)
	return err
}

// currentRebuild is meta's rebuild cursor as it stands (NULL: none).
func currentRebuild(ctx context.Context, tx *sqlx.Tx) (any, error) {
	var cursor sql.NullString
	if err := tx.GetContext(ctx, &cursor, "SELECT value FROM meta WHERE key = 'rebuild'"); err != nil {
		return nil, fmt.Errorf("read rebuild cursor: %w", err)
	}
	if !cursor.Valid {
		return nil, nil
	}
	return cursor.String, nil
}

// reconcileRange makes the index hold exactly the messages of pass_msgs
// with ids from low to high (both included) that have content and are not
// deleted; pass_msgs holds every message of that range.
func reconcileRange(ctx context.Context, tx *sqlx.Tx, low, high string) error {
	if _, err := reconcile(ctx, tx, "d.id BETWEEN ? AND ?", low, high); err != nil {
		return err
	}
	var last int64
	if err := tx.GetContext(ctx, &last, "SELECT IFNULL(MAX(docid), 0) FROM docs"); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO docs (id, room, edited)
SELECT m.id, m.room, m.edited FROM temp.pass_msgs m
WHERE m.id BETWEEN ? AND ? AND m.live AND NOT EXISTS (SELECT 1 FROM docs d WHERE d.id = m.id)
ORDER BY m.id`, low, high)
	if err != nil {
		return fmt.Errorf("add docs: %w", err)
	}
	if added, err := res.RowsAffected(); err != nil || added == 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO messages_fts (rowid, content)
SELECT d.docid, m.content FROM docs d CROSS JOIN temp.pass_msgs m ON m.id = d.id
WHERE d.docid > ? ORDER BY d.docid`, last); err != nil {
		return fmt.Errorf("index content: %w", err)
	}
	return nil
}

// reconcile takes out of the index the docs that where selects (with args)
// whose message is not in pass_msgs (gone), or is deleted, emptied or
// edited since it was indexed, and returns how many.
func reconcile(ctx context.Context, tx *sqlx.Tx, where string, args ...any) (int, error) {
	stale := `SELECT d.docid FROM docs d LEFT JOIN temp.pass_msgs m ON m.id = d.id
WHERE ` + where + ` AND (m.id IS NULL OR NOT m.live OR m.edited <> d.edited)`
	if _, err := tx.ExecContext(ctx, "DELETE FROM messages_fts WHERE rowid IN ("+stale+")", args...); err != nil {
		return 0, fmt.Errorf("unindex stale docs: %w", err)
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM docs WHERE docid IN ("+stale+")", args...)
	if err != nil {
		return 0, fmt.Errorf("delete stale docs: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// WaitIndexed returns once the search index holds everything committed
// before the call (and any rebuild under way is done), or with ctx's error,
// or ErrClosed once the indexer has stopped. Tests and the search bench wait
// on it; Search waits on it briefly (Options.SearchWait).
func (s *Store) WaitIndexed(ctx context.Context) error {
	x := &s.idx
	target := x.committed.Load()
	for {
		x.mu.Lock()
		ch := x.changed
		x.mu.Unlock()
		if x.applied.Load() >= target && !x.rebuilding.Load() {
			return nil
		}
		select {
		case <-ch:
		case <-x.exited:
			return fmt.Errorf("wait for the search index: %w", ErrClosed)
		case <-ctx.Done():
			return fmt.Errorf("wait for the search index: %w", ctx.Err())
		}
	}
}

// awaitIndex is Search's wait: what was committed before a search is found
// by it, as when the index was kept in the writer's transaction, unless the
// indexer is far behind (rebuilding, or more than searchWaitRows batches),
// when waiting would only make every search slow; and never longer than
// Options.SearchWait. It fails only when ctx ended.
func (s *Store) awaitIndex(ctx context.Context) error {
	x := &s.idx
	if s.opts.SearchWait < 0 || x.rebuilding.Load() || x.committed.Load()-x.applied.Load() > searchWaitRows {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, s.opts.SearchWait)
	defer cancel()
	if err := s.WaitIndexed(wctx); err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}
