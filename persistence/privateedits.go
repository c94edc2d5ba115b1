package persistence

// Edits and deletions of private messages (schema version 8), as of room
// messages (edits.go): through the account connection, synced before they
// return. A private message kept in two accounts' conversations also marks
// its rows there (conversation_messages.edited_at), so that a
// conversation's catch-up reads the few changed rows of that conversation
// only, not every private message changed since.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/internal/protocol"
)

// PrivateMessage returns the private message with id; actors.ErrNoMessage
// if none.
func (s *Store) PrivateMessage(ctx context.Context, id string) (actors.StoredMessage, error) {
	return s.messageByID(ctx, id, true)
}

// changePrivate is ChangeMessage of a private message.
func (s *Store) changePrivate(ctx context.Context, c actors.MessageChange) error {
	var seq int64
	err := s.accountTx(ctx, true, func(tx *sqlx.Tx) error {
		var parties struct {
			Username  string `db:"username"`
			Recipient string `db:"recipient"`
		}
		err := tx.GetContext(ctx, &parties, `SELECT username, IFNULL(recipient, '') AS recipient
FROM messages WHERE id = ? AND is_private = 1 AND deleted = 0`, c.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return actors.ErrNoMessage
		}
		if err != nil {
			return err
		}
		at := protocol.FormatTimestamp(c.At)
		if c.Deleted {
			_, err = tx.ExecContext(ctx, "UPDATE messages SET content = '', deleted = 1, edited_at = ? WHERE id = ?", at, c.ID)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE messages SET content = ?, edited_at = ? WHERE id = ?", c.Content, at, c.ID)
		}
		if err != nil {
			return err
		}
		// The rows of the conversations that keep it, if any (a guest's
		// has none): each side's, by the whole primary key.
		from, to := actors.Skeleton(parties.Username), actors.Skeleton(parties.Recipient)
		for _, side := range [][2]string{{from, to}, {to, from}} {
			if _, err := tx.ExecContext(ctx, `UPDATE conversation_messages SET edited_at = ?
WHERE owner = ? AND peer = ? AND id = ?`, at, side[0], side[1], c.ID); err != nil {
				return err
			}
		}
		// The indexer takes the old words out and, for an edit, puts the
		// new ones in (searchindex.go), as for a room's message.
		return tx.GetContext(ctx, &seq, "INSERT INTO search_feed (low, high) VALUES (?, ?) RETURNING seq", c.ID, c.ID)
	})
	if err != nil {
		return fmt.Errorf("change private message %s: %w", c.ID, err)
	}
	s.noteFeed(seq)
	return nil
}

// conversationChanges is Changes of a conversation, from
// conversation_messages_edited.
func (s *Store) conversationChanges(ctx context.Context, q actors.ChangesQuery) ([]actors.StoredMessage, error) {
	var rows []messageRow
	err := s.rdb.SelectContext(ctx, &rows, `SELECT m.id, m.room, m.username, m.content, m.timestamp, m.is_private,
       IFNULL(m.recipient, '') AS recipient, IFNULL(m.nonce, '') AS nonce,
       IFNULL(m.edited_at, '') AS edited_at, m.deleted
FROM conversation_messages c JOIN messages m ON m.id = c.id
WHERE c.owner = ? AND c.peer = ? AND c.edited_at IS NOT NULL AND c.edited_at >= ? AND c.id <= ?
ORDER BY c.edited_at DESC, c.id DESC LIMIT ?`, q.Owner, q.Peer, protocol.FormatTimestamp(q.After), q.Through, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("changes of a conversation: %w", err)
	}
	msgs := make([]actors.StoredMessage, len(rows))
	for i, r := range rows {
		if msgs[i], err = r.stored(); err != nil {
			return nil, fmt.Errorf("changes of a conversation: %w", err)
		}
		msgs[i].Kept = true
	}
	return msgs, nil
}
