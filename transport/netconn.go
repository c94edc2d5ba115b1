package transport

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"sync"
)

// The buffers coder/websocket reads and writes through. net/http hands a
// hijacked connection 4 KiB for each; an idle chat connection needs neither,
// and with corkConn underneath, a small write buffer costs no extra system
// calls. Frames larger than the read buffer are read straight into the
// reader's frame buffer.
const (
	readBufferSize  = 512
	writeBufferSize = 256
	// corkLimit bounds what one connection gathers before writing it out.
	corkLimit = 256 << 10
)

// corkConn is the hijacked connection as coder/websocket sees it. Between
// cork and flush (the writer draining its outbox) writes are gathered in one
// buffer and leave in a single write system call at flush: coder/websocket
// flushes after every message, which would otherwise cost one system call per
// message. Outside that window writes go straight through (pings, the close
// handshake). The buffer is borrowed from a pool only while corked, so an idle
// connection holds none.
type corkConn struct {
	net.Conn

	mu     sync.Mutex // guards the fields below; held across the network write, like coder's own write lock
	corked bool
	buf    *bytes.Buffer // non-nil while corked
	err    error         // the first write error; sticky
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
	conn *corkConn
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The 101 response is already written and flushed by net/http. Bytes the
	// client sent right after its request (a pipelined first frame) are in
	// brw.Reader. They must sit in the new reader's buffer, not behind it:
	// coder/websocket re-wraps the reader with only what is buffered, so
	// anything else would be lost and the stream would desynchronise.
	var r *bufio.Reader
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(early)), nc), max(readBufferSize, n))
		if _, err := r.Peek(n); err != nil {
			return nil, nil, err
		}
	} else {
		r = bufio.NewReaderSize(nc, readBufferSize)
	}
	h.conn = &corkConn{Conn: nc}
	return h.conn, bufio.NewReadWriter(r, bufio.NewWriterSize(h.conn, writeBufferSize)), nil
}

// Unwrap lets http.ResponseController reach the original writer.
func (h *hijackWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }
