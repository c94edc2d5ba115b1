package persistence

// Reads: each runs on the read-only pool, never on the writer's connection.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// messageRow is a messages row as the read queries select it.
type messageRow struct {
	ID        string `db:"id"`
	Room      string `db:"room"`
	Username  string `db:"username"`
	Content   string `db:"content"`
	Timestamp string `db:"timestamp"`
	Private   bool   `db:"is_private"`
	Recipient string `db:"recipient"`
	Nonce     string `db:"nonce"`
	EditedAt  string `db:"edited_at"` // "" if never edited
	Deleted   bool   `db:"deleted"`
}

const historySelect = `SELECT id, room, username, content, timestamp, is_private,
       IFNULL(recipient, '') AS recipient, IFNULL(nonce, '') AS nonce,
       IFNULL(edited_at, '') AS edited_at, deleted
FROM messages
WHERE room = ? AND is_private = 0`

// History returns the newest q.Limit public messages of q.Room within the
// bounds, oldest first, and whether older ones within the bounds were left
// out. Private messages are never returned. A negative Limit is an error; a
// zero Limit returns no messages but still reports whether there are some.
func (s *Store) History(ctx context.Context, q actors.HistoryQuery) ([]actors.StoredMessage, bool, error) {
	if q.Limit < 0 {
		return nil, false, fmt.Errorf("history of %q: negative limit %d", q.Room, q.Limit)
	}
	var b strings.Builder
	b.WriteString(historySelect)
	args := make([]any, 1, 5)
	args[0] = q.Room
	for _, bound := range []struct{ op, id string }{{">", q.After}, {"<", q.Before}, {"<=", q.Through}} {
		if bound.id != "" {
			b.WriteString(" AND id " + bound.op + " ?")
			args = append(args, bound.id)
		}
	}
	// One more than asked tells whether older ones were left out.
	b.WriteString(" ORDER BY id DESC LIMIT ?")
	args = append(args, q.Limit+1)

	msgs, more, err := s.newestFirst(ctx, b.String(), args, q.Limit, q.MaxBytes, messageRow.stored)
	if err != nil {
		return nil, false, fmt.Errorf("history of %q: %w", q.Room, err)
	}
	return msgs, more, nil
}

// newestFirst runs query, whose rows come newest first, and returns at
// most limit of them, oldest first, converted by conv; it stops reading as
// soon as the page would pass maxBytes (by actors.MessageSize; 0: no
// bound), so that a page costs what it sends, not what the range holds.
// more reports that rows were left out.
func (s *Store) newestFirst(ctx context.Context, query string, args []any, limit, maxBytes int,
	conv func(messageRow) (actors.StoredMessage, error)) ([]actors.StoredMessage, bool, error) {
	rows, err := s.rdb.QueryxContext(ctx, query, args...)
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
		m, err := conv(r)
		if err != nil {
			return nil, false, err
		}
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

// stored is a row of a room's history as the actors know it.
func (r messageRow) stored() (actors.StoredMessage, error) {
	ts, err := protocol.ParseTimestamp(r.Timestamp)
	if err != nil {
		return actors.StoredMessage{}, fmt.Errorf("message %s: %w", r.ID, err)
	}
	var edited time.Time
	if r.EditedAt != "" {
		if edited, err = protocol.ParseTimestamp(r.EditedAt); err != nil {
			return actors.StoredMessage{}, fmt.Errorf("message %s: edited_at: %w", r.ID, err)
		}
	}
	return actors.StoredMessage{
		ID: r.ID, Room: r.Room, Username: r.Username, Recipient: r.Recipient,
		Content: r.Content, Timestamp: ts, Private: r.Private, Nonce: r.Nonce,
		EditedAt: edited, Deleted: r.Deleted,
	}, nil
}

// Rooms lists every recorded room that holds a message, by name (see
// actors.Store).
func (s *Store) Rooms(ctx context.Context) ([]actors.RoomRecord, error) {
	var rows []struct {
		Name      string `db:"name"`
		CreatedAt string `db:"created_at"`
	}
	if err := s.rdb.SelectContext(ctx, &rows, `SELECT name, created_at FROM rooms r
WHERE EXISTS (SELECT 1 FROM messages m WHERE m.room = r.name) ORDER BY name`); err != nil {
		return nil, fmt.Errorf("list rooms: %w", err)
	}
	rooms := make([]actors.RoomRecord, len(rows))
	for i, r := range rows {
		t, err := protocol.ParseTimestamp(r.CreatedAt)
		if err != nil {
			return nil, fmt.Errorf("list rooms: room %q: %w", r.Name, err)
		}
		rooms[i] = actors.RoomRecord{Name: r.Name, CreatedAt: t}
	}
	return rooms, nil
}

// LastID returns the greatest message id stored for room, or "" if none.
// Private messages are stored with room "", so LastID("") is the greatest
// private message id.
func (s *Store) LastID(ctx context.Context, room string) (string, error) {
	var id sql.NullString
	if err := s.rdb.GetContext(ctx, &id, "SELECT MAX(id) FROM messages WHERE room = ?", room); err != nil {
		return "", fmt.Errorf("last id of %q: %w", room, err)
	}
	return id.String, nil
}

// findNonceSQL compares exactly the expressions and collations of the
// messages_nonce index, so that SQLite answers from the index.
const findNonceSQL = `SELECT id, timestamp FROM messages
WHERE room = ? AND IFNULL(recipient, '') = ? COLLATE NOCASE
  AND username = ? COLLATE NOCASE AND nonce = ?`

// FindNonce returns the id and timestamp of the message that key.Username
// already stored with key.Nonce in key.Room (or, for a private message, to
// key.Recipient). ok is false when there is none, and always for an empty
// nonce. Names match case-insensitively.
func (s *Store) FindNonce(ctx context.Context, key actors.NonceKey) (id string, ts time.Time, ok bool, err error) {
	if key.Nonce == "" {
		return "", time.Time{}, false, nil
	}
	var row struct {
		ID        string `db:"id"`
		Timestamp string `db:"timestamp"`
	}
	err = s.rdb.GetContext(ctx, &row, findNonceSQL, key.Room, key.Recipient, key.Username, key.Nonce)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, false, nil
	}
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("find nonce: %w", err)
	}
	ts, err = protocol.ParseTimestamp(row.Timestamp)
	if err != nil {
		return "", time.Time{}, false, fmt.Errorf("find nonce: message %s: %w", row.ID, err)
	}
	return row.ID, ts, true, nil
}
