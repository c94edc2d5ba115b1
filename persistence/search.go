package persistence

// Full-text search (schema version 6): messages_fts, an external-content
// FTS5 index kept in step with messages by triggers, read on the read-only
// pool like every read.
//
// FTS5 is compiled into go-sqlite3 only with its build tag sqlite_fts5
// (the Makefile sets it for every go command). A build without it cannot
// create or read the index, so Open refuses it up front, with words that
// say what to do, rather than fail on the migration's "no such module"
// or, on a database migrated already, on every insert (the triggers write
// the index).

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/internal/textsearch"
)

// errNoFTS5 is Open's error in a build without FTS5.
var errNoFTS5 = errors.New("this build's SQLite has no FTS5, which search needs: build parley with -tags sqlite_fts5 (make does)")

// checkFTS5 fails with errNoFTS5 unless SQLite was compiled with FTS5.
func checkFTS5(ctx context.Context, conn *sqlx.Conn) error {
	var on int
	if err := conn.GetContext(ctx, &on, "SELECT sqlite_compileoption_used('ENABLE_FTS5')"); err != nil {
		return fmt.Errorf("check for fts5: %w", err)
	}
	if on != 1 {
		return errNoFTS5
	}
	return nil
}

// searchSelect finds messages by the index: the matches (MATCH), their
// docids mapped back to ids (search_docs' primary key), the messages (by
// id), in bm25 order (lower is better), ties newest first. %s is where
// the scope joins and filters go.
const searchSelect = `SELECT m.id, m.room, m.username, m.content, m.timestamp, m.is_private,
       IFNULL(m.recipient, '') AS recipient, IFNULL(m.nonce, '') AS nonce,
       IFNULL(m.edited_at, '') AS edited_at, m.deleted
FROM messages_fts f
JOIN search_docs d ON d.docid = f.rowid
JOIN messages m ON m.id = d.id
%s
WHERE messages_fts MATCH ? AND NOT m.deleted AND m.id < ? %s
ORDER BY bm25(messages_fts), m.id DESC
LIMIT ?`

// Search returns the messages q selects that hold every term, best ranked
// first, and whether more matched.
func (s *Store) Search(ctx context.Context, q actors.SearchQuery) ([]actors.StoredMessage, bool, error) {
	if q.Limit < 0 {
		return nil, false, fmt.Errorf("search: negative limit %d", q.Limit)
	}
	match, err := textsearch.FTS5(q.Terms)
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	before := q.Before
	if before == "" {
		before = noBound
	}
	var (
		query string
		args  []any
		conv  = messageRow.stored
	)
	if q.Peer != "" {
		// The conversation's primary key (owner, peer, id) tells whether
		// a match is in it.
		query = fmt.Sprintf(searchSelect, "JOIN conversation_messages c ON c.owner = ? AND c.peer = ? AND c.id = m.id", "AND m.is_private")
		args = []any{q.Owner, q.Peer, match, before}
		conv = messageRow.kept
	} else {
		if len(q.Rooms) == 0 {
			return nil, false, nil
		}
		in := strings.Repeat(", ?", len(q.Rooms))[2:]
		query = fmt.Sprintf(searchSelect, "", "AND NOT m.is_private AND m.room IN ("+in+")")
		args = []any{match, before}
		for _, r := range q.Rooms {
			args = append(args, r)
		}
	}
	args = append(args, q.Limit+1) // one more tells whether more matched
	var rows []messageRow
	if err := s.rdb.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	msgs := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		if msgs[i], err = conv(r); err != nil {
			return nil, false, fmt.Errorf("search: %w", err)
		}
	}
	return msgs, more, nil
}
