package pgstore

// Edits and deletions of private messages (schema version 5), as the
// SQLite store keeps them (package persistence's privateedits.go says why
// a conversation's rows hold the change's time too).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"parley/actors"
)

// PrivateMessage returns the private message with id; actors.ErrNoMessage
// if none.
func (s *Store) PrivateMessage(ctx context.Context, id string) (actors.StoredMessage, error) {
	return s.messageByID(ctx, id, true)
}

// changePrivate is ChangeMessage of a private message.
func (s *Store) changePrivate(ctx context.Context, c actors.MessageChange) error {
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		var parties struct {
			Username  string `db:"username"`
			Recipient string `db:"recipient"`
		}
		// FOR UPDATE: a deletion racing with this edit waits, and then
		// finds the message deleted.
		err := tx.GetContext(ctx, &parties, `SELECT username, coalesce(recipient, '') AS recipient
FROM messages WHERE id = $1 AND is_private AND NOT deleted FOR UPDATE`, c.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return actors.ErrNoMessage
		}
		if err != nil {
			return err
		}
		if c.Deleted {
			_, err = tx.ExecContext(ctx, "UPDATE messages SET content = '', deleted = true, edited_at = $1 WHERE id = $2", c.At, c.ID)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE messages SET content = $1, edited_at = $2 WHERE id = $3", c.Content, c.At, c.ID)
		}
		if err != nil {
			return err
		}
		from, to := actors.Skeleton(parties.Username), actors.Skeleton(parties.Recipient)
		for _, side := range [][2]string{{from, to}, {to, from}} {
			if _, err := tx.ExecContext(ctx, `UPDATE conversation_messages SET edited_at = $1
WHERE owner = $2 AND peer = $3 AND id = $4`, c.At, side[0], side[1], c.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("change private message %s: %w", c.ID, err)
	}
	return nil
}

// conversationChanges is Changes of a conversation, from
// conversation_messages_edited.
func (s *Store) conversationChanges(ctx context.Context, q actors.ChangesQuery) ([]actors.StoredMessage, error) {
	var rows []messageRow
	err := s.db.SelectContext(ctx, &rows, "SELECT "+messageColumns+` FROM conversation_messages c JOIN messages m ON m.id = c.id
WHERE c.owner = $1 AND c.peer = $2 AND c.edited_at IS NOT NULL AND c.edited_at >= $3 AND c.id <= $4
ORDER BY c.edited_at DESC, c.id DESC LIMIT $5`, q.Owner, q.Peer, q.After, q.Through, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("changes of a conversation: %w", err)
	}
	msgs := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		msgs[i] = r.stored(true)
	}
	return msgs, nil
}
