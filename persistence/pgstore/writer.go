package pgstore

// The writer: the queue that Append, Sync and CreateRoom feed, and run, the
// one goroutine that takes it in batches and writes each in one
// transaction, then calls the batch's done callbacks.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"parley/actors"
)

// itemOverhead is what an accepted message costs besides its strings.
const itemOverhead = 128

// messageSize is what m is charged against Options.QueueBytes (as in
// package persistence).
func messageSize(m *actors.StoredMessage) int64 {
	return int64(len(m.ID)+len(m.Room)+len(m.Username)+len(m.Recipient)+len(m.Content)+len(m.Nonce)) + itemOverhead
}

// Failed commits are retried no sooner than this, doubling up to
// maxBackoff: a server that is down must not turn the writer into a busy
// loop. Meanwhile the queue fills and Append reports it full.
const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = 500 * time.Millisecond
)

type itemKind uint8

const (
	kindMessage itemKind = iota // Append
	kindRoom                    // CreateRoom
	kindBarrier                 // Sync
)

// item is one entry of the writer's queue.
type item struct {
	msg  *actors.StoredMessage // kindMessage
	room *actors.RoomRecord    // kindRoom
	done func(error)           // called once by run when the item is written or failed; may be nil
	size int64                 // charged against Options.QueueBytes; 0 except for messages
	kind itemKind
}

// Append queues m to be written with the next batch, without blocking. It
// reports false, and never calls done, when the queue is full in messages
// or in bytes, or the store is closing. Otherwise done (if not nil) is
// called exactly once, on the writer's goroutine, in queue order: after the
// transaction holding m committed (nil), or once it failed (the error; it
// wraps actors.ErrDuplicate for a duplicate id or nonce). done must not
// block, nor call Sync, CreateRoom or Close. The store owns m from the call
// on. A nil m is refused.
func (s *Store) Append(m *actors.StoredMessage, done func(error)) bool {
	if m == nil || !s.mu.TryRLock() {
		s.stats.rejected.Add(1)
		return false
	}
	size := messageSize(m)
	ok := false
	// Both charges are taken back unless m is queued.
	if !s.closed {
		if s.pending.Add(1) <= int64(s.opts.QueueMessages) {
			if s.queued.Add(size) <= s.opts.QueueBytes {
				select {
				case s.items <- item{kind: kindMessage, msg: m, done: done, size: size}:
					ok = true
				default: // cannot happen while pending bounds the messages; never block a room
				}
			}
			if !ok {
				s.queued.Add(-size)
			}
		}
		if !ok {
			s.pending.Add(-1)
		}
	}
	s.mu.RUnlock()
	if !ok {
		s.stats.rejected.Add(1)
	}
	return ok
}

// send queues it, waiting for room in the queue as long as ctx allows.
func (s *Store) send(ctx context.Context, it item) error {
	return s.guard(func() error {
		select {
		case s.items <- it:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// Sync returns once everything appended before the call has been committed
// or has failed. Its own error is only about Sync: ctx ended, or the store
// is closed (ErrClosed). It must not be called from a done callback.
func (s *Store) Sync(ctx context.Context) error {
	reply := make(chan error, 1) // buffered: run must never block on a caller that gave up
	if err := s.send(ctx, item{kind: kindBarrier, done: func(err error) { reply <- err }}); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return fmt.Errorf("sync: %w", ctx.Err())
	}
}

// CreateRoom records a room; recording one that exists is not an error and
// keeps its first created_at. It is written by the writer, in order with
// the messages appended before it.
func (s *Store) CreateRoom(ctx context.Context, name string, createdAt time.Time) error {
	reply := make(chan error, 1)
	it := item{kind: kindRoom, room: &actors.RoomRecord{Name: name, CreatedAt: createdAt}, done: func(err error) { reply <- err }}
	if err := s.send(ctx, it); err != nil {
		return fmt.Errorf("create room %q: %w", name, err)
	}
	select {
	case err := <-reply:
		if err != nil {
			return fmt.Errorf("create room %q: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		// The room may still be written; CreateRoom is idempotent.
		return fmt.Errorf("create room %q: %w", name, ctx.Err())
	}
}

// run is the writer's goroutine: the batching of package persistence's
// writer. The first item of a batch starts the BatchDelay timer; the batch
// is written when it is full, when the timer fires, or at once for a Sync
// or CreateRoom (their callers wait). After a failed batch the queue is
// left alone for a backoff.
func (s *Store) run() {
	defer close(s.exited)
	var batch []item
	rowErr := make([]error, 0, s.opts.BatchMax)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		wait       <-chan time.Time // timer.C while a batch is open or a backoff runs
		items      = s.items        // nil during a backoff
		backoff    time.Duration
		backingOff bool
	)
	for {
		select {
		case it := <-items:
			batch = append(batch, it)
			for it.kind == kindMessage && len(batch) < s.opts.BatchMax && len(s.items) > 0 {
				it = <-s.items
				batch = append(batch, it)
			}
			if it.kind == kindMessage && len(batch) < s.opts.BatchMax {
				if wait == nil {
					timer.Reset(s.opts.BatchDelay)
					wait = timer.C
				}
				continue
			}
		case <-wait:
			wait = nil
			if backingOff {
				backingOff = false
				items = s.items
				continue
			}
		case <-s.closing:
			timer.Stop()
			s.drain(batch, rowErr)
			return
		}
		timer.Stop()
		wait = nil
		if err := s.flush(batch, rowErr); err != nil {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			backingOff = true
			items = nil
			timer.Reset(backoff)
			wait = timer.C
		} else {
			backoff = 0
		}
		clear(batch) // let the messages go
		batch = batch[:0]
	}
}

// drain writes batch and everything still queued, once Close has made
// sure that nothing more can be queued; after a failed batch, the rest is
// failed unwritten.
func (s *Store) drain(batch []item, rowErr []error) {
	var failed error
	for {
		for len(batch) < s.opts.BatchMax && len(s.items) > 0 {
			batch = append(batch, <-s.items)
		}
		if len(batch) == 0 {
			return
		}
		if failed != nil {
			s.finish(batch, nil, fmt.Errorf("not written: writer closed after a failed batch: %w", failed))
		} else {
			failed = s.flush(batch, rowErr)
		}
		clear(batch)
		batch = batch[:0]
	}
}

// flush writes batch in one transaction and calls every done: nil for what
// was committed, the batch's error if the transaction failed, a row's own
// error if only that row was refused. It returns the batch's error.
func (s *Store) flush(batch []item, rowErr []error) error {
	rowErr = rowErr[:len(batch)]
	clear(rowErr)
	start := time.Now()
	tx, err := s.write(batch, rowErr)
	elapsed := time.Since(start)
	if tx {
		s.stats.lastBatchSize.Store(int64(len(batch)))
		s.stats.lastCommitNanos.Store(int64(elapsed))
		if err != nil {
			s.stats.failedBatches.Add(1)
		} else {
			s.stats.batches.Add(1)
		}
	}
	if err != nil {
		s.log.Error("pgstore: batch failed; its messages are not acknowledged",
			"db", s.dsn, "items", len(batch), "elapsed", elapsed, "err", err)
	}
	s.finish(batch, rowErr, err)
	return err
}

// finish gives back each message's charge and calls every done, with err
// if set, else the item's own error.
func (s *Store) finish(batch []item, rowErr []error, err error) {
	for i, it := range batch {
		e := err
		if e == nil && rowErr != nil {
			e = rowErr[i]
		}
		if it.kind == kindMessage {
			s.queued.Add(-it.size)
			s.pending.Add(-1)
			if e != nil {
				s.stats.failedRows.Add(1)
			} else {
				s.stats.rows.Add(1)
			}
		}
		if it.done != nil {
			it.done(e)
		}
	}
}

const (
	insertRoomSQL = `INSERT INTO rooms (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`
	// One statement for all of a batch's messages, as arrays. ON CONFLICT
	// DO NOTHING, without a target, covers the primary key and the nonce
	// index both: a row that clashes with one already stored inserts
	// nothing, the transaction goes on, and RETURNING leaves its id out.
	insertMessagesSQL = `INSERT INTO messages (id, room, username, content, timestamp, is_private, recipient, nonce)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bool[], $7::text[], $8::text[])
ON CONFLICT DO NOTHING RETURNING id`
	// The kept messages that were stored, into the conversation of each side.
	insertPartiesSQL = `INSERT INTO conversation_messages (owner, peer, id)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[])`
)

// messageArrays are a batch's messages as insertMessagesSQL's columns.
type messageArrays struct {
	ids, rooms, users, contents []string
	times                       []time.Time
	private                     []bool
	recipients, nonces          []*string
}

func (a *messageArrays) add(m *actors.StoredMessage) {
	a.ids = append(a.ids, m.ID)
	a.rooms = append(a.rooms, m.Room)
	a.users = append(a.users, m.Username)
	a.contents = append(a.contents, m.Content)
	a.times = append(a.times, ms(m.Timestamp))
	a.private = append(a.private, m.Private)
	a.recipients = append(a.recipients, nullIfEmpty(m.Recipient))
	a.nonces = append(a.nonces, nullIfEmpty(m.Nonce))
}

// nonceKey is what the messages_nonce index compares.
type nonceKey struct{ room, recipient, username, nonce string }

// write runs batch in one transaction and reports whether it began one. An
// invalid or duplicate row gets its error in rowErr and does not fail the
// others; any other error fails the whole batch and is returned.
//
// Two rows of the same batch that clash (one id, or one nonce from one
// sender to one room or recipient) are told apart here, before the
// database sees them: the later one is refused. So every row the database
// refuses clashes with one stored before the batch, and is exactly a row
// whose id RETURNING left out. The rooms, the messages and the commit
// take one round trip each; kept messages one more.
func (s *Store) write(batch []item, rowErr []error) (tx bool, err error) {
	var (
		rooms    pgx.Batch
		msgs     messageArrays
		idx      []int // batch index of each row of msgs
		seenID   = make(map[string]bool)
		seenOnce = make(map[nonceKey]bool)
	)
	for i, it := range batch {
		switch it.kind {
		case kindRoom:
			rooms.Queue(insertRoomSQL, it.room.Name, ms(it.room.CreatedAt))
		case kindMessage:
			m := it.msg
			if err := validate(m); err != nil {
				rowErr[i] = err
				continue
			}
			k := nonceKey{m.Room, strings.ToLower(m.Recipient), strings.ToLower(m.Username), m.Nonce}
			if seenID[m.ID] || (m.Nonce != "" && seenOnce[k]) {
				rowErr[i] = fmt.Errorf("insert message %s: %w: its id or nonce is an earlier message's of the same batch", m.ID, actors.ErrDuplicate)
				continue
			}
			seenID[m.ID] = true
			if m.Nonce != "" {
				seenOnce[k] = true
			}
			msgs.add(m)
			idx = append(idx, i)
		}
	}
	if rooms.Len() == 0 && len(idx) == 0 {
		return false, nil // barriers and refused messages only: nothing to commit
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
	defer cancel()
	stored := make(map[string]bool, len(idx))
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(idx) > 0 {
			rooms.Queue(insertMessagesSQL, msgs.ids, msgs.rooms, msgs.users, msgs.contents,
				msgs.times, msgs.private, msgs.recipients, msgs.nonces)
		}
		res := tx.SendBatch(ctx, &rooms)
		for range rooms.Len() - min(len(idx), 1) {
			if _, err := res.Exec(); err != nil {
				_ = res.Close()
				return fmt.Errorf("insert room: %w", err)
			}
		}
		if len(idx) > 0 {
			rows, _ := res.Query()
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				_ = res.Close()
				return fmt.Errorf("insert %d messages: %w", len(idx), err)
			}
			for _, id := range ids {
				stored[id] = true
			}
		}
		if err := res.Close(); err != nil {
			return err
		}
		if err := s.insertParties(ctx, tx, batch, idx, stored); err != nil {
			return err
		}
		return s.insertMentions(ctx, tx, batch, idx, stored)
	})
	if err != nil {
		return true, err
	}
	for _, i := range idx {
		if !stored[batch[i].msg.ID] {
			rowErr[i] = fmt.Errorf("insert message %s: %w: its id or nonce is already stored", batch[i].msg.ID, actors.ErrDuplicate)
		}
	}
	return true, nil
}

// insertParties keeps each private message between two accounts that was
// stored in the conversation of each side (one row for a message to
// oneself). Room messages and guests' private messages cost nothing here.
func (s *Store) insertParties(ctx context.Context, tx pgx.Tx, batch []item, idx []int, stored map[string]bool) error {
	var owners, peers, ids []string
	for _, i := range idx {
		m := batch[i].msg
		if !m.Kept || !stored[m.ID] {
			continue
		}
		from, to := actors.Skeleton(m.Username), actors.Skeleton(m.Recipient)
		owners, peers, ids = append(owners, from), append(peers, to), append(ids, m.ID)
		if from != to {
			owners, peers, ids = append(owners, to), append(peers, from), append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, insertPartiesSQL, owners, peers, ids); err != nil {
		return fmt.Errorf("keep %d messages in their conversations: %w", len(ids), err)
	}
	return nil
}

// ms is t as stored: UTC, to the millisecond, as the protocol and the
// SQLite store keep it.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// validate checks what the readers rely on (as package persistence's
// writer does): History serves rooms and must never find a private
// message there.
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
