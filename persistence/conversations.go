package persistence

// Conversations: reads of the private messages kept between two accounts
// (schema version 3), on the read-only pool like every read.

import (
	"context"
	"fmt"

	"parley/actors"
)

const conversationSelect = `SELECT m.id, m.room, m.username, m.content, m.timestamp, m.is_private,
       IFNULL(m.recipient, '') AS recipient, IFNULL(m.nonce, '') AS nonce,
       IFNULL(m.edited_at, '') AS edited_at, m.deleted
FROM conversation_messages c JOIN messages m ON m.id = c.id
WHERE c.owner = ? AND c.peer = ? AND c.id < ?
ORDER BY c.id DESC LIMIT ?`

// noBound is greater than every message id (ids are 26 characters of
// Crockford base32, digits and capitals), so "id < noBound" bounds nothing.
const noBound = "~"

// Conversation returns the newest q.Limit messages between q.Owner and
// q.Peer, as q.Owner keeps them, before q.Before if set, oldest first, and
// whether older ones were left out. A negative Limit is an error.
func (s *Store) Conversation(ctx context.Context, q actors.ConversationQuery) ([]actors.StoredMessage, bool, error) {
	if q.Limit < 0 {
		return nil, false, fmt.Errorf("conversation: negative limit %d", q.Limit)
	}
	before := q.Before
	if before == "" {
		before = noBound
	}
	// One more than asked tells whether older ones were left out.
	msgs, more, err := s.newestFirst(ctx, conversationSelect, []any{q.Owner, q.Peer, before, q.Limit + 1}, q.Limit, q.MaxBytes, messageRow.kept)
	if err != nil {
		return nil, false, fmt.Errorf("conversation: %w", err)
	}
	return msgs, more, nil
}

// conversationsSelect takes the greatest id of each of an owner's peers
// from the primary key, then the newest of those, with the owner's marker
// in each and the count of the other side's messages after it (by the
// primary key, stopping at UnreadMax).
const conversationsSelect = `SELECT m.id, m.room, m.username, m.content, m.timestamp, m.is_private,
       IFNULL(m.recipient, '') AS recipient, IFNULL(m.nonce, '') AS nonce,
       IFNULL(m.edited_at, '') AS edited_at, m.deleted,
       IFNULL(r.id, '') AS read_id,
       (SELECT COUNT(*) FROM (SELECT 1 FROM conversation_messages u JOIN messages um ON um.id = u.id
         WHERE u.owner = ?1 AND u.peer = c.peer AND u.id > IFNULL(r.id, '')
           AND um.username <> ?2 COLLATE NOCASE LIMIT ?3)) AS unread
FROM (SELECT peer, MAX(id) AS id FROM conversation_messages WHERE owner = ?1 GROUP BY peer) c
JOIN messages m ON m.id = c.id
LEFT JOIN read_markers r ON r.owner = ?1 AND r.kind = 'with' AND r.target = c.peer
ORDER BY m.id DESC LIMIT ?4`

// Conversations returns each of owner's conversations with its last
// message and owner's read state, newest first, at most limit of them,
// and whether others were left out.
func (s *Store) Conversations(ctx context.Context, owner actors.Owner, limit int) ([]actors.ConversationSummary, bool, error) {
	if limit < 0 {
		return nil, false, fmt.Errorf("conversations: negative limit %d", limit)
	}
	var rows []struct {
		messageRow
		Read   string `db:"read_id"`
		Unread int    `db:"unread"`
	}
	if err := s.rdb.SelectContext(ctx, &rows, conversationsSelect, owner.Key, owner.Name, actors.UnreadMax, limit+1); err != nil {
		return nil, false, fmt.Errorf("conversations: %w", err)
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	convs := make([]actors.ConversationSummary, len(rows))
	for i, r := range rows {
		m, err := r.kept()
		if err != nil {
			return nil, false, fmt.Errorf("conversations: %w", err)
		}
		convs[i] = actors.ConversationSummary{Last: m, Read: r.Read, Unread: r.Unread}
	}
	return convs, more, nil
}

// kept is a row of a conversation as the actors know it.
func (r messageRow) kept() (actors.StoredMessage, error) {
	m, err := r.stored()
	m.Kept = true
	return m, err
}
