package outbound

import (
	"errors"
	"slices"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// waitLimit bounds every wait for the writer goroutine: generous, since
// a passing test never waits it out.
const waitLimit = 10 * time.Second

// memSink is a connection in memory: it hands every call of the writer to
// the test over calls.
type memSink struct {
	calls chan sinkCall
	fail  error // Write returns it
}

type sinkCall struct {
	op     string // "write", "close" or "drop"
	frames []string
	code   protocol.CloseCode
	reason string
}

func newMemSink() *memSink { return &memSink{calls: make(chan sinkCall, 64)} }

func strs(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

func (m *memSink) Write(frames [][]byte) error {
	m.calls <- sinkCall{op: "write", frames: strs(frames)}
	return m.fail
}

func (m *memSink) Close(code protocol.CloseCode, reason string, last [][]byte) {
	m.calls <- sinkCall{op: "close", frames: strs(last), code: code, reason: reason}
}

func (m *memSink) Drop() { m.calls <- sinkCall{op: "drop"} }

func (m *memSink) next(t *testing.T) sinkCall {
	t.Helper()
	select {
	case c := <-m.calls:
		return c
	case <-time.After(waitLimit):
		t.Fatalf("no call of the sink within %v", waitLimit)
		return sinkCall{}
	}
}

// nextWrite collects written frames until want have been written: the writer
// may take them in one burst or several.
func (m *memSink) nextWrites(t *testing.T, want int) []string {
	t.Helper()
	var got []string
	for len(got) < want {
		c := m.next(t)
		if c.op != "write" {
			t.Fatalf("got sink call %+v, want a write (%d frames so far, want %d)", c, len(got), want)
		}
		got = append(got, c.frames...)
	}
	return got
}

// writing reports whether a writer goroutine is running.
func (q *Queue) writingNow() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.writing
}

// Frames queued before Attach are written once it is called; a Send after
// the writer parked starts a new one; a Close writes what is still queued,
// then closes the connection with its code, once: the first Close wins.
func TestWriterWritesParksAndCloses(t *testing.T) {
	q := New(actors.OutboxLimits{})
	q.linger = time.Millisecond
	sink := newMemSink()
	q.Send([]byte("welcome"))
	q.Attach(sink)
	if got := sink.nextWrites(t, 1); !slices.Equal(got, []string{"welcome"}) {
		t.Fatalf("after Attach: got writes %q, want [welcome]", got)
	}

	// Idle past the linger: the writer parks and exits.
	deadline := time.Now().Add(waitLimit)
	for q.writingNow() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if q.writingNow() {
		t.Fatalf("writer still running %v after its last write, want it parked", waitLimit)
	}
	q.Send([]byte("a"))
	q.Send([]byte("b"))
	if got := sink.nextWrites(t, 2); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after parking: got writes %q, want [a b]", got)
	}

	closeWithQueued(t, q, sink)
}

// closeWithQueued closes q with a frame queued, and checks that the writer
// writes it, then closes with the first Close's code.
func closeWithQueued(t *testing.T, q *Queue, sink *memSink) {
	t.Helper()
	q.mu.Lock() // hold the writer off, so the frame is still queued at Close
	q.appendLocked([]byte("last"))
	q.closeLocked(protocol.CloseNormal, "bye")
	start := q.claimWriterLocked()
	q.mu.Unlock()
	if start != nil {
		start()
	}
	q.Close(protocol.CloseGoingAway, "too late") // the first Close won
	for {
		c := sink.next(t)
		if c.op == "write" { // a writer still running may take "last" first
			if !slices.Equal(c.frames, []string{"last"}) {
				t.Fatalf("before the close: got write %q, want [last]", c.frames)
			}
			continue
		}
		if c.op != "close" || c.code != protocol.CloseNormal || c.reason != "bye" {
			t.Fatalf("got sink call %+v, want close 1000 bye", c)
		}
		if len(c.frames) > 1 || (len(c.frames) == 1 && c.frames[0] != "last") {
			t.Fatalf("close: got last frames %q, want [last] or none (written before)", c.frames)
		}
		break
	}
	if v := q.Send([]byte("after")); v != actors.Closed {
		t.Errorf("Send after Close: got %v, want Closed", v)
	}
}

// A slow consumer's queue closes itself with 1008 and the writer closes the
// connection with it, writing nothing that was still queued at the close.
// (A wake-up already pending may still write what it takes first.)
func TestWriterCutsOffSlowConsumerWithNothingMore(t *testing.T) {
	q := New(actors.OutboxLimits{Frames: 2, Bytes: 1 << 10})
	sink := newMemSink()
	q.Send([]byte("a"))
	q.Send([]byte("b"))
	if v := q.Send([]byte("c")); v != actors.Overflow {
		t.Fatalf("third frame past a bound of 2: got %v, want Overflow", v)
	}
	q.Attach(sink) // the writer starts with the queue already closed
	c := sink.next(t)
	if c.op == "write" {
		c = sink.next(t)
	}
	if c.op != "close" || c.code != protocol.ClosePolicy || len(c.frames) != 0 {
		t.Fatalf("got sink call %+v, want close 1008 with no frames", c)
	}
}

// A write that fails drops the connection and closes the queue with 1001,
// and the writer then ends the connection.
func TestWriterDropsConnectionWhenAWriteFails(t *testing.T) {
	q := New(actors.OutboxLimits{})
	sink := newMemSink()
	sink.fail = errors.New("broken pipe")
	q.Attach(sink)
	q.Send([]byte("a"))
	for _, want := range []string{"write", "drop", "close"} {
		if c := sink.next(t); c.op != want {
			t.Fatalf("got sink call %+v, want %s", c, want)
		}
	}
	if code, reason := q.CloseStatus(); code != protocol.CloseGoingAway || reason != "write failed" {
		t.Errorf("close status: got %d %q, want 1001 \"write failed\"", code, reason)
	}
	select {
	case <-q.Done():
	default:
		t.Error("queue not closed after a failed write")
	}
}
