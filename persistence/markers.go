package persistence

// What an account keeps besides its mail (schema version 4): the rooms it
// is in and its read markers. Writes go through the account connection
// (accountTx, see accounts.go): they are small, rare next to messages, and
// need their answer at once. None is synced on its own: a crash may lose a
// join or a marker written in the last moments, which costs the user a
// room to join again or a few messages shown unread, never a message.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/internal/protocol"
)

// AccountRooms returns the rooms the account (a skeleton) is in, sorted.
func (s *Store) AccountRooms(ctx context.Context, owner string) ([]string, error) {
	var rooms []string
	if err := s.rdb.SelectContext(ctx, &rooms, "SELECT room FROM account_rooms WHERE owner = ? ORDER BY room", owner); err != nil {
		return nil, fmt.Errorf("rooms of %q: %w", owner, err)
	}
	return rooms, nil
}

// advanceMarker moves a marker forward to id, or makes it; never back.
const advanceMarker = `INSERT INTO read_markers (owner, kind, target, id) VALUES (?, ?, ?, ?)
ON CONFLICT (owner, kind, target) DO UPDATE SET id = excluded.id WHERE excluded.id > read_markers.id`

// SetAccountRoom records that the account joined room (and moves its
// marker there forward to lastID, if set), unless it has max rooms
// recorded already; or that it left (its marker stays, and is moved
// forward when it joins again).
func (s *Store) SetAccountRoom(ctx context.Context, owner, room string, joined bool, lastID string, max int) error {
	err := s.accountTx(ctx, false, func(tx *sqlx.Tx) error {
		if !joined {
			_, err := tx.ExecContext(ctx, "DELETE FROM account_rooms WHERE owner = ? AND room = ?", owner, room)
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO account_rooms (owner, room, joined_at)
SELECT ?, ?, ? WHERE (SELECT COUNT(*) FROM account_rooms WHERE owner = ?) < ?`,
			owner, room, protocol.FormatTimestamp(time.Now()), owner, max); err != nil {
			return err
		}
		if lastID == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, advanceMarker, owner, "room", room, lastID)
		return err
	})
	if err != nil {
		return fmt.Errorf("set room %q of %q: %w", room, owner, err)
	}
	return nil
}

// DeleteRoom deletes a room: its record, its messages, and every account's
// membership and read marker in it, in one transaction. (A private message
// has room ” and no room name is empty: none is touched.)
func (s *Store) DeleteRoom(ctx context.Context, room string) error {
	var seq int64
	err := s.accountTx(ctx, true, func(tx *sqlx.Tx) error {
		for _, q := range []string{
			"DELETE FROM reactions WHERE id IN (SELECT id FROM messages WHERE room = ?)",
			"DELETE FROM mentions WHERE id IN (SELECT id FROM messages WHERE room = ?)",
			"DELETE FROM reaction_changes WHERE room = ?",
			"DELETE FROM messages WHERE room = ?",
			"DELETE FROM rooms WHERE name = ?",
			"DELETE FROM account_rooms WHERE room = ?",
			"DELETE FROM read_markers WHERE kind = 'room' AND target = ?",
		} {
			if _, err := tx.ExecContext(ctx, q, room); err != nil {
				return err
			}
		}
		// The indexer takes the room's messages out of the index.
		return tx.GetContext(ctx, &seq, "INSERT INTO search_feed (low, high, room) VALUES ('', '', ?) RETURNING seq", room)
	})
	if err != nil {
		return fmt.Errorf("delete room %q: %w", room, err)
	}
	s.noteFeed(seq)
	return nil
}

// MarkRead moves owner's marker in mark.Room, or in its conversation with
// mark.Peer, forward to mark.Read, and returns it as stored with the
// unread count after it. Only a conversation that owner has takes a
// marker; the caller checks that a room is one owner is in.
func (s *Store) MarkRead(ctx context.Context, owner actors.Owner, mark actors.ReadState) (actors.ReadState, error) {
	kind, target := "room", mark.Room
	if mark.Peer != "" {
		kind, target = "with", mark.Peer
	}
	var with string
	err := s.accountTx(ctx, false, func(tx *sqlx.Tx) error {
		if kind == "with" {
			// The last message names the other side as it is displayed,
			// and proves the conversation exists.
			var last struct {
				Username  string `db:"username"`
				Recipient string `db:"recipient"`
			}
			err := tx.GetContext(ctx, &last, `SELECT m.username, IFNULL(m.recipient, '') AS recipient
FROM conversation_messages c JOIN messages m ON m.id = c.id
WHERE c.owner = ? AND c.peer = ? ORDER BY c.id DESC LIMIT 1`, owner.Key, mark.Peer)
			if errors.Is(err, sql.ErrNoRows) {
				return actors.ErrNoConversation
			}
			if err != nil {
				return err
			}
			with = last.Username
			if actors.Skeleton(with) != mark.Peer {
				with = last.Recipient
			}
		}
		_, err := tx.ExecContext(ctx, advanceMarker, owner.Key, kind, target, mark.Read)
		return err
	})
	if err != nil {
		return actors.ReadState{}, fmt.Errorf("mark %s %q read for %q: %w", kind, target, owner.Key, err)
	}
	st := actors.ReadState{Room: mark.Room, Peer: mark.Peer, With: with}
	if err := s.readState(ctx, owner, &st); err != nil {
		return actors.ReadState{}, err
	}
	return st, nil
}

// RoomsRead returns owner's read state in each of rooms, in order.
func (s *Store) RoomsRead(ctx context.Context, owner actors.Owner, rooms []string) ([]actors.ReadState, error) {
	out := make([]actors.ReadState, len(rooms))
	for i, room := range rooms {
		out[i].Room = room
		if err := s.readState(ctx, owner, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Counting the messages after a marker that owner did not send, by the
// room's index or the conversation's primary key, stops at UnreadMax.
const (
	roomUnread = `SELECT COUNT(*) FROM (SELECT 1 FROM messages
WHERE room = ? AND id > ? AND username <> ? COLLATE NOCASE LIMIT ?)`
	conversationUnread = `SELECT COUNT(*) FROM (SELECT 1 FROM conversation_messages c JOIN messages m ON m.id = c.id
WHERE c.owner = ? AND c.peer = ? AND c.id > ? AND m.username <> ? COLLATE NOCASE LIMIT ?)`
)

// readState fills in st.Read and st.Unread for st.Room, or the
// conversation with st.Peer, from the read pool.
func (s *Store) readState(ctx context.Context, owner actors.Owner, st *actors.ReadState) error {
	kind, target := "room", st.Room
	if st.Peer != "" {
		kind, target = "with", st.Peer
	}
	err := s.rdb.GetContext(ctx, &st.Read, "SELECT id FROM read_markers WHERE owner = ? AND kind = ? AND target = ?", owner.Key, kind, target)
	if errors.Is(err, sql.ErrNoRows) {
		st.Read, err = "", nil
	}
	if err == nil {
		if kind == "room" {
			err = s.rdb.GetContext(ctx, &st.Unread, roomUnread, st.Room, st.Read, owner.Name, actors.UnreadMax)
			if err == nil && st.Unread > 0 {
				err = s.rdb.GetContext(ctx, &st.Mentions, roomMentions, owner.Key, st.Room, st.Read, st.Unread)
			}
		} else {
			err = s.rdb.GetContext(ctx, &st.Unread, conversationUnread, owner.Key, st.Peer, st.Read, owner.Name, actors.UnreadMax)
		}
	}
	if err != nil {
		return fmt.Errorf("read state of %s %q for %q: %w", kind, target, owner.Key, err)
	}
	return nil
}
