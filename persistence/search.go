package persistence

// Full-text search: messages_fts, an FTS5 index in a file of its own that
// an indexer keeps after the writer's commits (searchindex.go), read on the
// read-only pool like every read, which attaches it as "search".
//
// FTS5 is compiled into go-sqlite3 only with its build tag sqlite_fts5
// (the Makefile sets it for every go command). A build without it cannot
// create or read the index, so Open refuses it up front, with words that
// say what to do, rather than fail on the migration's "no such module"
// or on the index file.

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

// searchSelect finds messages by the index, in steps that each read less:
//
//   - bound: the docid of the first message at or after the before bound
//     (docids are given in insertion order, so what is older than it was
//     stored before it, but for an edited message, which is indexed anew);
//   - recent: the newest ? matches below it (-1: all), from the index
//     alone, by docid, so that a word in most messages costs what a word
//     in ? costs, not a million bm25 scores;
//   - hits: the best ranked ? of those (bm25, lower is better; ties: the
//     newer first);
//   - only those are mapped back to ids (docs' primary key), read
//     (messages') and filtered by scope, deletion and before, and by the
//     edited_at the message was indexed with: while the indexer is behind,
//     a hit on an edited message's old words, or on a deleted message, is
//     dropped here, so a result never shows what the words matched no
//     longer.
//
// CROSS JOIN keeps that order: left to itself, SQLite may drive the join
// from messages' room index and ask the index about every message of the
// room, one by one, which on a big room is seconds. %s is where the
// scope's joins go, %s its filters.
const searchSelect = `WITH bound AS (
    SELECT IFNULL((SELECT docid FROM search.docs WHERE id >= ? ORDER BY id LIMIT 1), 9223372036854775807) AS docid
), recent AS (
    SELECT rowid AS docid, rank FROM search.messages_fts
    WHERE messages_fts MATCH ? AND rowid < (SELECT docid FROM bound)
    ORDER BY rowid DESC LIMIT ?
), hits AS (
    SELECT docid, rank FROM recent ORDER BY rank, docid DESC LIMIT ?
)
SELECT m.id, m.room, m.username, m.content, m.timestamp, m.is_private,
       IFNULL(m.recipient, '') AS recipient, IFNULL(m.nonce, '') AS nonce,
       IFNULL(m.edited_at, '') AS edited_at, m.deleted
FROM hits h
CROSS JOIN search.docs d ON d.docid = h.docid
CROSS JOIN messages m ON m.id = d.id
%s
WHERE NOT m.deleted AND IFNULL(m.edited_at, '') = d.edited AND m.id < ? %s
ORDER BY h.rank, m.id DESC
LIMIT ?`

// The steps' sizes, try by try. The first try ranks the newest
// RecentMatches matches and reads the firstHits × the page's best of
// them: when the scope is most of the index (every room a user is in, on
// a small server), that is the answer. A try that finds too few in scope,
// while there were more matches than it looked at, reads more: the
// second ranks hitsGrowth times more matches and reads them all, the last
// ranks and reads every match.
const (
	// RecentMatches is how many of the newest matches a search ranks at
	// first, in the whole index: when at least a page of them is in
	// scope, as many matches in scope as actors.SearchRecent promises are
	// among them but on a server whose rooms the user is mostly not in.
	RecentMatches = actors.SearchRecent
	firstHits     = 4
	hitsGrowth    = 16
)

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
	if err := s.awaitIndex(ctx); err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	before := q.Before
	if before == "" {
		before = noBound
	}
	var (
		query       string
		scope, args []any
		conv        = messageRow.stored
	)
	if q.Peer != "" {
		// The conversation's primary key (owner, peer, id) tells whether
		// a match is in it.
		query = fmt.Sprintf(searchSelect, "CROSS JOIN conversation_messages c ON c.owner = ? AND c.peer = ? AND c.id = m.id", "AND m.is_private")
		scope = []any{q.Owner, q.Peer}
		conv = messageRow.kept
	} else {
		if len(q.Rooms) == 0 {
			return nil, false, nil
		}
		in := strings.Repeat(", ?", len(q.Rooms))[2:]
		query = fmt.Sprintf(searchSelect, "", "AND NOT m.is_private AND m.room IN ("+in+")")
		for _, r := range q.Rooms {
			scope = append(scope, r)
		}
	}
	want := q.Limit + 1 // one more tells whether more matched
	tries := []struct{ recent, hits int }{
		{RecentMatches, firstHits * want},
		{RecentMatches * hitsGrowth, -1},
		{-1, -1},
	}
	var rows []messageRow
	for i, t := range tries {
		// The placeholders in the query's order: bound's before, MATCH,
		// the steps' sizes, the scope's join, before, the scope's
		// filter, the limit.
		args = append(args[:0], before, match, t.recent, t.hits)
		if q.Peer != "" {
			args = append(append(args, scope...), before)
		} else {
			args = append(append(args, before), scope...)
		}
		args = append(args, want)
		rows = rows[:0]
		if err := s.rdb.SelectContext(ctx, &rows, query, args...); err != nil {
			return nil, false, fmt.Errorf("search: %w", err)
		}
		if len(rows) == want || i == len(tries)-1 {
			break
		}
		// Too few in scope: unless this try looked at every match, try
		// more. It read the best min(recent, hits) of the matches.
		looked := t.recent
		if t.hits != -1 && t.hits < looked {
			looked = t.hits
		}
		var n int
		if err := s.rdb.GetContext(ctx, &n, "SELECT COUNT(*) FROM (SELECT 1 FROM search.messages_fts WHERE messages_fts MATCH ? LIMIT ?)", match, looked+1); err != nil {
			return nil, false, fmt.Errorf("search: %w", err)
		}
		if n <= looked {
			break
		}
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
