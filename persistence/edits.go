package persistence

// Edits and deletions of room messages (schema version 5). They go through
// the account connection (accountTx), like the markers: rare next to
// messages, and the actors need the answer at once. Unlike a marker, a
// change is synced before it returns: it is announced to the room only
// once it is stored, and a deletion that a crash undid would bring back
// what its author took back.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/internal/protocol"
)

// Message returns the room message with id; actors.ErrNoMessage if none.
func (s *Store) Message(ctx context.Context, id string) (actors.StoredMessage, error) {
	return s.messageByID(ctx, id, false)
}

// messageByID is Message, or with private PrivateMessage (privateedits.go).
func (s *Store) messageByID(ctx context.Context, id string, private bool) (actors.StoredMessage, error) {
	what := "message"
	if private {
		what = "private message"
	}
	var r messageRow
	err := s.rdb.GetContext(ctx, &r, `SELECT id, room, username, content, timestamp, is_private,
       IFNULL(recipient, '') AS recipient, IFNULL(nonce, '') AS nonce,
       IFNULL(edited_at, '') AS edited_at, deleted
FROM messages WHERE id = ? AND is_private = ?`, id, private)
	if errors.Is(err, sql.ErrNoRows) {
		return actors.StoredMessage{}, fmt.Errorf("%s %s: %w", what, id, actors.ErrNoMessage)
	}
	if err != nil {
		return actors.StoredMessage{}, fmt.Errorf("%s %s: %w", what, id, err)
	}
	return r.stored()
}

// ChangeMessage stores an edit or a deletion; a deletion empties the
// content. Neither touches a message that is deleted already (a late edit
// must not bring one back), nor a private message unless c.Private
// (privateedits.go).
func (s *Store) ChangeMessage(ctx context.Context, c actors.MessageChange) error {
	if c.Private {
		return s.changePrivate(ctx, c)
	}
	var seq int64
	err := s.accountTx(ctx, true, func(tx *sqlx.Tx) error {
		var (
			res sql.Result
			err error
		)
		at := protocol.FormatTimestamp(c.At)
		if c.Deleted {
			res, err = tx.ExecContext(ctx, `UPDATE messages SET content = '', deleted = 1, edited_at = ?
WHERE id = ? AND room = ? AND is_private = 0 AND deleted = 0`, at, c.ID, c.Room)
			if err == nil {
				_, err = tx.ExecContext(ctx, "DELETE FROM reactions WHERE id = ?", c.ID) // they go with it
			}
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE messages SET content = ?, edited_at = ?
WHERE id = ? AND room = ? AND is_private = 0 AND deleted = 0`, c.Content, at, c.ID, c.Room)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return actors.ErrNoMessage
		}
		// The indexer takes the old words out and, for an edit, puts the
		// new ones in (searchindex.go).
		return tx.GetContext(ctx, &seq, "INSERT INTO search_feed (low, high) VALUES (?, ?) RETURNING seq", c.ID, c.ID)
	})
	if err != nil {
		return fmt.Errorf("change message %s in %q: %w", c.ID, c.Room, err)
	}
	s.noteFeed(seq)
	return nil
}

// Changes returns the room's messages up to q.Through changed after
// q.After (or at it), most recently changed first, from messages_room_edited;
// with q.Owner, the conversation's (privateedits.go).
func (s *Store) Changes(ctx context.Context, q actors.ChangesQuery) ([]actors.StoredMessage, error) {
	if q.Owner != "" {
		return s.conversationChanges(ctx, q)
	}
	var rows []messageRow
	err := s.rdb.SelectContext(ctx, &rows, `SELECT id, room, username, content, timestamp, is_private,
       IFNULL(recipient, '') AS recipient, IFNULL(nonce, '') AS nonce,
       IFNULL(edited_at, '') AS edited_at, deleted
FROM messages
WHERE room = ? AND edited_at IS NOT NULL AND edited_at >= ? AND id <= ? AND is_private = 0
ORDER BY edited_at DESC, id DESC LIMIT ?`, q.Room, protocol.FormatTimestamp(q.After), q.Through, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("changes of %q: %w", q.Room, err)
	}
	msgs := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		if msgs[i], err = r.stored(); err != nil {
			return nil, fmt.Errorf("changes of %q: %w", q.Room, err)
		}
	}
	return msgs, nil
}
