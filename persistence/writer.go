package persistence

// The writer: the queue that Append, Sync and CreateRoom feed, and run, the
// one goroutine that takes it in batches and writes each in one transaction
// (batch.go) before handing it to the acker (durable.go).

import (
	"context"
	"fmt"
	"slices"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// itemOverhead is what an accepted message costs besides its strings: the
// StoredMessage, its queue slot and its done closure, roughly.
const itemOverhead = 128

// messageSize is what m is charged against Options.QueueBytes.
func messageSize(m *actors.StoredMessage) int64 {
	return int64(len(m.ID)+len(m.Room)+len(m.Username)+len(m.Recipient)+len(m.Content)+len(m.Nonce)) + itemOverhead
}

// Failed commits are retried no sooner than this, doubling up to maxBackoff,
// so that a full disk or a lost lock does not turn the writer into a busy loop.
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
	ts   string                // msg.Timestamp or room.CreatedAt as stored, formatted by the sender
	done func(error)           // called once by the acker when the item is written or failed; may be nil
	size int64                 // charged against Options.QueueBytes; 0 except for messages
	kind itemKind
}

// Append queues m to be written with the next batch, without blocking. It
// reports false, and never calls done, when the queue is full in messages or
// in bytes, or the store is closing; nothing of m is then kept. Otherwise
// done (if not nil) is called exactly once, on the store's acker goroutine,
// in the order of the queue: after the transaction holding m committed and
// (with Synchronous FULL) the WAL was synced (nil), or once either failed
// (the error; it wraps actors.ErrDuplicate for a duplicate id or nonce). done
// must not block, nor call Sync, CreateRoom or Close, which wait for the
// acker. The store owns m from the call on. A nil m is refused.
//
// A message is stored as given, except that a private message must have an
// empty Room and a Recipient, and a room message a Room and no Recipient;
// one that does not is failed through done.
func (s *Store) Append(m *actors.StoredMessage, done func(error)) bool {
	if m == nil {
		s.stats.rejected.Add(1)
		return false
	}
	size := messageSize(m)
	// TryRLock fails only while Close holds or waits for the lock: closing.
	if !s.mu.TryRLock() {
		s.stats.rejected.Add(1)
		return false
	}
	ok := false
	// Both charges are taken back unless m is queued: nothing half-happens.
	if !s.closed {
		if s.pending.Add(1) <= int64(s.opts.QueueMessages) {
			if s.queued.Add(size) <= s.opts.QueueBytes {
				// The timestamp is formatted here, on the sender's
				// goroutine, to take that work off the writer's, which
				// is the bottleneck.
				it := item{kind: kindMessage, msg: m, ts: s.timestamp(m.Timestamp), done: done, size: size}
				select {
				case s.items <- it:
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

// stamp is a timestamp as stored, with the millisecond it renders.
type stamp struct {
	sec    int64
	milli  int
	string string
}

// timestamp is protocol.FormatTimestamp(t), remembering the last result: messages
// come in at many per millisecond, and formatting is most of what Append
// costs. Concurrent Appends may replace each other's entry; any entry is
// right for its own millisecond.
func (s *Store) timestamp(t time.Time) string {
	sec, milli := t.Unix(), t.Nanosecond()/int(time.Millisecond)
	if c := s.lastStamp.Load(); c != nil && c.sec == sec && c.milli == milli {
		return c.string
	}
	str := protocol.FormatTimestamp(t)
	s.lastStamp.Store(&stamp{sec: sec, milli: milli, string: str})
	return str
}

// send queues it, waiting for room in the queue as long as ctx allows.
func (s *Store) send(ctx context.Context, it item) error {
	if !s.mu.TryRLock() {
		return ErrClosed
	}
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	// Holding the read lock while blocked is safe: run keeps taking items
	// until Close, which waits for this send, has taken the lock.
	select {
	case s.items <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sync returns once everything appended before the call has been committed
// or has failed; each message's outcome goes to its own done. Sync's own error
// is only about Sync: ctx ended, or the store is closed (ErrClosed). It must
// not be called from a done callback.
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

// CreateRoom records a room. Recording one that exists is not an error and
// keeps its first created_at. The room is written by the writer's goroutine,
// in order with the messages appended before it.
func (s *Store) CreateRoom(ctx context.Context, name string, createdAt time.Time) error {
	reply := make(chan error, 1) // buffered: run must never block on a caller that gave up
	rec := &actors.RoomRecord{Name: name, CreatedAt: createdAt}
	it := item{kind: kindRoom, room: rec, ts: protocol.FormatTimestamp(createdAt), done: func(err error) { reply <- err }}
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
		// The room may still be written; CreateRoom is idempotent, so a
		// retry is harmless.
		return fmt.Errorf("create room %q: %w", name, ctx.Err())
	}
}

// run is the writer's goroutine. One select takes items as they come (with
// whatever else is already waiting, up to BatchMax): the first item of a
// batch starts the BatchDelay timer, and the batch is written
// when it is full, when the timer fires, or at once for a Sync or CreateRoom
// (their callers are waiting). Each batch, written or failed, is handed to
// the acker, in order. After a failed batch the queue is left alone
// for a backoff, so that a persistent fault does not become a busy loop;
// meanwhile the queue fills and Append reports it full.
func (s *Store) run() {
	defer close(s.exited)
	defer close(s.acks) // after the last batch: the acker acknowledges it, then exits
	b := s.newBuf()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var (
		wait       <-chan time.Time // timer.C while a batch is open or a backoff runs, else nil
		items      = s.items        // nil during a backoff
		backoff    time.Duration
		backingOff bool
	)
	for {
		select {
		case it := <-items:
			b.items = append(b.items, it)
			// Take what is already waiting without going back to the
			// select: plain receives cost less, and cannot block, as run
			// is the only receiver.
			for it.kind == kindMessage && len(b.items) < s.opts.BatchMax && len(s.items) > 0 {
				it = <-s.items
				b.items = append(b.items, it)
			}
			if it.kind == kindMessage && len(b.items) < s.opts.BatchMax {
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
			s.drain(b)
			return
		}
		timer.Stop()
		wait = nil
		if err := s.flush(b); err != nil {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			backingOff = true
			items = nil
			timer.Reset(backoff)
			wait = timer.C
		} else {
			backoff = 0
		}
		b = s.newBuf() // b now belongs to the acker
	}
}

// drain writes b and everything still queued, in batches, once Close has
// made sure that nothing more can be queued.
func (s *Store) drain(b *batchBuf) {
	var failed error
	for {
		// Only run receives, and no one can send any more, so len is exact.
		for len(b.items) < s.opts.BatchMax && len(s.items) > 0 {
			b.items = append(b.items, <-s.items)
		}
		if len(b.items) == 0 {
			return
		}
		if failed != nil {
			s.fail(b, fmt.Errorf("not written: writer closed after a failed batch: %w", failed))
		} else {
			failed = s.flush(b)
		}
		b = s.newBuf()
	}
}

// fail hands b to the acker with err for every item, without writing.
func (s *Store) fail(b *batchBuf, err error) {
	b.errs = b.errs[:0]
	for range b.items {
		b.errs = append(b.errs, err)
	}
	s.acks <- b
}

// flush writes b in one transaction and hands it to the acker, which will
// call every done: nil for what was committed (once the WAL is synced, with
// FULL), the batch's error if the transaction failed, a row's own error if
// only that row was refused. It returns the batch's error.
func (s *Store) flush(b *batchBuf) error {
	start := time.Now()
	b.errs = slices.Grow(b.errs[:0], len(b.items))[:len(b.items)]
	clear(b.errs)
	tx, err := s.write(b.items, b.errs)
	elapsed := time.Since(start)

	if tx { // a batch of barriers (and invalid messages) is no transaction
		s.stats.lastBatchSize.Store(int64(len(b.items)))
		s.stats.lastCommitNanos.Store(int64(elapsed))
		if err != nil {
			s.stats.failedBatches.Add(1)
		} else {
			s.stats.batches.Add(1)
			s.kickCheckpointer()
		}
	}
	if err != nil {
		msgs := 0
		for i, it := range b.items {
			if it.kind == kindMessage {
				msgs++
			}
			b.errs[i] = err
		}
		s.log.Error("persistence: batch failed; its messages are not acknowledged",
			"path", s.path, "items", len(b.items), "messages", msgs, "elapsed", elapsed, "err", err)
	}
	b.sync = tx && err == nil && s.durable
	// Waits while the acker is ackQueue batches behind: the writer must
	// not outrun the syncs by more than that.
	s.acks <- b
	return err
}
