package persistence

// Conversations: reads of the private messages kept between two accounts
// (schema version 3), on the read-only pool like every read.

import (
	"context"
	"fmt"

	"parley/actors"
	"parley/internal/protocol"
)

const conversationSelect = `SELECT m.id, m.room, m.username, m.content, m.timestamp, m.is_private,
       IFNULL(m.recipient, '') AS recipient, IFNULL(m.nonce, '') AS nonce
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
	var rows []messageRow
	// One more than asked tells whether older ones were left out.
	if err := s.rdb.SelectContext(ctx, &rows, conversationSelect, q.Owner, q.Peer, before, q.Limit+1); err != nil {
		return nil, false, fmt.Errorf("conversation: %w", err)
	}
	more := len(rows) > q.Limit
	if more {
		rows = rows[:q.Limit]
	}
	msgs := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		m, err := r.kept()
		if err != nil {
			return nil, false, fmt.Errorf("conversation: %w", err)
		}
		msgs[len(rows)-1-i] = m // newest first from the query; oldest first to the caller
	}
	return msgs, more, nil
}

// conversationsSelect takes the greatest id of each of an owner's peers
// from the primary key, then the newest of those.
const conversationsSelect = `SELECT m.id, m.room, m.username, m.content, m.timestamp, m.is_private,
       IFNULL(m.recipient, '') AS recipient, IFNULL(m.nonce, '') AS nonce
FROM (SELECT peer, MAX(id) AS id FROM conversation_messages WHERE owner = ? GROUP BY peer) c
JOIN messages m ON m.id = c.id
ORDER BY m.id DESC LIMIT ?`

// Conversations returns the last message of each of owner's conversations,
// newest first, at most limit of them, and whether others were left out.
func (s *Store) Conversations(ctx context.Context, owner string, limit int) ([]actors.StoredMessage, bool, error) {
	if limit < 0 {
		return nil, false, fmt.Errorf("conversations: negative limit %d", limit)
	}
	var rows []messageRow
	if err := s.rdb.SelectContext(ctx, &rows, conversationsSelect, owner, limit+1); err != nil {
		return nil, false, fmt.Errorf("conversations: %w", err)
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	last := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		m, err := r.kept()
		if err != nil {
			return nil, false, fmt.Errorf("conversations: %w", err)
		}
		last[i] = m
	}
	return last, more, nil
}

// kept is a row of a conversation as the actors know it.
func (r messageRow) kept() (actors.StoredMessage, error) {
	ts, err := protocol.ParseTimestamp(r.Timestamp)
	if err != nil {
		return actors.StoredMessage{}, fmt.Errorf("message %s: %w", r.ID, err)
	}
	return actors.StoredMessage{
		ID: r.ID, Room: r.Room, Username: r.Username, Recipient: r.Recipient,
		Content: r.Content, Timestamp: ts, Private: r.Private, Kept: true, Nonce: r.Nonce,
	}, nil
}
