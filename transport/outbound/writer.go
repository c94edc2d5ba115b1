package outbound

import (
	"sync/atomic"
	"time"

	"parley/internal/protocol"
)

// Sink is the connection a Queue's writer writes to. Only the writer calls
// it, one call at a time.
type Sink interface {
	// Write writes frames, oldest first, in one burst. An error means the
	// connection is broken.
	Write(frames [][]byte) error
	// Close writes last (what was still queued when the queue closed; none
	// for a slow consumer), then closes the connection with code and
	// reason. It is called once, by the last writer, which then exits.
	Close(code protocol.CloseCode, reason string, last [][]byte)
	// Drop closes the connection at once, without a close handshake: a
	// write failed.
	Drop()
}

// write is the writer goroutine: it drains the queue into the sink, every
// frame queued since the last wake-up in one burst. The queue starts it
// (claimWriterLocked: at most one runs); it exits when park reports the
// queue idle, one to two q.linger after its last burst, or after closing
// the connection once the queue is closed.
//
// It waits on q.wake alone, which Send, Close and the idle timer all
// signal, and then looks at what happened: a receive from one channel costs
// a third of a select over three, once per burst.
func (q *Queue) write() {
	var frames [][]byte
	// The idle timer is not reset per burst (a timer operation per burst
	// was a measurable share of a delivery at everyday load): it fires
	// every linger, and the writer parks at a firing that follows a whole
	// linger without a burst, so between one and two lingers after its
	// last one.
	var ticked atomic.Bool // set by the timer, cleared by the writer
	// Each firing runs this on a goroutine of its own (the runtime's), which
	// stores, signals without blocking and returns. One that fires as the
	// writer exits leaves a token in wake: the next writer's first wake-up
	// then finds nothing to do.
	idle := time.AfterFunc(q.linger, func() {
		ticked.Store(true)
		q.signal()
	})
	defer idle.Stop()
	active := false // a burst since the timer last fired
	for {
		<-q.wake
		select {
		case <-q.done:
			code, reason := q.CloseStatus()
			var last [][]byte
			if code != protocol.ClosePolicy { // a slow consumer gets nothing more
				last = q.Take(frames)
			}
			q.sink.Close(code, reason, last)
			return
		default:
		}
		frames = q.Take(frames)
		if len(frames) > 0 {
			if err := q.sink.Write(frames); err != nil {
				q.Close(protocol.CloseGoingAway, "write failed")
				q.sink.Drop()
				continue // the queue is closed and signalled: close the connection
			}
			active = true
			if cap(frames) > maxKeptBatch {
				// Not held through the linger: a presence flush fills
				// every member's queue at once, and 19,000 writers each
				// keeping a 100-frame array would hold some 50 MB.
				clear(frames)
				frames = nil
			}
		}
		if ticked.Swap(false) {
			if !active && q.park() {
				return
			}
			active = false
			idle.Reset(q.linger)
		}
	}
}
