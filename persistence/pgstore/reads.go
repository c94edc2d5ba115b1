package pgstore

// Reads: each goes to the pool, never waiting for the writer.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"parley/actors"
)

// messageRow is a messages row as the read queries select it.
type messageRow struct {
	ID        string       `db:"id"`
	Room      string       `db:"room"`
	Username  string       `db:"username"`
	Content   string       `db:"content"`
	Timestamp time.Time    `db:"timestamp"`
	Private   bool         `db:"is_private"`
	Recipient string       `db:"recipient"`
	Nonce     string       `db:"nonce"`
	EditedAt  sql.NullTime `db:"edited_at"`
	Deleted   bool         `db:"deleted"`
}

// stored is the row as the actors know it; kept marks it as a message of a
// conversation.
func (r messageRow) stored(kept bool) actors.StoredMessage {
	return actors.StoredMessage{
		ID: r.ID, Room: r.Room, Username: r.Username, Recipient: r.Recipient,
		Content: r.Content, Timestamp: r.Timestamp.UTC(), Private: r.Private, Kept: kept, Nonce: r.Nonce,
		EditedAt: editedAt(r.EditedAt), Deleted: r.Deleted,
	}
}

const messageColumns = `m.id, m.room, m.username, m.content, m.timestamp, m.is_private,
       coalesce(m.recipient, '') AS recipient, coalesce(m.nonce, '') AS nonce,
       m.edited_at, m.deleted`

// History returns the newest q.Limit public messages of q.Room within the
// bounds, oldest first, and whether older ones within the bounds were left
// out. A negative Limit is an error; a zero Limit returns no messages but
// still reports whether there are some.
func (s *Store) History(ctx context.Context, q actors.HistoryQuery) ([]actors.StoredMessage, bool, error) {
	if q.Limit < 0 {
		return nil, false, fmt.Errorf("history of %q: negative limit %d", q.Room, q.Limit)
	}
	var b strings.Builder
	b.WriteString("SELECT " + messageColumns + " FROM messages m WHERE m.room = $1 AND NOT m.is_private")
	args := []any{q.Room}
	for _, bound := range []struct{ op, id string }{{">", q.After}, {"<", q.Before}, {"<=", q.Through}} {
		if bound.id != "" {
			args = append(args, bound.id)
			b.WriteString(" AND m.id " + bound.op + " $" + strconv.Itoa(len(args)))
		}
	}
	// One more than asked tells whether older ones were left out.
	args = append(args, q.Limit+1)
	b.WriteString(" ORDER BY m.id DESC LIMIT $" + strconv.Itoa(len(args)))
	msgs, more, err := s.newestFirst(ctx, b.String(), args, q.Limit, q.MaxBytes, false)
	if err != nil {
		return nil, false, fmt.Errorf("history of %q: %w", q.Room, err)
	}
	return msgs, more, nil
}

// newestFirst runs query, whose rows come newest first, and returns at
// most limit of them, oldest first; it stops reading as soon as the page
// would pass maxBytes (by actors.MessageSize; 0: no bound). more reports
// that rows were left out.
func (s *Store) newestFirst(ctx context.Context, query string, args []any, limit, maxBytes int, kept bool) ([]actors.StoredMessage, bool, error) {
	rows, err := s.db.QueryxContext(ctx, query, args...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var (
		msgs []actors.StoredMessage
		size int
		more bool
	)
	for rows.Next() {
		if len(msgs) == limit {
			more = true
			break
		}
		var r messageRow
		if err := rows.StructScan(&r); err != nil {
			return nil, false, err
		}
		m := r.stored(kept)
		if size += actors.MessageSize(&m); maxBytes > 0 && size > maxBytes {
			more = true
			break
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	slices.Reverse(msgs)
	return msgs, more, nil
}

// Rooms lists every recorded room that holds a message, by name.
func (s *Store) Rooms(ctx context.Context) ([]actors.RoomRecord, error) {
	var rows []struct {
		Name      string    `db:"name"`
		CreatedAt time.Time `db:"created_at"`
	}
	if err := s.db.SelectContext(ctx, &rows, `SELECT name, created_at FROM rooms r
WHERE EXISTS (SELECT 1 FROM messages m WHERE m.room = r.name) ORDER BY name`); err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	rooms := make([]actors.RoomRecord, len(rows))
	for i, r := range rows {
		rooms[i] = actors.RoomRecord{Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
	}
	return rooms, nil
}

// LastID returns the greatest message id stored for room, or "" if none.
func (s *Store) LastID(ctx context.Context, room string) (string, error) {
	var id sql.NullString
	if err := s.db.GetContext(ctx, &id, "SELECT max(id) FROM messages WHERE room = $1", room); err != nil {
		return "", fmt.Errorf("last id of %q: %w", room, err)
	}
	return id.String, nil
}

// findNonceSQL compares exactly the expressions of the messages_nonce
// index, so that PostgreSQL answers from it.
const findNonceSQL = `SELECT id, timestamp FROM messages
WHERE room = $1 AND lower(coalesce(recipient, '')) = lower($2)
  AND lower(username) = lower($3) AND nonce = $4`

// FindNonce returns the id and timestamp of the message that key.Username
// already stored with key.Nonce in key.Room (or, for a private message, to
// key.Recipient). ok is false when there is none, and always for an empty
// nonce. Names match case-insensitively.
func (s *Store) FindNonce(ctx context.Context, key actors.NonceKey) (id string, ts time.Time, ok bool, err error) {
	if key.Nonce == "" {
		return "", time.Time{}, false, nil
	}
	var row struct {
		ID        string    `db:"id"`
		Timestamp time.Time `db:"timestamp"`
	}
	err = s.db.GetContext(ctx, &row, findNonceSQL, key.Room, key.Recipient, key.Username, key.Nonce)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("find nonce: %w", err)
	}
	return row.ID, row.Timestamp.UTC(), true, nil
}

// noBound is greater than every message id (Crockford base32: digits and
// capitals), so "id < noBound" bounds nothing.
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
	msgs, more, err := s.newestFirst(ctx, `SELECT `+messageColumns+`
FROM conversation_messages c JOIN messages m ON m.id = c.id
WHERE c.owner = $1 AND c.peer = $2 AND c.id < $3
ORDER BY c.id DESC LIMIT $4`, []any{q.Owner, q.Peer, before, q.Limit + 1}, q.Limit, q.MaxBytes, true)
	if err != nil {
		return nil, false, fmt.Errorf("conversation: %w", err)
	}
	return msgs, more, nil
}

// conversationsSelect takes the greatest id of each of an owner's peers,
// then the newest of those, with the owner's marker in each and the count
// of the other side's messages after it, stopping at UnreadMax.
const conversationsSelect = `SELECT ` + messageColumns + `,
       coalesce(r.id, '') AS read_id,
       (SELECT count(*) FROM (SELECT 1 FROM conversation_messages u JOIN messages um ON um.id = u.id
         WHERE u.owner = $1 AND u.peer = c.peer AND u.id > coalesce(r.id, '')
           AND lower(um.username) <> lower($2) LIMIT $3) x) AS unread
FROM (SELECT peer, max(id) AS id FROM conversation_messages WHERE owner = $1 GROUP BY peer) c
JOIN messages m ON m.id = c.id
LEFT JOIN read_markers r ON r.owner = $1 AND r.kind = 'with' AND r.target = c.peer
ORDER BY m.id DESC LIMIT $4`

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
	if err := s.db.SelectContext(ctx, &rows, conversationsSelect, owner.Key, owner.Name, actors.UnreadMax, limit+1); err != nil {
		return nil, false, fmt.Errorf("conversations: %w", err)
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	convs := make([]actors.ConversationSummary, len(rows))
	for i, r := range rows {
		convs[i] = actors.ConversationSummary{Last: r.stored(true), Read: r.Read, Unread: r.Unread}
	}
	return convs, more, nil
}
