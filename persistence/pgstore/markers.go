package pgstore

// What an account keeps besides its mail: the rooms it is in and its read
// markers. Each write is one transaction on the pool, at once: PostgreSQL
// runs it beside the writer's batches.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/persistence"
)

// tx runs f in one transaction on the pool, unless the store is closed.
func (s *Store) tx(ctx context.Context, f func(tx *sqlx.Tx) error) error {
	return s.guard(func() error { return persistence.InTx(ctx, s.db, f) })
}

// AccountRooms returns the rooms the account (a skeleton) is in, sorted.
func (s *Store) AccountRooms(ctx context.Context, owner string) ([]string, error) {
	var rooms []string
	if err := s.db.SelectContext(ctx, &rooms, "SELECT room FROM account_rooms WHERE owner = $1 ORDER BY room", owner); err != nil {
		return nil, fmt.Errorf("rooms of %q: %w", owner, err)
	}
	return rooms, nil
}

// advanceMarker moves a marker forward to id, or makes it; never back.
const advanceMarker = `INSERT INTO read_markers (owner, kind, target, id) VALUES ($1, $2, $3, $4)
ON CONFLICT (owner, kind, target) DO UPDATE SET id = excluded.id WHERE excluded.id > read_markers.id`

// SetAccountRoom records that the account joined room (and moves its
// marker there forward to lastID, if set), unless it has max rooms
// recorded already; or that it left (its marker stays).
func (s *Store) SetAccountRoom(ctx context.Context, owner, room string, joined bool, lastID string, max int) error {
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if !joined {
			_, err := tx.ExecContext(ctx, "DELETE FROM account_rooms WHERE owner = $1 AND room = $2", owner, room)
			return err
		}
		// Two joins of one account at once (on two nodes) must not both
		// pass the count: they take turns on a lock of the account's own.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", "account_rooms:"+owner); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO account_rooms (owner, room, joined_at)
SELECT $1, $2, $3 WHERE (SELECT count(*) FROM account_rooms WHERE owner = $1) < $4
ON CONFLICT DO NOTHING`, owner, room, ms(time.Now()), max); err != nil {
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
// membership and read marker in it, in one transaction.
func (s *Store) DeleteRoom(ctx context.Context, room string) error {
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		for _, q := range []string{
			"DELETE FROM reactions WHERE id IN (SELECT id FROM messages WHERE room = $1)",
			"DELETE FROM mentions WHERE id IN (SELECT id FROM messages WHERE room = $1)",
			"DELETE FROM reaction_changes WHERE room = $1",
			"DELETE FROM messages WHERE room = $1",
			"DELETE FROM rooms WHERE name = $1",
			"DELETE FROM account_rooms WHERE room = $1",
			"DELETE FROM read_markers WHERE kind = 'room' AND target = $1",
		} {
			if _, err := tx.ExecContext(ctx, q, room); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete room %q: %w", room, err)
	}
	return nil
}

// MarkRead moves owner's marker in mark.Room, or in its conversation with
// mark.Peer, forward to mark.Read, and returns it as stored with the
// unread count after it. Only a conversation that owner has takes a
// marker: ErrNoConversation otherwise.
func (s *Store) MarkRead(ctx context.Context, owner actors.Owner, mark actors.ReadState) (actors.ReadState, error) {
	kind, target := "room", mark.Room
	if mark.Peer != "" {
		kind, target = "with", mark.Peer
	}
	var with string
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if kind == "with" {
			// The last message names the other side as displayed, and
			// proves the conversation exists.
			var last struct {
				Username  string `db:"username"`
				Recipient string `db:"recipient"`
			}
			err := tx.GetContext(ctx, &last, `SELECT m.username, coalesce(m.recipient, '') AS recipient
FROM conversation_messages c JOIN messages m ON m.id = c.id
WHERE c.owner = $1 AND c.peer = $2 ORDER BY c.id DESC LIMIT 1`, owner.Key, mark.Peer)
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

// Counting the messages after a marker that owner did not send stops at
// UnreadMax.
const (
	roomUnread = `SELECT count(*) FROM (SELECT 1 FROM messages
WHERE room = $1 AND id > $2 AND lower(username) <> lower($3) LIMIT $4) x`
	conversationUnread = `SELECT count(*) FROM (SELECT 1 FROM conversation_messages c JOIN messages m ON m.id = c.id
WHERE c.owner = $1 AND c.peer = $2 AND c.id > $3 AND lower(m.username) <> lower($4) LIMIT $5) x`
)

// readState fills in st.Read and st.Unread for st.Room, or the
// conversation with st.Peer.
func (s *Store) readState(ctx context.Context, owner actors.Owner, st *actors.ReadState) error {
	kind, target := "room", st.Room
	if st.Peer != "" {
		kind, target = "with", st.Peer
	}
	err := s.db.GetContext(ctx, &st.Read, "SELECT id FROM read_markers WHERE owner = $1 AND kind = $2 AND target = $3", owner.Key, kind, target)
	if errors.Is(err, sql.ErrNoRows) {
		st.Read, err = "", nil
	}
	if err == nil {
		if kind == "room" {
			err = s.db.GetContext(ctx, &st.Unread, roomUnread, st.Room, st.Read, owner.Name, actors.UnreadMax)
			if err == nil && st.Unread > 0 {
				err = s.db.GetContext(ctx, &st.Mentions, roomMentions, owner.Key, st.Room, st.Read, st.Unread)
			}
		} else {
			err = s.db.GetContext(ctx, &st.Unread, conversationUnread, owner.Key, st.Peer, st.Read, owner.Name, actors.UnreadMax)
		}
	}
	if err != nil {
		return fmt.Errorf("read state of %s %q for %q: %w", kind, target, owner.Key, err)
	}
	return nil
}
