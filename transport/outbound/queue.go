// Package outbound is one connection's write side: the bounded queue of
// encoded frames that the chat core pushes to, and the writer goroutine that
// drains it into the connection. The two live together because the writer's
// lifecycle (started on the first push, parked after a linger, closing the
// connection once the queue closes) is the queue's state machine.
//
// The core sees a Queue only as an actors.Peer. The connection is a Sink:
// package transport implements it over coder/websocket, tests in memory.
package outbound

import (
	"slices"
	"sync"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// Linger is how long an idle writer waits for more, at least (at most
// twice that: writer.go), before it exits. Long
// enough that a busy connection keeps its writer (a member of a room at 10
// messages/s sees one every 100 ms), short enough that an idle one does not
// hold a goroutine (docs/performance.md measures what a longer one costs per
// idle connection).
const Linger = 500 * time.Millisecond

// Queue is a connection's bounded queue of encoded frames. Any goroutine may
// Send (rooms, other sessions' private messages, the store's acks, the
// session itself); one writer at a time takes frames out. It holds its own
// small mutex for O(1) work, never across I/O.
//
// The writer runs only while there is work: once a Sink is attached, Send
// (or Close) starts one (writer.go) when none is running, and the writer
// parks, and exits, once it has been idle for one to two Linger. An idle connection so
// costs no writer goroutine. A Queue with no Sink never starts a writer: its
// owner drains it by hand with Wake and Take, as the core's tests do.
type Queue struct {
	limits actors.OutboxLimits
	linger time.Duration

	mu        sync.Mutex // guards the fields below
	frames    [][]byte   // queued, oldest first
	spare     [][]byte   // the writer's last batch, handed back for reuse
	bytes     int
	closed    bool
	closeCode protocol.CloseCode
	closeText string
	writing   bool   // a writer is running (started, not yet parked)
	sink      Sink   // where writers write; set by Attach
	start     func() // starts a writer goroutine; set by Attach

	// wake has capacity 1: written (without blocking) by Send when the queue
	// goes from empty to non-empty, by Close and by the writer's idle timer;
	// read by the writer. Never closed.
	wake chan struct{}
	// done is closed by Close (once); read by the writer and by the
	// connection's reader, which stops reading.
	done chan struct{}
}

var _ actors.Peer = (*Queue)(nil)

// maxKeptBatch is the largest batch array (in frames) a queue and its writer
// keep for reuse between bursts.
const maxKeptBatch = 64

// New returns an empty open queue bounded by l (zero fields take
// actors.DefaultOutboxLimits).
func New(l actors.OutboxLimits) *Queue {
	if l.Frames <= 0 {
		l.Frames = actors.DefaultOutboxLimits.Frames
	}
	if l.Bytes <= 0 {
		l.Bytes = actors.DefaultOutboxLimits.Bytes
	}
	return &Queue{limits: l, linger: Linger, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Send queues frame. frame must not be modified afterwards: the same bytes go
// to every recipient of a broadcast.
func (q *Queue) Send(frame []byte) actors.Verdict {
	q.mu.Lock()
	if v, refused := q.refuseLocked(1, len(frame)); refused {
		return v
	}
	q.pushAndUnlock(frame)
	return actors.Queued
}

// SendAll queues frames, in order, as that many Sends would, with one wake
// of the writer: all of them, or none if they do not fit (Overflow, the
// queue closed as for a slow consumer). Rooms use it for the presence they
// gathered (actors/presence.go).
func (q *Queue) SendAll(frames [][]byte) actors.Verdict {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	q.mu.Lock()
	if v, refused := q.refuseLocked(len(frames), n); refused {
		return v
	}
	signal := len(q.frames) == 0
	if q.frames == nil && q.spare != nil {
		q.frames, q.spare = q.spare, nil
	}
	q.frames = slices.Grow(q.frames, len(frames)) // one allocation, not one per doubling
	for _, f := range frames {
		q.appendLocked(f)
	}
	q.wakeAndUnlock(signal)
	return actors.Queued
}

// Offer queues frame like Send only while the queue holds less than half
// its bounds, in frames and in bytes, and reports whether it did. It never
// overflows and never closes the queue: it is for frames nobody misses
// (UserTyping), which a connection that is behind goes without rather
// than being cut off as a slow consumer because of them.
func (q *Queue) Offer(frame []byte) bool {
	q.mu.Lock()
	if q.closed || (len(q.frames)+1)*2 > q.limits.Frames || (q.bytes+len(frame))*2 > q.limits.Bytes {
		q.mu.Unlock()
		return false
	}
	q.pushAndUnlock(frame)
	return true
}

// pushAndUnlock queues frame and wakes the writer (starting one if none
// runs). Called with q.mu held; it unlocks it, so that the writer is
// started and signalled outside the lock.
func (q *Queue) pushAndUnlock(frame []byte) {
	signal := len(q.frames) == 0
	q.appendLocked(frame)
	q.wakeAndUnlock(signal)
}

// wakeAndUnlock starts a writer if none runs and, if signal (the queue was
// empty before the push), wakes it. Called with q.mu held; it unlocks it,
// so that the writer is started and signalled outside the lock.
func (q *Queue) wakeAndUnlock(signal bool) {
	start := q.claimWriterLocked()
	q.mu.Unlock()
	if start != nil {
		start()
	}
	if signal {
		q.signal()
	}
}

func (q *Queue) appendLocked(frame []byte) {
	if q.frames == nil && q.spare != nil {
		q.frames, q.spare = q.spare, nil
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
}

// signal wakes the writer without blocking; a signal already pending is enough.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// refuseLocked checks that n more frames of size bytes in all may be queued. If not, it reports the
// verdict and true, having closed the queue on an overflow (and started a
// writer to close the connection) and unlocked q.mu; otherwise it keeps the
// lock.
func (q *Queue) refuseLocked(n, size int) (actors.Verdict, bool) {
	if q.closed {
		q.mu.Unlock()
		return actors.Closed, true
	}
	if len(q.frames)+n > q.limits.Frames || q.bytes+size > q.limits.Bytes {
		q.closeLocked(protocol.ClosePolicy, "slow consumer: outbound queue full")
		q.startOrSignalAndUnlock() // someone must close the connection
		return actors.Overflow, true
	}
	return actors.Queued, false
}

// claimWriterLocked returns the start function if a writer must be started
// (one is attached and none is running), marking it as running.
func (q *Queue) claimWriterLocked() func() {
	if q.writing || q.start == nil {
		return nil
	}
	q.writing = true
	return q.start
}

// Attach sets the connection writers write to, and starts one if frames
// are already queued or the queue is closed. Call it once, when the
// connection is ready to be written: until then sends only queue.
func (q *Queue) Attach(s Sink) {
	q.mu.Lock()
	q.sink = s
	q.mu.Unlock()
	q.attach(func() {
		go q.write() // exits once parked after Linger idle, or after closing the connection
	})
}

// attach sets the function that starts a writer and starts one if there is
// work. Tests of the state machine give it a function of their own.
func (q *Queue) attach(start func()) {
	q.mu.Lock()
	q.start = start
	var run func()
	if len(q.frames) > 0 || q.closed {
		run = q.claimWriterLocked()
	}
	q.mu.Unlock()
	if run != nil {
		run()
	}
}

// park is called by an idle writer. If nothing is queued and the queue is
// open, the writer is marked stopped and park reports true: the writer must
// exit, and the next Send starts a new one. Otherwise the writer goes on.
func (q *Queue) park() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.frames) > 0 || q.closed {
		return false
	}
	q.writing = false
	q.spare = nil // an idle connection keeps no batch array
	return true
}

// Take moves every queued frame out, oldest first, and hands back the slice
// of the previous Take (its frames written) for reuse. Only the writer calls
// it (or, for a queue with no Sink, its owner).
func (q *Queue) Take(prev [][]byte) [][]byte {
	clear(prev) // drop references so written frames can be collected
	prev = prev[:0]
	q.mu.Lock()
	out := q.frames
	q.frames = nil
	q.bytes = 0
	// Keep the old batch's array for the next pushes unless it grew large:
	// a connection that once had a burst should not hold that memory idle.
	if cap(prev) > 0 && cap(prev) <= maxKeptBatch {
		q.spare = prev
	}
	q.mu.Unlock()
	return out
}

// Wake is signalled when frames are waiting (and, once a Sink is attached,
// when the queue closes or the writer's idle timer fires). Only the writer
// reads it (or, for a queue with no Sink, its owner).
func (q *Queue) Wake() <-chan struct{} { return q.wake }

// Done is closed when the queue is closed.
func (q *Queue) Done() <-chan struct{} { return q.done }

// Close closes the queue with a close code for the connection. The first
// call wins; later ones do nothing. Frames already queued are still written
// (unless the queue overflowed: a slow consumer gets nothing more), then the
// writer closes the connection with the code.
func (q *Queue) Close(code protocol.CloseCode, reason string) {
	q.mu.Lock()
	q.closeLocked(code, reason)
	q.startOrSignalAndUnlock() // someone must close the connection
}

// startOrSignalAndUnlock starts a writer if none runs, or wakes the one
// that does, to find the queue closed. Called with q.mu held; it unlocks it.
func (q *Queue) startOrSignalAndUnlock() {
	attached := q.start != nil
	start := q.claimWriterLocked()
	q.mu.Unlock()
	switch {
	case start != nil:
		start()
	case attached:
		q.signal()
	}
}

func (q *Queue) closeLocked(code protocol.CloseCode, reason string) {
	if q.closed {
		return
	}
	q.closed = true
	q.closeCode = code
	q.closeText = reason
	close(q.done)
}

// CloseStatus reports the code and reason the queue was closed with.
func (q *Queue) CloseStatus() (protocol.CloseCode, string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closeCode, q.closeText
}

// Len reports the frames and bytes waiting.
func (q *Queue) Len() (frames, bytes int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.frames), q.bytes
}
