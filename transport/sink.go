package transport

import (
	"github.com/coder/websocket"

	"parley/internal/protocol"
	"parley/transport/outbound"
)

// conn's write side: it is the outbound.Sink its queue's writer writes
// through, over coder/websocket and the corked connection underneath.
var _ outbound.Sink = (*conn)(nil)

// Write is the queue writer's burst (outbound.Sink): every frame queued since
// its last wake-up, in one write (corkWriter.writeText): one WebSocket
// message each, or, with the batch subprotocol, as few messages as fit
// MaxBatchBytes, joined by "\n".
func (c *conn) Write(frames [][]byte) error {
	joinLimit := 0
	if c.batch {
		joinLimit = c.srv.opts.MaxBatchBytes
	}
	return c.cork.writeText(frames, joinLimit)
}

// Close is the last writer's call once the queue has closed (outbound.Sink):
// a request still waiting gives up (nothing it sends would be written), last
// is written, and the close handshake ends the connection.
func (c *conn) Close(code protocol.CloseCode, reason string, last [][]byte) {
	c.srv.closedWith(code) // counted by code in /metrics (refusals.go)
	c.end()
	_ = c.Write(last)
	if c.libClosed.Load() {
		c.ws.CloseNow() // the library already sent its close frame (1009)
	} else {
		// The handshake reads the peer's close frame itself, and must wait
		// for it rather than find the socket empty.
		c.netConn.Closing()
		_ = c.ws.Close(websocket.StatusCode(code), reason)
	}
	close(c.closed)
}

// Drop closes the socket at once: a write failed (outbound.Sink).
func (c *conn) Drop() { c.ws.CloseNow() }
