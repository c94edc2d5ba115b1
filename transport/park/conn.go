// Package park lets a WebSocket server hold an idle connection with no
// goroutine and no read buffer.
//
// A Conn is the hijacked connection as coder/websocket reads it. It follows
// the client's frames as they are read, and where everything read so far
// ends between two messages and the socket is empty, its Read returns
// ErrWouldBlock instead of waiting. coder/websocket passes that error up
// from Reader without changing its own state (contract_test.go pins this),
// so the reader goroutine can hand the connection to the Poller and exit.
// The Poller wakes it (Conn.Kick, which calls the function given to OnWake)
// when bytes or a hang-up arrive, or when the socket is closed.
//
// Linux only: elsewhere NewPoller fails, and a Conn made with parking off
// reads like the socket under it, waiting.
package park

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrWouldBlock is what Conn.Read returns when a new message could begin but
// nothing has arrived: coder/websocket passes it up from Reader without
// touching the connection's state, and the reader parks the connection.
var ErrWouldBlock = errors.New("no message waiting")

// ErrMessageTimeout is what Conn.Read returns, from then on, once a message
// (or a control frame) begun has not been completed within the message
// timeout (SetLimits). Close 1008.
var ErrMessageTimeout = errors.New("message not completed in time")

// ErrFrameBudget is what Conn.Read returns, from then on, once the function
// given to OnFrames refused the frames read. Close 1008 (that function
// closes the connection itself).
var ErrFrameBudget = errors.New("too many frames")

// readAheadSize is the pooled buffer one read ahead fills.
const readAheadSize = 4096

// Conn is a net.Conn whose Read may return ErrWouldBlock at a message
// boundary (see the package comment). Writes and deadlines go to the socket
// under it; Close also wakes a parked reader.
//
// Reads are used only by whoever holds coder/websocket's read lock, which
// serialises them (the reader goroutine, or the writer during the close
// handshake).
type Conn struct {
	net.Conn

	raw     syscall.RawConn // the socket, for a read that does not wait; nil: reads always wait
	pending []byte          // read but not yet handed out: sent with the upgrade request, or read ahead
	ahead   *[]byte         // the pooled buffer pending lies in, if any; returned once pending is drained
	scan    frameScan
	err     error // the stream's first error (frameScan's, or above): every read returns it from then on

	// msgTimeout bounds a message from the first read that has to wait for
	// the rest of it to the end of it (SetLimits); deadline is set while the
	// socket's read deadline is armed for the current message.
	msgTimeout time.Duration
	deadline   bool
	// charge is given the count of frames that are not a whole message by
	// themselves (fragments after the first, control frames), and
	// reports whether the connection may go on (OnFrames).
	charge func(n int) bool

	parking atomic.Bool // ErrWouldBlock allowed; cleared for good when the poller cannot take the connection
	closing atomic.Bool // the close handshake began: every read waits
	// refused: a stream error was found (c.err is one), so Close lingers;
	// lingering: it does, once.
	refused, lingering atomic.Bool

	// state is running while a reader goroutine owns the read side, parked
	// while the connection waits in the poller. Only a CAS from parked to
	// running starts a reader (Kick), so there is never more than one; a
	// reader that tears the connection down never parks it again. A Conn
	// starts running: its owner starts the first reader itself.
	state      atomic.Int32
	registered bool   // in the poller's epoll set; written only by the running reader, before it parks
	wake       func() // starts a reader goroutine; set by OnWake before anything may close the socket
	onClose    func() // called by Close once the socket is closed; set by OnClose, like wake
}

const (
	running int32 = iota
	parked
)

// NewConn wraps nc, a hijacked server-side WebSocket connection. early holds
// bytes already read from nc (sent by the client right behind its upgrade
// request); a copy is handed out first, and scanned like the rest. With
// parking off (no Poller), or if nc gives no raw socket, reads always wait.
func NewConn(nc net.Conn, early []byte, parking bool) *Conn {
	c := &Conn{Conn: nc}
	if len(early) > 0 {
		c.pending = bytes.Clone(early)
	}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn() // nil on error: reads always wait
	}
	c.parking.Store(parking)
	return c
}

// OnWake sets the function that starts a reader goroutine for a parked
// connection (see Kick). Call it once, before the first read and before
// anything may close the connection.
func (c *Conn) OnWake(wake func()) { c.wake = wake }

// OnClose sets a function that Close calls once the socket is closed,
// before it wakes a parked reader. Call it, if at all, when calling OnWake.
func (c *Conn) OnClose(f func()) { c.onClose = f }

// SetLimits sets the largest message payload in bytes (limit, 0 for none:
// a data frame whose length, with those of its message's earlier
// fragments, is more is ErrTooBig at its header) and the longest a message
// may take (msgTimeout, 0 for no bound: a message, or a control frame, not
// completed within it of the first read that had to wait for its rest is
// ErrMessageTimeout). Call it before the first read.
func (c *Conn) SetLimits(limit int64, msgTimeout time.Duration) {
	c.scan.limit = uint64(max(limit, 0))
	c.msgTimeout = msgTimeout
}

// OnFrames sets the function that is charged with the frames a client sent
// that are not a whole message by themselves: every control frame, and
// every fragment after a message's first. A message's own frame is the
// request its reader charges; these would otherwise be free. It is called
// from Read, on whichever goroutine reads, and returning false makes every
// read fail with ErrFrameBudget. Call it, if at all, before the first read.
func (c *Conn) OnFrames(f func(n int) bool) { c.charge = f }

// Err returns the error that ended the client's stream, if one did: one of
// frameScan's, ErrMessageTimeout or ErrFrameBudget. Every read returns it
// from then on, so a reader that failed can tell from it what to close with.
// Only the reading goroutine may call it.
func (c *Conn) Err() error { return c.err }

// Kick starts a reader, through the function given to OnWake, if the
// connection is parked. The Poller's kick leads here when bytes or a
// hang-up arrive, and Close calls it when the socket is closed.
func (c *Conn) Kick() {
	if c.state.CompareAndSwap(parked, running) {
		c.wake()
	}
}

// Closing tells the connection that the close handshake began: from now on
// every read waits, for coder/websocket reads the peer's close frame itself
// and must wait for it rather than find the socket empty.
func (c *Conn) Closing() { c.closing.Store(true) }

// Read hands out what was read ahead, or reads from the socket, and scans
// what it returns (frameScan). Where a message may begin it reads ahead into
// a pooled buffer without waiting; elsewhere it waits, reading into p, under
// the message timeout. It never hands out the byte that shows a stream
// error (frameScan's errors): it returns what comes before it, then the
// error, to every later call too.
func (c *Conn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(c.pending) == 0 && c.raw != nil && c.parking.Load() && c.scan.atBoundary() && !c.closing.Load() {
		if err := c.readAhead(); err != nil {
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		n = c.scanned(p[:n])
		if len(c.pending) == 0 || c.err != nil {
			c.pending = nil
			if c.ahead != nil {
				readAheadBufs.Put(c.ahead)
				c.ahead = nil
			}
		}
		if n == 0 && c.err != nil {
			return 0, c.err
		}
		return n, nil
	}
	if c.msgTimeout > 0 && !c.deadline && !c.scan.atBoundary() && !c.closing.Load() {
		// Inside a message (or a frame) the client must finish: from here
		// on it has msgTimeout, however it paces its bytes, fragments and
		// pings.
		c.deadline = true
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.msgTimeout))
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.deadline && errors.Is(err, os.ErrDeadlineExceeded) {
		c.err, err = ErrMessageTimeout, ErrMessageTimeout
		c.refused.Store(true)
	}
	n = c.scanned(p[:n])
	if err == nil && c.err != nil {
		err = c.err
		if n > 0 {
			err = nil // the bytes before it first; the next read returns it
		}
	}
	return n, err
}

// scanned feeds b, bytes about to be handed out, to the scan, and returns
// how many of them may be: all, or those before the byte that shows a
// stream error (c.err is set then). It disarms the message timeout at a
// message boundary, and charges the frames that need it (OnFrames).
func (c *Conn) scanned(b []byte) int {
	n := len(b)
	if bad := c.scan.feed(b); bad >= 0 {
		n, c.err = bad, c.scan.err
		c.refused.Store(true)
	}
	if c.deadline && c.scan.atBoundary() {
		c.deadline = false
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
	if c.scan.extra > 0 && c.charge != nil && !c.closing.Load() {
		extra := c.scan.extra
		c.scan.extra = 0
		if !c.charge(extra) && c.err == nil {
			c.err = ErrFrameBudget // the bytes of this read still go out: the connection is closing anyway
			c.refused.Store(true)
		}
	}
	return n
}

// readAheadBufs lend buffers for reads ahead: one system call fetches what
// has arrived, and the buffer goes back as soon as it is drained, so a
// parked connection holds none (the bufio.Reader in front of a Conn can be
// bufio's 16-byte minimum).
var readAheadBufs = sync.Pool{New: func() any { b := make([]byte, readAheadSize); return &b }}

// readAhead makes one read system call on the non-blocking socket into a
// pooled buffer, and does not wait: nothing there is ErrWouldBlock.
func (c *Conn) readAhead() error {
	buf := readAheadBufs.Get().(*[]byte)
	var n int
	var err error
	if rerr := c.raw.Read(func(fd uintptr) bool {
		n, err = readFD(fd, *buf)
		return true // one attempt: never wait for readiness here
	}); rerr != nil {
		readAheadBufs.Put(buf)
		return rerr // closed
	}
	switch {
	case err == syscall.EAGAIN || err == syscall.EINTR:
		err = ErrWouldBlock // if something did arrive, the poller says so at once
	case err != nil:
		err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	case n == 0:
		err = io.EOF
	default:
		c.ahead, c.pending = buf, (*buf)[:n]
		return nil
	}
	readAheadBufs.Put(buf)
	return err
}

// Close closes the socket, calls the function given to OnClose, and wakes a
// parked reader, which then finds the connection closed and tears it down:
// a socket closed while parked is no longer in the poller, so no event
// would ever come for it.
//
// After a stream error (the client broke the protocol, sent a message over
// the limit, or too many frames) the client may still be sending: closed at
// once with its bytes unread, the socket would answer them with a reset,
// which can destroy the close frame just sent before the client reads it.
// So Close shuts the write side (the close frame, then FIN), and a
// goroutine discards what still comes, for at most lingerTime and
// lingerBytes, before closing the socket.
func (c *Conn) Close() error {
	var err error
	if c.refused.Load() {
		err = c.linger()
	} else {
		err = c.Conn.Close()
	}
	if c.onClose != nil {
		c.onClose()
	}
	if c.wake != nil {
		c.Kick()
	}
	return err
}

// How long, and how much, a socket closed after a stream error reads what
// its client still sends before it is closed (see Close).
const (
	lingerTime  = time.Second
	lingerBytes = 1 << 20
)

// linger half-closes the socket and closes it for good once the client
// stops sending, or lingerTime or lingerBytes have passed; once.
func (c *Conn) linger() error {
	if !c.lingering.CompareAndSwap(false, true) {
		return net.ErrClosed
	}
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return c.Conn.Close()
	}
	if err := cw.CloseWrite(); err != nil {
		return c.Conn.Close()
	}
	go func() { // ends within lingerTime
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
		_ = c.Conn.Close()
	}()
	return nil
}
