package pgstore

// Edits and deletions of room messages (schema version 2), as the SQLite
// store keeps them: a committed change is durable (synchronous_commit on).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/actors"
)

// editedAt is a nullable edited_at as the actors know it: zero if never.
func editedAt(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

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
	err := s.db.GetContext(ctx, &r, "SELECT "+messageColumns+" FROM messages m WHERE m.id = $1 AND m.is_private = $2", id, private)
	if errors.Is(err, sql.ErrNoRows) {
		return actors.StoredMessage{}, fmt.Errorf("%s %s: %w", what, id, actors.ErrNoMessage)
	}
	if err != nil {
		return actors.StoredMessage{}, fmt.Errorf("%s %s: %w", what, id, err)
	}
	return r.stored(false), nil
}

// ChangeMessage stores an edit or a deletion; a deletion empties the
// content. Neither touches a message that is deleted already, nor a
// private message.
func (s *Store) ChangeMessage(ctx context.Context, c actors.MessageChange) error {
	if c.Private {
		return s.changePrivate(ctx, c) // privateedits.go
	}
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var (
			res sql.Result
			err error
		)
		if c.Deleted {
			res, err = tx.ExecContext(ctx, `UPDATE messages SET content = '', deleted = true, edited_at = $1
WHERE id = $2 AND room = $3 AND NOT is_private AND NOT deleted`, c.At, c.ID, c.Room)
			if err == nil {
				_, err = tx.ExecContext(ctx, "DELETE FROM reactions WHERE id = $1", c.ID) // they go with it
			}
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE messages SET content = $1, edited_at = $2
WHERE id = $3 AND room = $4 AND NOT is_private AND NOT deleted`, c.Content, c.At, c.ID, c.Room)
		}
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return actors.ErrNoMessage
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("change message %s in %q: %w", c.ID, c.Room, err)
	}
	return nil
}

// Changes returns the room's messages up to q.Through changed after
// q.After (or at it), most recently changed first, from messages_room_edited.
func (s *Store) Changes(ctx context.Context, q actors.ChangesQuery) ([]actors.StoredMessage, error) {
	if q.Owner != "" {
		return s.conversationChanges(ctx, q) // privateedits.go
	}
	var rows []messageRow
	err := s.db.SelectContext(ctx, &rows, "SELECT "+messageColumns+` FROM messages m
WHERE m.room = $1 AND m.edited_at IS NOT NULL AND m.edited_at >= $2 AND m.id <= $3 AND NOT m.is_private
ORDER BY m.edited_at DESC, m.id DESC LIMIT $4`, q.Room, q.After, q.Through, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("changes of %q: %w", q.Room, err)
	}
	msgs := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		msgs[i] = r.stored(false)
	}
	return msgs, nil
}
