package transport

import (
	"bytes"
	"io"
	"sync"
)

// corkLimit bounds what one connection gathers before writing it out.
const corkLimit = 256 << 10

// corkWriter is where coder/websocket's writes go (under its bufio.Writer).
//
// Between cork and flush (the writer draining its outbox) writes are
// gathered in one buffer and leave in a single write system call at flush:
// coder/websocket flushes after every message, which would otherwise cost one
// system call per message. Outside that window writes go straight through
// (pings, the close handshake). The buffer is borrowed from a pool only while
// corked, so an idle connection holds none.
type corkWriter struct {
	w io.Writer // the socket; set by hijackWriter.Hijack before the first write

	mu  sync.Mutex    // guards the fields below; held across the network write, like coder's own write lock
	buf *bytes.Buffer // non-nil while corked (between cork and flush)
	err error         // the first write error; sticky
}

var corkBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (c *corkWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.buf == nil {
		n, err := c.w.Write(p)
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
func (c *corkWriter) cork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		c.buf = corkBufs.Get().(*bytes.Buffer)
	}
}

// flush writes out what was gathered and stops gathering.
func (c *corkWriter) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.err
	}
	err := c.writeOutLocked()
	if c.buf.Cap() <= 2*corkLimit {
		c.buf.Reset()
		corkBufs.Put(c.buf)
	}
	c.buf = nil
	return err
}

func (c *corkWriter) writeOutLocked() error {
	if c.err == nil && c.buf.Len() > 0 {
		_, c.err = c.w.Write(c.buf.Bytes())
	}
	c.buf.Reset()
	return c.err
}
