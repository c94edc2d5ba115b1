package pgstore

// Full-text search (schema version 3): the GIN index messages_search on
// to_tsvector('simple', content), ranked by ts_rank. The snippet is built
// by the caller from the content (textsearch.Snippet), the same for both
// engines; ts_headline would return markup.

import (
	"context"
	"database/sql"
	"fmt"

	"parley/actors"
	"parley/internal/textsearch"
)

// searchSelect is the search query: the newest actors.SearchRecent
// matches in scope ($4), ranked, planned for its words (see Search). PostgreSQL picks how to find them: the
// GIN index for a rare word, a backward walk of the ids for one in most
// messages (which finds its SearchRecent quickly), rather than rank a
// million. %s is where the conversation's join goes and %s the scope's
// filter. $1 is the tsquery, $2 the before bound, $3 the limit; the
// tsvector expression is the index's, word for word.
const searchSelect = `SELECT * FROM (
    SELECT ` + messageColumns + `
    FROM messages m
    %s
    WHERE to_tsvector('simple', m.content) @@ to_tsquery('simple', $1) AND NOT m.deleted AND m.id < $2 %s
    ORDER BY m.id DESC
    LIMIT $4
) m
ORDER BY ts_rank(to_tsvector('simple', m.content), to_tsquery('simple', $1)) DESC, m.id DESC
LIMIT $3`

// Search returns the messages q selects that hold every term, best ranked
// first, and whether more matched.
func (s *Store) Search(ctx context.Context, q actors.SearchQuery) ([]actors.StoredMessage, bool, error) {
	if q.Limit < 0 {
		return nil, false, fmt.Errorf("search: negative limit %d", q.Limit)
	}
	tsq, err := textsearch.TSQuery(q.Terms)
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	before := q.Before
	if before == "" {
		before = noBound
	}
	args := []any{tsq, before, q.Limit + 1, actors.SearchRecent} // one more tells whether more matched
	var query string
	kept := q.Peer != ""
	if kept {
		query = fmt.Sprintf(searchSelect, "JOIN conversation_messages c ON c.owner = $5 AND c.peer = $6 AND c.id = m.id", "AND m.is_private")
		args = append(args, q.Owner, q.Peer)
	} else {
		if len(q.Rooms) == 0 {
			return nil, false, nil
		}
		query = fmt.Sprintf(searchSelect, "", "AND NOT m.is_private AND m.room = ANY($5)")
		args = append(args, q.Rooms)
	}
	// Planned for these words, not once for all: pgx prepares and caches
	// the statement, and after a few runs PostgreSQL would use its generic
	// plan, which cannot know how common the words are and walks the ids
	// back for a rare word too (0.8 s on 100,000 messages, where the GIN
	// index answers in 2 ms: BenchmarkSearch).
	rows, err := s.searchRows(ctx, query, args)
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	msgs := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		msgs[i] = r.stored(kept)
	}
	return msgs, more, nil
}

// searchRows runs query in a read-only transaction planned for its
// arguments (plan_cache_mode, for this transaction only).
func (s *Store) searchRows(ctx context.Context, query string, args []any) ([]messageRow, error) {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }() // after Commit, a no-op; else the error that made us leave is the one to report
	if _, err := tx.ExecContext(ctx, "SET LOCAL plan_cache_mode = force_custom_plan"); err != nil {
		return nil, err
	}
	var rows []messageRow
	if err := tx.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, err
	}
	return rows, tx.Commit()
}
