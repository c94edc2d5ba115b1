package persistence

// Writing one batch: validating its messages, then one transaction of rooms
// and multi-row message inserts, in which a refused row fails alone.

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/mattn/go-sqlite3"

	"parley/actors"
)

// write runs batch in one transaction, and reports whether it began one. A
// row refused by a constraint (a duplicate id or nonce), or invalid, gets its
// error in rowErr and does not fail the others; any other error fails the
// whole batch and is returned.
//
// INSERT OR FAIL (see insertMessagesSQL), not INSERT OR IGNORE: a duplicate
// id is a bug to be reported, and a duplicate nonce means a resend raced past
// FindNonce, which its sender must hear about rather than be told that its
// message was stored.
func (s *Store) write(batch []item, rowErr []error) (tx bool, err error) {
	// Messages, in queue order, that passed validation.
	msgs := s.msgIdx[:0]
	defer func() { s.msgIdx = msgs[:0] }()
	writes := 0
	for i, it := range batch {
		switch it.kind {
		case kindMessage:
			if err := validate(it.msg); err != nil {
				rowErr[i] = err
				continue
			}
			msgs = append(msgs, i)
			writes++
		case kindRoom:
			writes++
		}
	}
	if writes == 0 {
		return false, nil // barriers and invalid messages only: nothing to commit
	}
	// A RESTART checkpoint waits here for the end of this transaction,
	// and this transaction for the end of that checkpoint.
	s.walMu.Lock()
	defer s.walMu.Unlock()
	// The driver's connection is used only inside Raw, which holds it.
	if rerr := s.wconn.Raw(func(any) error {
		err = s.writeTx(batch, msgs, rowErr)
		return nil
	}); rerr != nil {
		return true, fmt.Errorf("write connection: %w", rerr)
	}
	return true, err
}

// writeTx is write's transaction, inside wconn.Raw.
func (s *Store) writeTx(batch []item, msgs []int, rowErr []error) (err error) {
	// The writer's statements run with context.Background on purpose:
	// go-sqlite3 starts a watcher goroutine per statement for a context
	// that can be cancelled, and a batch, once begun, should end.
	bg := context.Background()
	if _, err := s.stmts.begin.ExecContext(bg, nil); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			// Some failures (an I/O error at COMMIT) roll back by
			// themselves, in which case ROLLBACK says there is no
			// transaction; the first error is the one to report.
			_, _ = s.stmts.rollback.ExecContext(bg, nil)
		}
	}()
	if err := s.insertRooms(batch); err != nil {
		return err
	}
	if err := s.insertMessages(batch, msgs, rowErr); err != nil {
		return err
	}
	if err := s.insertParties(batch, msgs, rowErr); err != nil {
		return err
	}
	if err := s.insertMentions(batch, msgs, rowErr); err != nil {
		return err
	}
	seq, trimmed, err := s.feedSearch(batch, msgs)
	if err != nil {
		return err
	}
	if _, err := s.stmts.commit.ExecContext(bg, nil); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if seq > 0 {
		s.idx.trimmed = trimmed
		s.noteFeed(seq) // nudges the indexer; never blocks
	}
	return nil
}

// feedSearch adds the batch's row to search_feed (searchindex.go): the
// lowest and highest id of its messages, refused ones included (the indexer
// finds which are stored), so that the indexer, not this transaction,
// indexes them. Once enough of the feed is applied it also deletes those
// rows. It returns the row's seq (0 for a batch of no message) and how far
// the feed is trimmed once this transaction commits.
func (s *Store) feedSearch(batch []item, msgs []int) (seq, trimmed int64, err error) {
	trimmed = s.idx.trimmed
	if len(msgs) == 0 {
		return 0, trimmed, nil
	}
	low, high := batch[msgs[0]].msg.ID, batch[msgs[0]].msg.ID
	for _, bi := range msgs[1:] {
		id := batch[bi].msg.ID
		low, high = min(low, id), max(high, id)
	}
	args := []driver.NamedValue{{Ordinal: 1, Value: low}, {Ordinal: 2, Value: high}}
	if seq, err = queryInt(s.stmts.insertFeed, args); err != nil {
		return 0, 0, fmt.Errorf("insert search feed row: %w", err)
	}
	if applied := s.idx.applied.Load(); applied-trimmed >= trimEvery {
		if _, err := s.stmts.trimFeed.ExecContext(context.Background(), []driver.NamedValue{{Ordinal: 1, Value: applied}}); err != nil {
			return 0, 0, fmt.Errorf("trim search feed: %w", err)
		}
		trimmed = applied
	}
	return seq, trimmed, nil
}

// insertRooms inserts the batch's rooms; one that exists is left as it is.
func (s *Store) insertRooms(batch []item) error {
	for i, it := range batch {
		if it.kind != kindRoom {
			continue
		}
		args := []driver.NamedValue{{Ordinal: 1, Value: it.room.Name}, {Ordinal: 2, Value: it.ts}}
		if _, err := s.stmts.insertRoom.ExecContext(context.Background(), args); err != nil {
			return fmt.Errorf("insert room %q: %w", batch[i].room.Name, err)
		}
	}
	return nil
}

// insertMessages inserts the messages batch[msgs...] in order, with the
// largest statements of chunkSizes that fit. A row refused by a constraint
// gets its error in rowErr and the rows after it go on; any other error is
// returned.
func (s *Store) insertMessages(batch []item, msgs []int, rowErr []error) error {
	for rest := msgs; len(rest) > 0; {
		ci := 0
		for chunkSizes[ci] > len(rest) {
			ci++
		}
		n := chunkSizes[ci]
		err := s.insertChunk(ci, batch, rest[:n])
		if err == nil {
			rest = rest[n:]
			continue
		}
		if !isConstraint(err) {
			return fmt.Errorf("insert %d messages: %w", n, err)
		}
		refused, cerr := s.refusedRow(n, err)
		if cerr != nil {
			return cerr
		}
		idx := rest[refused]
		rowErr[idx] = rowError(batch[idx].msg, err)
		rest = rest[refused+1:]
	}
	return nil
}

// insertParties keeps each private message between two accounts that was
// stored (not refused) in the conversation of each side. Room messages and
// guests' private messages are not Kept and cost nothing here.
func (s *Store) insertParties(batch []item, msgs []int, rowErr []error) error {
	for _, bi := range msgs {
		m := batch[bi].msg
		if !m.Kept || rowErr[bi] != nil {
			continue
		}
		from, to := actors.Skeleton(m.Username), actors.Skeleton(m.Recipient)
		sides := [][2]string{{from, to}}
		if from != to {
			sides = append(sides, [2]string{to, from})
		}
		for _, side := range sides {
			args := []driver.NamedValue{{Ordinal: 1, Value: side[0]}, {Ordinal: 2, Value: side[1]}, {Ordinal: 3, Value: m.ID}}
			if _, err := s.stmts.insertParty.ExecContext(context.Background(), args); err != nil {
				return fmt.Errorf("keep message %s in a conversation: %w", m.ID, err)
			}
		}
	}
	return nil
}

// refusedRow returns which of the n rows of the statement that constraint
// stopped was refused. OR FAIL stops only this statement, at the refused
// row, keeping the rows before it: that row alone fails, and the rows after
// it go on with the next statement.
func (s *Store) refusedRow(n int, constraint error) (int, error) {
	kept, err := s.stmts.keptRows()
	if err != nil {
		return 0, fmt.Errorf("count rows kept before a refused one: %w", err)
	}
	if kept < 0 || kept >= n {
		return 0, fmt.Errorf("insert %d messages: refused, yet changes() = %d: %w", n, kept, constraint)
	}
	return kept, nil
}

// insertChunk inserts the messages batch[idx...] with stmts.insert[ci], which takes
// exactly len(idx) rows.
func (s *Store) insertChunk(ci int, batch []item, idx []int) error {
	args := s.args[:len(idx)*messageColumns]
	for j, bi := range idx {
		m := batch[bi].msg
		a := args[j*messageColumns : (j+1)*messageColumns]
		a[0].Value = m.ID
		a[1].Value = s.room.box(m.Room)
		a[2].Value = s.user.box(m.Username)
		a[3].Value = m.Content
		a[4].Value = s.ts.box(batch[bi].ts)
		a[5].Value = m.Private
		a[6].Value = nullIfEmpty(m.Recipient)
		a[7].Value = nullIfEmpty(m.Nonce)
	}
	// Query, not Exec: go-sqlite3 binds and steps a query in one cgo call,
	// where Exec makes one per argument (8 per row), and the writer's
	// goroutine is the bottleneck. The query runs its first (and, for an
	// INSERT, only) step before it returns, reporting the INSERT's failure.
	rows, err := s.stmts.insert[ci].QueryContext(context.Background(), args)
	for i := range args {
		args[i].Value = nil // do not keep the batch's strings alive until the next one
	}
	if err != nil {
		return err
	}
	return rows.Close()
}

// validate checks what the schema's readers rely on: History serves rooms
// and must never find a private message there.
func validate(m *actors.StoredMessage) error {
	switch {
	case m.ID == "":
		return errors.New("invalid message: empty id")
	case m.Private && (m.Room != "" || m.Recipient == ""):
		return fmt.Errorf("invalid message %s: a private message needs a recipient and no room", m.ID)
	case !m.Private && (m.Room == "" || m.Recipient != ""):
		return fmt.Errorf("invalid message %s: a room message needs a room and no recipient", m.ID)
	case m.Kept && !m.Private:
		return fmt.Errorf("invalid message %s: only a private message is kept in a conversation", m.ID)
	}
	return nil
}

// isConstraint reports whether err is SQLite refusing a row for a
// constraint.
func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}

// rowError is the done error of m, refused by err: it wraps
// actors.ErrDuplicate when the refusal was for an id or nonce already stored.
func rowError(m *actors.StoredMessage, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique) {
		return fmt.Errorf("insert message %s: %w: %w", m.ID, actors.ErrDuplicate, err)
	}
	return fmt.Errorf("insert message %s: %w", m.ID, err)
}
