package pgstore

// Reactions and mentions (schema version 3), as the SQLite store keeps
// them: a reaction in a transaction of its own, mentions in the batch's.

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/persistence"
)

// roomMentions counts owner's mentions after a marker, by the mentions
// table's primary key (who, room, id), stopping at the unread count.
const roomMentions = `SELECT count(*) FROM (SELECT 1 FROM mentions
WHERE who = $1 AND room = $2 AND id > $3 LIMIT $4) x`

// insertMentionsSQL stores a batch's mentions as arrays.
const insertMentionsSQL = `INSERT INTO mentions (who, room, id, pos, name)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[]) ON CONFLICT DO NOTHING`

// pgReact is persistence.ReactTx's statements in PostgreSQL's dialect.
var pgReact = persistence.ReactSQL{
	// FOR UPDATE: two reactions to one message take turns, so that the
	// distinct-emoji bound holds.
	Message:  "SELECT deleted FROM messages WHERE id = $1 AND room = $2 AND NOT is_private FOR UPDATE",
	Distinct: "SELECT count(DISTINCT emoji) FROM reactions WHERE id = $1",
	Here:     "SELECT count(*) FROM (SELECT 1 FROM reactions WHERE id = $1 AND emoji = $2 LIMIT 1) x",
	Add:      "INSERT INTO reactions (id, emoji, reactor, name, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
	Remove:   "DELETE FROM reactions WHERE id = $1 AND emoji = $2 AND reactor = $3",
	Changed: `INSERT INTO reaction_changes (id, room, at) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
	Counts: `SELECT id, emoji, count(*) AS n, bool_or(reactor = $1) AS mine
FROM reactions WHERE id = $2 GROUP BY id, emoji ORDER BY min(at), emoji`,
}

// React stores r and returns the message's counts after it.
func (s *Store) React(ctx context.Context, r actors.Reaction) (counts []actors.ReactionCount, changed bool, err error) {
	err = s.tx(ctx, func(tx *sqlx.Tx) error {
		var err error
		counts, changed, err = persistence.ReactTx(ctx, tx, pgReact, r, ms(r.At))
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
	ids := persistence.MessageIDs(msgs)
	var counts []persistence.CountRow
	if err := s.db.SelectContext(ctx, &counts, `SELECT id, emoji, count(*) AS n, bool_or(reactor = $1) AS mine
FROM reactions WHERE id = ANY($2) GROUP BY id, emoji ORDER BY id, min(at), emoji`, reactor, ids); err != nil {
		return fmt.Errorf("reactions of %d messages: %w", len(ids), err)
	}
	var named []persistence.MentionRow
	if err := s.db.SelectContext(ctx, &named, "SELECT id, name FROM mentions WHERE id = ANY($1) ORDER BY id, pos", ids); err != nil {
		return fmt.Errorf("mentions of %d messages: %w", len(ids), err)
	}
	persistence.AnnotateWith(msgs, counts, named)
	return nil
}

// ReactionChanges returns the ids of q.Room's messages up to q.Through
// whose reactions changed at or after q.After, most recent first.
func (s *Store) ReactionChanges(ctx context.Context, q actors.ChangesQuery) ([]string, error) {
	var ids []string
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM reaction_changes
WHERE room = $1 AND at >= $2 AND id <= $3 ORDER BY at DESC, id DESC LIMIT $4`, q.Room, q.After, q.Through, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("reaction changes of %q: %w", q.Room, err)
	}
	return ids, nil
}

// insertMentions stores the names each stored room message of the batch
// mentions, in one statement. Messages without mentions cost nothing.
func (s *Store) insertMentions(ctx context.Context, tx pgx.Tx, batch []item, idx []int, stored map[string]bool) error {
	var who, rooms, ids, names []string
	var pos []int32
	for _, i := range idx {
		m := batch[i].msg
		if len(m.Mentions) == 0 || m.Private || !stored[m.ID] {
			continue
		}
		for p, name := range m.Mentions {
			who, rooms, ids = append(who, actors.Skeleton(name)), append(rooms, m.Room), append(ids, m.ID)
			pos, names = append(pos, int32(p)), append(names, name)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, insertMentionsSQL, who, rooms, ids, pos, names); err != nil {
		return fmt.Errorf("keep the mentions of %d messages: %w", len(ids), err)
	}
	return nil
}
