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
	"parley/internal/protocol"
	"parley/transport/outbound"
	"parley/transport/park"
)

// conn joins one WebSocket connection to its session actor.
//
// Reading: a reader goroutine runs only while frames are arriving. When the
// socket is empty at a message boundary it parks the connection in the
// server's poller and exits; the poller starts a new one when bytes arrive
// (package park). An idle connection therefore has no goroutine at all.
// Without a poller (not Linux, or epoll failed) one reader runs for the
// whole life of the connection and simply waits in its reads.
//
// Writing: the connection's outbound queue (transport/outbound) is the
// session's Peer; its writer goroutine runs while there is something to
// write and writes through conn's Sink methods (Write, Close, Drop).
type conn struct {
	srv     *Server
	ws      *websocket.Conn
	netConn *park.Conn // the hijacked connection as the library reads and closes it
	cork    corkWriter // every write to the socket: the writer's bursts, framed there, and the library's control frames
	batch   bool       // BatchSubprotocol negotiated
	sess    *actors.Session
	out     *outbound.Queue // the session's peer; its writer calls Write, Close, Drop
	ip      string          // counted in srv.perIP until finish
	account int64           // the account's id; 0 for a guest. Set before start, then only read
	session string          // the account's session (accounts.Auth.Session); "" for a guest
	resume  bool            // an account's: the first reader runs Session.Resume, then clears it
	pinging atomic.Bool     // a ping is in flight; set by Heartbeat, cleared by ping
	// libClosed: coder/websocket sent the close frame itself (its own read
	// limit), so Close must not send another.
	libClosed atomic.Bool
	ctx       context.Context // never done; see start
	closed    chan struct{}   // closed by Close, the last writer's call; awaited by finish
	// life is the context requests run under (Session.Handle): done once
	// the connection is ending, so that a request waiting on the store or a
	// room gives up. end cancels it; it is called when the queue closes
	// (in Close, by the writer, which Queue.Close always starts), when the
	// socket is closed (park.Conn.OnClose), and by finish.
	life context.Context
	end  context.CancelFunc
}

// readBufs recycles frame buffers: a frame is read whole, decoded, and its
// buffer returned, so an idle connection holds none.
var readBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// start runs the connection: it registers it, lets the queue start writers,
// and starts the first reader, which reads what the client sent with its
// upgrade and parks the connection when there is nothing more.
func (c *conn) start() {
	// Reads and writes get a context that is never done: with one that can
	// be, coder/websocket arms a context.AfterFunc on every call (an
	// allocation each). Reads end when the connection closes; writes are
	// bounded by deadlines on the socket. Only pings carry a timeout.
	c.ctx = context.Background()
	c.life, c.end = context.WithCancel(context.Background())
	c.closed = make(chan struct{})
	c.netConn.OnWake(c.startReader)
	// What the frame scanner refuses before the library reads it: a
	// message over the read limit, one not completed in time, and control
	// frames and fragments past the session's rate limit.
	c.netConn.SetLimits(c.srv.opts.ReadLimit, c.srv.opts.MessageTimeout)
	c.netConn.OnFrames(c.sess.ChargeFrames)
	c.netConn.OnClose(c.end) // a request still waiting gives up; park.Conn then wakes a parked reader
	c.srv.conns.Store(c.sess.ID(), c)

	// Writers run only while there is something to write: the queue starts
	// each in its own goroutine, and it exits when it has been idle for one
	// to two outbound.Linger, or after closing the connection once the queue is
	// closed.
	c.out.Attach(c)

	c.startReader()
}

// startReader starts a reader: the first one at start, then one each time
// the parked connection is woken (park.Conn.Kick, from the poller when bytes
// or a hang-up arrive, or from Close when the socket is closed).
func (c *conn) startReader() {
	c.srv.readers.Add(1)
	go c.read() // exits when it parks the connection, or after tearing it down
}

// read reads and handles frames until none is waiting, then parks the
// connection; or until the connection fails or the session closes, then
// tears it down. It runs in its own goroutine, one at a time (park.Conn
// starts one only when it was parked).
func (c *conn) read() {
	defer c.srv.readers.Add(-1)
	out := c.out
	if c.resume {
		// Before the first request: the account's rooms, each with its
		// history, and its unread counts. Readers run one at a time, so
		// only this one sees resume set.
		c.resume = false
		c.sess.Resume(c.life)
	}
	for {
		typ, r, err := c.ws.Reader(c.ctx)
		if errors.Is(err, park.ErrWouldBlock) {
			if c.park() {
				return
			}
			continue // the poller could not take it: read on, waiting
		}
		if err != nil {
			c.readError(err)
			c.finish()
			return
		}
		buf := readBufs.Get().(*bytes.Buffer)
		_, err = buf.ReadFrom(r)
		switch {
		case err != nil:
			readBufs.Put(resetBuf(buf))
			c.readError(err)
			c.finish()
			return
		case typ != websocket.MessageText:
			readBufs.Put(resetBuf(buf))
			out.Close(protocol.CloseUnsupported, "binary frames are not supported")
			c.finish()
			return
		case !utf8.Valid(buf.Bytes()):
			readBufs.Put(resetBuf(buf))
			out.Close(protocol.CloseInvalidData, "text frame is not valid UTF-8")
			c.finish()
			return
		}
		// The frame is handled on a goroutine of its own while the reader
		// waits: a hand-off, not concurrency. The handler readies the room
		// actor it sends to, and when it exits the room is what runs next,
		// before this reader reads on. Handled inline, a reader with frames
		// waiting would go on reading while the room stayed queued, and on a
		// saturated core every delivery would wait behind it
		// (docs/performance.md, "Latency at half of Centrifugo's knee", has the figure).
		done := make(chan struct{})
		go func() { // exits when the frame is handled; the reader waits for it
			defer close(done)
			c.handleFrame(c.life, buf)
		}()
		<-done
		select {
		case <-out.Done():
			c.finish() // rate-limit abuse, overflow or shutdown: stop reading
			return
		default:
		}
	}
}

// park hands the connection to the poller and reports whether it did; the
// calling reader must then exit. When it did not, the reader reads on,
// waiting (park.Poller.Park).
func (c *conn) park() bool {
	parked, err := c.srv.poller().Park(c.netConn, c.sess.ID())
	if err != nil {
		c.srv.log.Warn("poller: reading this connection with a goroutine of its own", "session", c.sess.ID(), "err", err)
	}
	return parked
}

// finish tears the connection down once reading is over: the session leaves
// its rooms and closes its peer, the writer ends the close handshake, and
// the server forgets the connection.
func (c *conn) finish() {
	c.end()
	c.sess.Close() // leave rooms, free the name, close the queue (1000, unless closed already)
	<-c.closed     // the last writer finished the close handshake
	c.ws.CloseNow()
	c.srv.conns.Delete(c.sess.ID())
	c.srv.release(c.ip)
	c.srv.connWG.Done()
}

// handleFrame decodes one frame and hands it to the session, then returns
// its buffer to the pool.
func (c *conn) handleFrame(ctx context.Context, buf *bytes.Buffer) {
	req, err := protocol.Decode(buf.Bytes())
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

// readError closes the connection's queue with the code a failed read
// calls for. What the frame scanner refused (package park) has not reached
// coder/websocket, which has sent nothing: the code is parley's to send.
// Errors the library found itself it has answered already (1002 for most
// protocol errors, 1009 for its own read limit) or needs none (the socket
// closed, the peer's close frame).
func (c *conn) readError(err error) {
	if perr := c.netConn.Err(); perr != nil {
		code, reason := streamClose(perr)
		c.srv.streamRefused.Add(1)
		c.srv.log.Debug("read refused", "session", c.sess.ID(), "err", perr)
		c.out.Close(code, reason)
		return
	}
	switch websocket.CloseStatus(err) {
	case websocket.StatusMessageTooBig:
		// coder/websocket has already sent 1009.
		c.libClosed.Store(true)
		c.out.Close(protocol.CloseTooBig, "frame too large")
	case -1:
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled) {
			c.srv.log.Debug("read", "session", c.sess.ID(), "err", err)
		}
	}
}

// streamClose is the close code and reason for an error park.Conn found in
// the client's stream.
func streamClose(err error) (protocol.CloseCode, string) {
	switch {
	case errors.Is(err, park.ErrTooBig):
		return protocol.CloseTooBig, "message too large"
	case errors.Is(err, park.ErrCloseReason):
		return protocol.CloseInvalidData, "close reason is not valid UTF-8"
	case errors.Is(err, park.ErrMessageTimeout):
		return protocol.ClosePolicy, "message not completed in time"
	case errors.Is(err, park.ErrFrameBudget):
		return protocol.ClosePolicy, "rate limit exceeded"
	}
	return protocol.CloseProtocolError, err.Error() // park.ErrProtocol's: which rule the frame broke
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
