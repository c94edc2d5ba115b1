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
	"sync"
	"sync/atomic"
	"syscall"
)

// ErrWouldBlock is what Conn.Read returns when a new message could begin but
// nothing has arrived: coder/websocket passes it up from Reader without
// touching the connection's state, and the reader parks the connection.
var ErrWouldBlock = errors.New("no message waiting")

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

	parking atomic.Bool // ErrWouldBlock allowed; cleared for good when the poller cannot take the connection
	closing atomic.Bool // the close handshake began: every read waits

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
// a pooled buffer without waiting; elsewhere it waits, reading into p.
func (c *Conn) Read(p []byte) (int, error) {
	if len(c.pending) == 0 && c.raw != nil && c.parking.Load() && c.scan.atBoundary() && !c.closing.Load() {
		if err := c.readAhead(); err != nil {
			return 0, err
		}
	}
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		c.scan.feed(p[:n])
		if len(c.pending) == 0 {
			c.pending = nil
			if c.ahead != nil {
				readAheadBufs.Put(c.ahead)
				c.ahead = nil
			}
		}
		return n, nil
	}
	n, err := c.Conn.Read(p)
	c.scan.feed(p[:n])
	return n, err
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
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.onClose != nil {
		c.onClose()
	}
	if c.wake != nil {
		c.Kick()
	}
	return err
}
