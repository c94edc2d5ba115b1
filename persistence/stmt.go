package persistence

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
)

// The writer's statements are prepared once on the write connection's driver
// connection, reached through sqlx.Conn.Raw, and used only inside Raw:
// database/sql would box, check and convert the 8 arguments of every row on
// each call. Transactions are driven by hand on the one connection, not
// through sql.Tx, so the statements are used directly, without re-binding
// them to a transaction for every batch.

// rawStmt is a statement prepared on the driver's connection.
type rawStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// writeStmts are the writer goroutine's statements. Prepared by Open, used by
// run alone, closed by Close once run has exited.
type writeStmts struct {
	insert                  [len(chunkSizes)]rawStmt // insert[i] inserts chunkSizes[i] messages
	insertRoom              rawStmt
	insertParty             rawStmt // one side of a conversation: conversation_messages
	insertMention           rawStmt // one name a message mentions (reactions.go)
	changes                 rawStmt // SELECT changes(): rows the last insert kept
	insertFeed              rawStmt // the batch's row of search_feed (searchindex.go), RETURNING its seq
	trimFeed                rawStmt // deletes the feed rows the search index has applied
	begin, commit, rollback rawStmt
}

// Messages are inserted with multi-row INSERTs of these many rows, largest
// first: one statement per 64 rows costs far less than 64 statements (see
// docs/performance.md), and 8 then 1 cover the rest.
var chunkSizes = [...]int{64, 8, 1}

const messageColumns = 8 // id, room, username, content, timestamp, is_private, recipient, nonce

// insertMessagesSQL is INSERT OR FAIL, not INSERT: a plain INSERT of several
// rows aborts as a whole on a constraint, so SQLite first copies every
// existing page the statement changes into a statement journal, to be able
// to undo the rows already inserted. With messages of ten rooms in a batch,
// each statement changes ten places of the (room, id) index, and writing that
// journal becomes much of the writer's work (docs/performance.md). OR FAIL
// keeps the rows before the refused one, needs no statement journal, and
// leaves their count in changes(), which is how insertMessages knows which
// row was refused.
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

// prepare prepares every statement on dc, the write connection's driver
// connection.
func (st *writeStmts) prepare(ctx context.Context, dc any) error {
	conn, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return fmt.Errorf("driver connection %T cannot prepare with a context", dc)
	}
	for i, n := range chunkSizes {
		if err := prepareRaw(ctx, conn, &st.insert[i], insertMessagesSQL(n)); err != nil {
			return fmt.Errorf("insert %d messages: %w", n, err)
		}
	}
	for _, p := range []struct {
		dst        *rawStmt
		what, text string
	}{
		{&st.insertRoom, "insert room", "INSERT OR IGNORE INTO rooms (name, created_at) VALUES (?, ?)"},
		{&st.insertParty, "insert conversation row", "INSERT OR IGNORE INTO conversation_messages (owner, peer, id) VALUES (?, ?, ?)"},
		{&st.insertMention, "insert mention", "INSERT OR IGNORE INTO mentions (who, room, id, pos, name) VALUES (?, ?, ?, ?, ?)"},
		{&st.changes, "changes", "SELECT changes()"},
		{&st.insertFeed, "insert search feed row", "INSERT INTO search_feed (low, high) VALUES (?, ?) RETURNING seq"},
		{&st.trimFeed, "trim search feed", "DELETE FROM search_feed WHERE seq <= ?"},
		{&st.begin, "begin", "BEGIN IMMEDIATE"},
		{&st.commit, "commit", "COMMIT"},
		{&st.rollback, "rollback", "ROLLBACK"},
	} {
		if err := prepareRaw(ctx, conn, p.dst, p.text); err != nil {
			return fmt.Errorf("%s: %w", p.what, err)
		}
	}
	return nil
}

// prepareRaw prepares query on conn into *dst.
func prepareRaw(ctx context.Context, conn driver.ConnPrepareContext, dst *rawStmt, query string) error {
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

// close closes the statements prepared so far. It must run inside Raw on the
// write connection; closing that connection finalizes them anyway, so their
// errors are not reported.
func (st *writeStmts) close() {
	for _, rs := range append(st.insert[:], st.insertRoom, st.insertParty, st.insertMention, st.changes, st.insertFeed, st.trimFeed, st.begin, st.commit, st.rollback) {
		if rs != nil {
			_ = rs.Close()
		}
	}
}

// keptRows returns changes(): after an INSERT OR FAIL refused a row, how
// many rows before it the statement kept.
func (st *writeStmts) keptRows() (int, error) {
	n, err := queryInt(st.changes, nil)
	if err != nil {
		return 0, fmt.Errorf("changes(): %w", err)
	}
	return int(n), nil
}

// queryInt runs rs with args and returns the integer in its first row's
// first column.
func queryInt(rs rawStmt, args []driver.NamedValue) (int64, error) {
	rows, err := rs.QueryContext(context.Background(), args)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	dest := make([]driver.Value, len(rows.Columns()))
	if err := rows.Next(dest); err != nil {
		return 0, err
	}
	n, ok := dest[0].(int64)
	if !ok {
		return 0, fmt.Errorf("got %T, not an integer", dest[0])
	}
	return n, nil
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

// nullIfEmpty is s as a statement argument, with "" stored as NULL.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
