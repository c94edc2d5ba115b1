package transport

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"parley/actors"
)

// conn joins one WebSocket connection to its session actor. The handler's
// goroutine is the reader (readLoop); writeLoop runs in its own goroutine.
type conn struct {
	srv     *Server
	ws      *websocket.Conn
	netConn *corkConn // the hijacked connection: write deadlines and corking
	batch   bool      // BatchSubprotocol negotiated
	sess    *actors.Session
	pinging atomic.Bool     // a ping is in flight; set by Heartbeat, cleared by ping
	ctx     context.Context // never done; see serve
	closed  chan struct{}   // closed by the writer that closes the connection; awaited by serve
}

// readBufs recycles frame buffers: a frame is read whole, decoded, and its
// buffer returned, so an idle connection holds none.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// serve runs the connection until it ends and then tears the session down.
// It is the connection's reader.
func (c *conn) serve() {
	// Reads and writes get a context that is never done: with one that can
	// be, coder/websocket arms a context.AfterFunc on every call (an
	// allocation each). Reads end when the connection closes; writes are
	// bounded by deadlines on the socket. Only pings carry a timeout.
	c.ctx = context.Background()
	c.closed = make(chan struct{})
	c.srv.conns.Store(c.sess.ID(), c)
	defer c.srv.conns.Delete(c.sess.ID())

	// Writers run only while there is something to write: each runs in its
	// own goroutine and exits when it has been idle for writerLinger, or after
	// closing the connection once the outbox is closed.
	c.sess.Outbox().Attach(func() { go c.writeLoop() })

	c.readLoop(c.ctx)
	c.sess.Close() // leave rooms, free the name, close the outbox
	<-c.closed     // the last writer finished the close handshake
	c.ws.CloseNow()
}

// readLoop reads frames until the connection fails or the session closes.
func (c *conn) readLoop(ctx context.Context) {
	out := c.sess.Outbox()
	for {
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			c.readError(err)
			return
		}
		buf := readBufs.Get().(*bytes.Buffer)
		_, err = buf.ReadFrom(r)
		if err != nil {
			readBufs.Put(resetBuf(buf))
			c.readError(err)
			return
		}
		if typ != websocket.MessageText {
			readBufs.Put(resetBuf(buf))
			out.Close(actors.CloseUnsupported, "binary frames are not supported")
			return
		}
		if !utf8.Valid(buf.Bytes()) {
			readBufs.Put(resetBuf(buf))
			out.Close(actors.CloseInvalidData, "text frame is not valid UTF-8")
			return
		}
		// Decoding and handling run on a short-lived goroutine while the
		// reader waits. The reader lives as long as the connection, and a
		// stack grown by one deep call (JSON decoding, the actors, SQL) is
		// kept until a GC finds it mostly unused: the reader's own calls stay
		// shallow, which keeps an idle connection small.
		done := make(chan struct{})
		go func() { // exits when the frame is handled; the reader waits for it
			defer close(done)
			c.handleFrame(ctx, buf)
		}()
		<-done
		select {
		case <-out.Done():
			return // rate-limit abuse, overflow or shutdown: stop reading
		default:
		}
	}
}

// handleFrame decodes one frame and hands it to the session, then returns
// its buffer to the pool.
func (c *conn) handleFrame(ctx context.Context, buf *bytes.Buffer) {
	req, err := decodeRequest(buf.Bytes())
	readBufs.Put(resetBuf(buf))
	if err != nil {
		c.sess.HandleMalformed(req.Ref, err.Error())
		return
	}
	c.sess.Handle(ctx, req)
}

// resetBuf empties a buffer for the pool, dropping ones grown by a large
// frame so the pool does not keep them.
func resetBuf(b *bytes.Buffer) *bytes.Buffer {
	if b.Cap() > 64<<10 {
		return new(bytes.Buffer)
	}
	b.Reset()
	return b
}

func (c *conn) readError(err error) {
	switch websocket.CloseStatus(err) {
	case websocket.StatusMessageTooBig:
		// coder/websocket has already sent 1009.
		c.sess.Outbox().Close(actors.CloseTooBig, "frame too large")
	case -1:
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled) {
			c.srv.log.Debug("read", "session", c.sess.ID(), "err", err)
		}
	}
}

// writerLinger is how long an idle writer waits for more before it exits.
// Long enough that a busy connection keeps its writer, short enough that an
// idle one does not hold a goroutine.
const writerLinger = 2 * time.Second

// writeLoop drains the session's outbox into the connection: every frame
// queued since the last wake-up is written in one go. One runs at a time
// (the outbox starts it); it exits when parked after writerLinger idle, or
// after closing the connection.
func (c *conn) writeLoop() {
	out := c.sess.Outbox()
	var frames [][]byte
	var batch []byte
	idle := time.NewTimer(writerLinger)
	defer idle.Stop()
	for {
		select {
		case <-out.Wake():
			frames = out.Take(frames)
			var err error
			if batch, err = c.write(frames, batch); err != nil {
				out.Close(actors.CloseGoingAway, "write failed")
				c.ws.CloseNow()
				// The outbox is closed; go on to close the connection.
			}
			idle.Reset(writerLinger)
		case <-idle.C:
			if out.Park() {
				return
			}
			idle.Reset(writerLinger)
		case <-out.Done():
			code, reason := out.CloseStatus()
			if code != actors.ClosePolicy { // a slow consumer gets nothing more
				frames = out.Take(frames)
				batch, _ = c.write(frames, batch)
			}
			if code == actors.CloseTooBig {
				c.ws.CloseNow() // the library already sent 1009
			} else {
				_ = c.ws.Close(websocket.StatusCode(code), reason)
			}
			close(c.closed)
			return
		}
	}
}

// write sends frames: one WebSocket message each, or, with the batch
// subprotocol, as few messages as fit MaxBatchBytes, joined by "\n". It
// returns the batch buffer for reuse.
func (c *conn) write(frames [][]byte, batch []byte) ([]byte, error) {
	if len(frames) == 0 {
		return batch, nil
	}
	// The deadline bounds this batch only: left set, it would fail the next
	// ping written long after (a regression test guards this).
	_ = c.netConn.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	c.netConn.cork()
	batch, err := c.writeFrames(frames, batch)
	if ferr := c.netConn.flush(); err == nil {
		err = ferr
	}
	_ = c.netConn.SetWriteDeadline(time.Time{})
	return batch, err
}

// writeFrames hands the frames to the library, which writes them into the
// corked connection.
func (c *conn) writeFrames(frames [][]byte, batch []byte) ([]byte, error) {
	if !c.batch {
		for _, f := range frames {
			if err := c.ws.Write(c.ctx, websocket.MessageText, f); err != nil {
				return batch, err
			}
		}
		return batch, nil
	}
	batch = batch[:0]
	for _, f := range frames {
		if len(batch) > 0 && len(batch)+1+len(f) > c.srv.opts.MaxBatchBytes {
			if err := c.ws.Write(c.ctx, websocket.MessageText, batch); err != nil {
				return batch, err
			}
			batch = batch[:0]
		}
		if len(batch) > 0 {
			batch = append(batch, '\n')
		}
		batch = append(batch, f...)
	}
	err := c.ws.Write(c.ctx, websocket.MessageText, batch)
	if cap(batch) > c.srv.opts.MaxBatchBytes*2 {
		batch = nil // do not keep a buffer grown by one huge frame
	}
	return batch, err
}

// ping sends one ping and waits for its pong, at most timeout; on timeout
// the library closes the connection, which ends the reader and the session.
func (c *conn) ping(timeout time.Duration) {
	defer c.pinging.Store(false)
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	if err := c.ws.Ping(ctx); err != nil {
		// A dead peer would not answer a close handshake either: drop it.
		c.srv.log.Debug("ping", "session", c.sess.ID(), "err", err)
		c.ws.CloseNow()
	}
}
