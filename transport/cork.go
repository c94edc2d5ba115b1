package transport

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"time"

	"parley/internal/wsframe"
)

// corkLimit bounds what one connection gathers before writing it out.
const corkLimit = 256 << 10

// corkWriter is the one way bytes reach a connection's socket.
//
// The writer's bursts (writeText) are framed here, every message of the
// burst into one buffer, and leave in a single write system call: through
// coder/websocket, each message costs a call that takes two locks, goes
// through its bufio.Writer and flushes, and a system call of its own. The
// library's own frames (pongs, pings, the close handshake) come through
// Write, each whole in one call (its bufio.Writer holds a whole control
// frame: hijack.go), so the two never interleave under mu. A close frame
// seen there ends writeText: no message may follow it.
//
// The write deadline is kept, not set and cleared per burst (two runtime
// timer operations each): every write first makes sure it is at least half
// of timeout away, and moves it to timeout otherwise. A write that blocks
// therefore fails after between half and all of timeout, and an idle
// connection's deadline, long past, is renewed by the next write before it
// is made, whoever makes it.
type corkWriter struct {
	conn    net.Conn      // the socket; set by hijackWriter.Hijack before the first write
	timeout time.Duration // how long one write may block (Options.WriteTimeout); set with conn
	// head is the handshake's 101 response, set by hijackWriter.Hijack and
	// sent ahead of the first write (the Welcome, in the same system call),
	// then nil. Guarded by mu once the connection starts.
	head []byte

	mu        sync.Mutex // guards the fields below; held across the network write, like coder's own write lock
	renew     time.Time  // the deadline is renewed by the first write after this
	closeSent bool       // a close frame went out
	err       error      // the first write error; sticky
}

// corkBufs lend the buffers a burst is framed in, so that an idle
// connection holds none.
var corkBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Write is the library's: one whole frame each call (a pong, a ping, the
// close frame).
func (c *corkWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if len(p) > 0 && p[0]&0x0F == wsframe.OpClose {
		c.closeSent = true
	}
	c.keepDeadlineLocked()
	if c.head != nil { // a control frame first: rare, a copy is fine
		n := len(p)
		p, c.head = append(c.head, p...), nil
		if _, c.err = c.conn.Write(p); c.err != nil {
			return 0, c.err
		}
		return n, nil
	}
	n, err := c.conn.Write(p)
	c.err = err
	return n, err
}

// writeText writes msgs as text messages in one write: one message each, or
// with joinLimit > 0 (the batch subprotocol), as few as fit joinLimit bytes,
// joined by "\n" (a message longer than joinLimit goes alone).
func (c *corkWriter) writeText(msgs [][]byte, joinLimit int) error {
	if len(msgs) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if c.closeSent {
		return fmt.Errorf("write messages: %w (a close frame was sent)", net.ErrClosed)
	}
	c.keepDeadlineLocked()
	buf := corkBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 2*corkLimit {
			buf.Reset()
			corkBufs.Put(buf)
		}
	}()
	if c.head != nil {
		buf.Write(c.head)
		c.head = nil
	}
	for len(msgs) > 0 {
		n, size := 1, len(msgs[0])
		if joinLimit > 0 {
			for n < len(msgs) && size+1+len(msgs[n]) <= joinLimit {
				size += 1 + len(msgs[n])
				n++
			}
		}
		if buf.Len() > 0 && buf.Len()+size > corkLimit {
			if err := c.writeOutLocked(buf); err != nil {
				return err
			}
		}
		buf.Grow(10 + size) // the longest header: AvailableBuffer then has room for it
		buf.Write(wsframe.AppendServerHeader(buf.AvailableBuffer(), true, wsframe.OpText, uint64(size)))
		for i, m := range msgs[:n] {
			if i > 0 {
				buf.WriteByte('\n')
			}
			buf.Write(m)
		}
		msgs = msgs[n:]
	}
	return c.writeOutLocked(buf)
}

// keepDeadlineLocked moves the write deadline timeout ahead when less than
// half of it is left.
func (c *corkWriter) keepDeadlineLocked() {
	if now := time.Now(); now.After(c.renew) {
		_ = c.conn.SetWriteDeadline(now.Add(c.timeout))
		c.renew = now.Add(c.timeout / 2)
	}
}

func (c *corkWriter) writeOutLocked(buf *bytes.Buffer) error {
	_, c.err = c.conn.Write(buf.Bytes())
	buf.Reset()
	return c.err
}
