package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
)

// The buffers coder/websocket reads and writes through. net/http hands a
// hijacked connection 4 KiB for each; an idle chat connection needs neither.
// Where connections park, reads go through corkConn's pooled read-ahead, so
// the bufio.Reader can be bufio's 16-byte minimum; without a poller a
// connection's reader waits in its reads with a buffer of its own. With
// corkConn underneath, a small write buffer costs no extra system calls.
const (
	readBufferSize  = 16
	waitingReadSize = 512
	readAheadSize   = 4096
	writeBufferSize = 16
	// corkLimit bounds what one connection gathers before writing it out.
	corkLimit = 256 << 10
)

// corkConn is the hijacked connection as coder/websocket sees it.
//
// Writes: between cork and flush (the writer draining its outbox) writes are
// gathered in one buffer and leave in a single write system call at flush:
// coder/websocket flushes after every message, which would otherwise cost one
// system call per message. Outside that window writes go straight through
// (pings, the close handshake). The buffer is borrowed from a pool only while
// corked, so an idle connection holds none.
//
// Reads: with parking on (the server has a poller), a read that finds the
// socket empty where a new message would begin returns errWouldBlock instead
// of waiting, so that the reader goroutine can give the connection back to
// the poller and exit: an idle connection then has no goroutine and no stack.
// Everywhere else (in the middle of a frame, between fragments, during the
// close handshake) reads wait as usual.
type corkConn struct {
	net.Conn

	mu     sync.Mutex // guards the write fields below; held across the network write, like coder's own write lock
	corked bool
	buf    *bytes.Buffer // non-nil while corked
	err    error         // the first write error; sticky

	// Read side: used only by whoever holds coder/websocket's read lock,
	// which serialises them (the reader goroutine, or the writer during
	// the close handshake).
	raw     syscall.RawConn // the socket, for a read that does not wait; nil: reads always wait
	pending []byte          // read but not yet handed out: sent with the upgrade request, or read ahead
	ahead   *[]byte         // the pooled buffer pending lies in, if any; returned once pending is drained
	scan    frameScan

	parking atomic.Bool // errWouldBlock allowed; cleared for good when the poller cannot take the connection

	closing atomic.Bool // the close handshake began: every read waits
	onClose func()      // called after the socket is closed, to wake a parked reader; set before the first read
}

// errWouldBlock is what a read returns when a new message could begin but
// nothing has arrived: coder/websocket passes it up from Reader without
// touching the connection's state, and the reader parks the connection.
var errWouldBlock = errors.New("no message waiting")

// Read hands out what was read ahead, or reads from the socket, and scans
// what it returns (frameScan). Where a message may begin it reads ahead into
// a pooled buffer without waiting; elsewhere it waits, reading into p.
func (c *corkConn) Read(p []byte) (int, error) {
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
// parked connection holds none (its bufio.Reader is the 16-byte minimum).
var readAheadBufs = sync.Pool{New: func() any { b := make([]byte, readAheadSize); return &b }}

// readAhead makes one read system call on the non-blocking socket into a
// pooled buffer, and does not wait: nothing there is errWouldBlock.
func (c *corkConn) readAhead() error {
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
		err = errWouldBlock // if something did arrive, the poller says so at once
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

// Close closes the socket and wakes a parked reader, which then finds the
// connection closed and tears it down: a socket closed while parked is no
// longer in the poller, so no event would ever come for it.
func (c *corkConn) Close() error {
	err := c.Conn.Close()
	if c.onClose != nil {
		c.onClose()
	}
	return err
}

var corkBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if !c.corked {
		n, err := c.Conn.Write(p)
		c.err = err
		return n, err
	}
	c.buf.Write(p)
	if c.buf.Len() >= corkLimit {
		if err := c.writeOutLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// cork starts gathering writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		c.corked = true
		c.buf = corkBufs.Get().(*bytes.Buffer)
	}
}

// flush writes out what was gathered and stops gathering.
func (c *corkConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.err
	}
	err := c.writeOutLocked()
	c.corked = false
	if c.buf.Cap() <= 2*corkLimit {
		c.buf.Reset()
		corkBufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

func (c *corkConn) writeOutLocked() error {
	if c.err == nil && c.buf.Len() > 0 {
		_, c.err = c.Conn.Write(c.buf.Bytes())
	}
	c.buf.Reset()
	return c.err
}

// hijackWriter hands coder/websocket a corkConn with small buffers instead of
// the hijacked connection and net/http's 4 KiB buffers, and keeps the
// corkConn for the writer.
type hijackWriter struct {
	http.ResponseWriter
	parking bool      // the server has a poller: the connection may park, reads go through the read-ahead
	conn    *corkConn // set by Hijack
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The 101 response is already written and flushed by net/http. Bytes the
	// client sent right after its request (a pipelined first frame) are in
	// brw.Reader; corkConn hands them out first, so that they are scanned
	// like the rest. (coder/websocket moves whatever it finds buffered in
	// the reader given here into a reader of its own in front of the
	// connection, where the scan would not see it.)
	h.conn = &corkConn{Conn: nc}
	h.conn.parking.Store(h.parking)
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		h.conn.pending = bytes.Clone(early)
	}
	if sc, ok := nc.(syscall.Conn); ok {
		h.conn.raw, _ = sc.SyscallConn() // nil on error: reads always wait
	}
	size := readBufferSize
	if !h.parking {
		size = waitingReadSize
	}
	r := bufio.NewReaderSize(h.conn, size)
	return h.conn, bufio.NewReadWriter(r, bufio.NewWriterSize(h.conn, writeBufferSize)), nil
}

// Unwrap lets http.ResponseController reach the original writer.
func (h *hijackWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }
