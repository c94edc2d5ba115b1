package persistence

// Reactions and mentions (schema version 6). A reaction goes through the
// account connection (accountTx), like an edit, but is not synced on its
// own: a crash may lose one given in the last moments, never a message.
// Mentions are written by the batching writer, in the batch's transaction,
// with the message that makes them (insertMentions).

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/internal/protocol"
)

// roomMentions counts owner's mentions after a marker, by the mentions
// table's primary key (who, room, id), stopping at the unread count.
const roomMentions = `SELECT COUNT(*) FROM (SELECT 1 FROM mentions
WHERE who = ? AND room = ? AND id > ? LIMIT ?)`

// reactionCountsSQL is a message's counts, first reacted first, with
// whether the reader (the first argument) is among each emoji's reactors.
const reactionCountsSQL = `SELECT id, emoji, COUNT(*) AS n, MAX(reactor = ?) AS mine
FROM reactions WHERE id IN (?) GROUP BY id, emoji ORDER BY id, MIN(at), emoji`

// CountRow is one emoji's count on one message as both engines select it.
type CountRow struct {
	ID    string `db:"id"`
	Emoji string `db:"emoji"`
	N     int    `db:"n"`
	Mine  bool   `db:"mine"`
}

// MentionRow is one name a message mentions as both engines select it.
type MentionRow struct {
	ID   string `db:"id"`
	Name string `db:"name"`
}

// ReactionCounts turns one message's rows into its counts, in row order.
func ReactionCounts(rows []CountRow) []actors.ReactionCount {
	counts := make([]actors.ReactionCount, len(rows))
	for i, row := range rows {
		counts[i] = actors.ReactionCount{Emoji: row.Emoji, Count: row.N, Mine: row.Mine}
	}
	return counts
}

// AnnotateWith puts the counts and the mentions selected for msgs' ids (in
// each message's order) on msgs: the engine-independent half of Annotate.
// Mentions are replaced by what is stored, not added to what the caller had.
func AnnotateWith(msgs []actors.StoredMessage, counts []CountRow, named []MentionRow) {
	at := make(map[string]int, len(msgs))
	for i := range msgs {
		at[msgs[i].ID] = i
		msgs[i].Mentions = nil
	}
	for _, c := range counts {
		m := &msgs[at[c.ID]]
		m.Reactions = append(m.Reactions, actors.ReactionCount{Emoji: c.Emoji, Count: c.N, Mine: c.Mine})
	}
	for _, n := range named {
		m := &msgs[at[n.ID]]
		m.Mentions = append(m.Mentions, n.Name)
	}
}

// MessageIDs are msgs' ids, in order.
func MessageIDs(msgs []actors.StoredMessage) []string {
	ids := make([]string, len(msgs))
	for i := range msgs {
		ids[i] = msgs[i].ID
	}
	return ids
}

// ReactSQL is one engine's statements for ReactTx, in its dialect. Each
// takes the arguments ReactTx gives it, in that order.
type ReactSQL struct {
	Message  string // (id, room): the message's deleted flag, locking it if the engine must
	Distinct string // (id): how many distinct emoji it has
	Here     string // (id, emoji): 1 if that emoji is on it, else 0
	Add      string // (id, emoji, reactor, name, at): the reaction, unless it exists
	Remove   string // (id, emoji, reactor)
	Changed  string // (id, room, at): the message's reactions changed at at
	Counts   string // (reactor, id): CountRows of the message
}

var sqliteReact = ReactSQL{
	Message:  "SELECT deleted FROM messages WHERE id = ? AND room = ? AND is_private = 0",
	Distinct: "SELECT COUNT(DISTINCT emoji) FROM reactions WHERE id = ?",
	Here:     "SELECT COUNT(*) FROM (SELECT 1 FROM reactions WHERE id = ? AND emoji = ? LIMIT 1)",
	Add:      "INSERT OR IGNORE INTO reactions (id, emoji, reactor, name, at) VALUES (?, ?, ?, ?, ?)",
	Remove:   "DELETE FROM reactions WHERE id = ? AND emoji = ? AND reactor = ?",
	Changed: `INSERT INTO reaction_changes (id, room, at) VALUES (?, ?, ?)
ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
	Counts: "SELECT id, emoji, COUNT(*) AS n, MAX(reactor = ?) AS mine FROM reactions WHERE id = ? GROUP BY id, emoji ORDER BY MIN(at), emoji",
}

// ReactTx stores r in tx with the engine's statements q (at is r.At as
// the engine stores times) and returns the message's counts after it, and
// whether r changed them: the one rule for both stores.
func ReactTx(ctx context.Context, tx *sqlx.Tx, q ReactSQL, r actors.Reaction, at any) (counts []actors.ReactionCount, changed bool, err error) {
	var deleted bool
	err = tx.GetContext(ctx, &deleted, q.Message, r.ID, r.Room)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && deleted) {
		return nil, false, actors.ErrNoMessage
	}
	if err != nil {
		return nil, false, err
	}
	var res sql.Result
	if r.On {
		var distinct, here int
		if err := tx.GetContext(ctx, &distinct, q.Distinct, r.ID); err != nil {
			return nil, false, err
		}
		if err := tx.GetContext(ctx, &here, q.Here, r.ID, r.Emoji); err != nil {
			return nil, false, err
		}
		if here == 0 && distinct >= r.Max {
			return nil, false, actors.ErrTooManyReactions
		}
		res, err = tx.ExecContext(ctx, q.Add, r.ID, r.Emoji, r.Reactor, r.Name, at)
	} else {
		res, err = tx.ExecContext(ctx, q.Remove, r.ID, r.Emoji, r.Reactor)
	}
	if err != nil {
		return nil, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, err
	}
	if changed = n > 0; changed {
		if _, err := tx.ExecContext(ctx, q.Changed, r.ID, r.Room, at); err != nil {
			return nil, false, err
		}
	}
	var rows []CountRow
	if err := tx.SelectContext(ctx, &rows, q.Counts, r.Reactor, r.ID); err != nil {
		return nil, false, err
	}
	return ReactionCounts(rows), changed, nil
}

// React stores r and returns the message's counts after it.
func (s *Store) React(ctx context.Context, r actors.Reaction) (counts []actors.ReactionCount, changed bool, err error) {
	err = s.accountTx(ctx, false, func(tx *sqlx.Tx) error {
		var err error
		counts, changed, err = ReactTx(ctx, tx, sqliteReact, r, protocol.FormatTimestamp(r.At))
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("react %q to %s in %q: %w", r.Emoji, r.ID, r.Room, err)
	}
	return counts, changed, nil
}

// Annotate fills in msgs' mentions and reactions.
func (s *Store) Annotate(ctx context.Context, msgs []actors.StoredMessage, reactor string) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := MessageIDs(msgs)
	q, args, err := sqlx.In(reactionCountsSQL, reactor, ids)
	if err != nil {
		return fmt.Errorf("reactions: %w", err)
	}
	var counts []CountRow
	if err := s.rdb.SelectContext(ctx, &counts, q, args...); err != nil {
		return fmt.Errorf("reactions of %d messages: %w", len(ids), err)
	}
	q, args, err = sqlx.In("SELECT id, name FROM mentions WHERE id IN (?) ORDER BY id, pos", ids)
	if err != nil {
		return fmt.Errorf("mentions: %w", err)
	}
	var named []MentionRow
	if err := s.rdb.SelectContext(ctx, &named, q, args...); err != nil {
		return fmt.Errorf("mentions of %d messages: %w", len(ids), err)
	}
	AnnotateWith(msgs, counts, named)
	return nil
}

// ReactionChanges returns the ids of q.Room's messages up to q.Through
// whose reactions changed at or after q.After, most recent first.
func (s *Store) ReactionChanges(ctx context.Context, q actors.ChangesQuery) ([]string, error) {
	var ids []string
	err := s.rdb.SelectContext(ctx, &ids, `SELECT id FROM reaction_changes
WHERE room = ? AND at >= ? AND id <= ? ORDER BY at DESC, id DESC LIMIT ?`, q.Room, protocol.FormatTimestamp(q.After), q.Through, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("reaction changes of %q: %w", q.Room, err)
	}
	return ids, nil
}

// insertMentions stores the names each stored room message of the batch
// mentions. Messages without mentions (nearly all) cost nothing here.
func (s *Store) insertMentions(batch []item, msgs []int, rowErr []error) error {
	for _, bi := range msgs {
		m := batch[bi].msg
		if len(m.Mentions) == 0 || m.Private || rowErr[bi] != nil {
			continue
		}
		for pos, name := range m.Mentions {
			args := []driver.NamedValue{
				{Ordinal: 1, Value: actors.Skeleton(name)}, {Ordinal: 2, Value: m.Room}, {Ordinal: 3, Value: m.ID},
				{Ordinal: 4, Value: int64(pos)}, {Ordinal: 5, Value: name},
			}
			if _, err := s.stmts.insertMention.ExecContext(context.Background(), args); err != nil {
				return fmt.Errorf("keep the mentions of message %s: %w", m.ID, err)
			}
		}
	}
	return nil
}
