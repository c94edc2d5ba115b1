package actors

import (
	"sync"

	"parley/internal/protocol"
)

// Verdict is what Outbox.Push reports. Push never blocks.
type Verdict uint8

const (
	// Queued: the frame will be written.
	Queued Verdict = iota
	// Overflow: the queue was full (frames or bytes). The outbox has closed
	// itself with 1008; the session will be dropped and its user will leave
	// its rooms. Nothing else slows down.
	Overflow
	// Closed: the outbox was already closed; the frame was discarded.
	Closed
)

// OutboxLimits bound a session's queue of frames waiting to be written.
type OutboxLimits struct {
	Frames int // frames queued at most
	Bytes  int // bytes queued at most
}

// DefaultOutboxLimits hold about a second of a busy room for a client on a
// slow link; a client further behind than that is cut off, not buffered.
var DefaultOutboxLimits = OutboxLimits{Frames: 4096, Bytes: 1 << 20}

// Outbox is a session's bounded queue of encoded frames. Any goroutine may
// Push (rooms, other sessions' private messages, the store's acks, the session
// itself); one writer at a time, the transport's write loop, takes frames out.
// It holds its own small mutex for O(1) work, never across I/O.
//
// The writer runs only while there is work: Push (or Close) starts one
// through the function given to Attach when none is running, and the writer
// Parks, and exits, once it has been idle for a while. An idle connection so
// costs no writer goroutine.
type Outbox struct {
	limits OutboxLimits

	mu        sync.Mutex // guards the fields below
	frames    [][]byte   // queued, oldest first
	spare     [][]byte   // the writer's last batch, handed back for reuse
	bytes     int
	closed    bool
	closeCode protocol.CloseCode
	closeText string
	writing   bool   // a writer is running (started, not yet parked)
	start     func() // starts a writer; set by Attach
	// deferred: frames are queued that nothing has woken the writer for
	// (PushDeferred into an empty queue). The next Push or Flush wakes it.
	deferred bool

	// wake has capacity 1: written (without blocking) by Push when the queue
	// goes from empty (or deferred-only) to non-empty, and by Flush; read by
	// the writer. Never closed.
	wake chan struct{}
	// done is closed by Close (once); read by the writer and the session.
	done chan struct{}
}

// NewOutbox returns an empty open outbox.
func NewOutbox(l OutboxLimits) *Outbox {
	if l.Frames <= 0 {
		l.Frames = DefaultOutboxLimits.Frames
	}
	if l.Bytes <= 0 {
		l.Bytes = DefaultOutboxLimits.Bytes
	}
	return &Outbox{limits: l, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Push queues frame. frame must not be modified afterwards: the same bytes go
// to every recipient of a broadcast.
func (o *Outbox) Push(frame []byte) Verdict {
	o.mu.Lock()
	if v, refused := o.refuseLocked(frame); refused {
		return v
	}
	signal := len(o.frames) == 0 || o.deferred
	o.deferred = false
	o.appendLocked(frame)
	start := o.claimWriterLocked()
	o.mu.Unlock()
	if start != nil {
		start()
	}
	if signal {
		o.signal()
	}
	return Queued
}

// PushDeferred queues frame like Push, bounded and with the same verdicts,
// but does not wake the writer (nor start one) for it: the frame leaves
// with whatever the next Push queues, or at the next Flush. Rooms use it for
// presence during churn, so that a member's writer wakes once for many
// joins and leaves rather than once for each; order with other frames is
// kept, since they share one queue.
func (o *Outbox) PushDeferred(frame []byte) Verdict {
	o.mu.Lock()
	if v, refused := o.refuseLocked(frame); refused {
		return v
	}
	if len(o.frames) == 0 {
		o.deferred = true
	} // else: the frames already queued have woken the writer, which takes this one too
	o.appendLocked(frame)
	o.mu.Unlock()
	return Queued
}

// Flush wakes the writer (starting one if none runs) for frames queued by
// PushDeferred that are still waiting; otherwise it does nothing.
func (o *Outbox) Flush() {
	o.mu.Lock()
	if !o.deferred {
		o.mu.Unlock()
		return
	}
	o.deferred = false
	start := o.claimWriterLocked()
	o.mu.Unlock()
	if start != nil {
		start()
	}
	o.signal()
}

func (o *Outbox) appendLocked(frame []byte) {
	if o.frames == nil && o.spare != nil {
		o.frames, o.spare = o.spare, nil
	}
	o.frames = append(o.frames, frame)
	o.bytes += len(frame)
}

// signal wakes the writer without blocking; a signal already pending is enough.
func (o *Outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// refuseLocked checks that frame may be queued. If not, it reports the
// verdict and true, having closed the outbox on an overflow (and started a
// writer to close the connection) and unlocked o.mu; otherwise it keeps the
// lock.
func (o *Outbox) refuseLocked(frame []byte) (Verdict, bool) {
	if o.closed {
		o.mu.Unlock()
		return Closed, true
	}
	if len(o.frames)+1 > o.limits.Frames || o.bytes+len(frame) > o.limits.Bytes {
		o.closeLocked(protocol.ClosePolicy, "slow consumer: outbound queue full")
		start := o.claimWriterLocked()
		o.mu.Unlock()
		if start != nil {
			start()
		}
		return Overflow, true
	}
	return Queued, false
}

// claimWriterLocked returns the start function if a writer must be started
// (none is running), marking it as running.
func (o *Outbox) claimWriterLocked() func() {
	if o.writing || o.start == nil {
		return nil
	}
	o.writing = true
	return o.start
}

// Attach sets the function that starts a writer (in a new goroutine) and
// starts one if frames are already queued or the outbox is closed.
func (o *Outbox) Attach(start func()) {
	o.mu.Lock()
	o.start = start
	var run func()
	if len(o.frames) > 0 || o.closed {
		run = o.claimWriterLocked()
	}
	o.mu.Unlock()
	if run != nil {
		run()
	}
}

// Park is called by an idle writer. If nothing is queued and the outbox is
// open, the writer is marked stopped and Park reports true: the writer must
// exit, and the next Push starts a new one. Otherwise the writer goes on.
func (o *Outbox) Park() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.frames) > 0 || o.closed {
		return false
	}
	o.writing = false
	o.spare = nil // an idle connection keeps no batch array
	return true
}

// Take moves every queued frame out, oldest first, and hands back the slice
// of the previous Take (its frames written) for reuse. Only the writer calls it.
func (o *Outbox) Take(prev [][]byte) [][]byte {
	clear(prev) // drop references so written frames can be collected
	prev = prev[:0]
	o.mu.Lock()
	out := o.frames
	o.frames = nil
	o.bytes = 0
	o.deferred = false
	// Keep the old batch's array for the next pushes unless it grew large:
	// a connection that once had a burst should not hold that memory idle.
	if cap(prev) > 0 && cap(prev) <= 64 {
		o.spare = prev
	}
	o.mu.Unlock()
	return out
}

// Wake is signalled when frames are waiting. Only the writer reads it.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }

// Done is closed when the outbox is closed.
func (o *Outbox) Done() <-chan struct{} { return o.done }

// Close closes the outbox with a close code for the connection. The first
// call wins; later ones do nothing. Frames already queued are still taken by
// the writer, which then closes the connection with the code.
func (o *Outbox) Close(code protocol.CloseCode, reason string) {
	o.mu.Lock()
	o.closeLocked(code, reason)
	start := o.claimWriterLocked() // someone must close the connection
	o.mu.Unlock()
	if start != nil {
		start()
	}
}

func (o *Outbox) closeLocked(code protocol.CloseCode, reason string) {
	if o.closed {
		return
	}
	o.closed = true
	o.closeCode = code
	o.closeText = reason
	close(o.done)
}

// CloseStatus reports the code and reason the outbox was closed with.
func (o *Outbox) CloseStatus() (protocol.CloseCode, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closeCode, o.closeText
}

// Len reports the frames and bytes waiting.
func (o *Outbox) Len() (frames, bytes int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.frames), o.bytes
}
