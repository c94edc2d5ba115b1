package transport

import (
	"sync"
	"time"

	"github.com/coder/websocket"

	"parley/internal/protocol"
	"parley/transport/outbound"
)

// conn's write side: it is the outbound.Sink its queue's writer writes
// through, over coder/websocket and the corked connection underneath.
var _ outbound.Sink = (*conn)(nil)

// Write is the queue writer's burst (outbound.Sink): every frame queued since
// its last wake-up, in one corked write.
func (c *conn) Write(frames [][]byte) error {
	if !c.batch {
		_, err := c.write(frames, nil)
		return err
	}
	// The batch buffer is borrowed for the burst only, so that an idle
	// connection (which has no writer) holds none.
	buf := batchBufs.Get().(*[]byte)
	var err error
	*buf, err = c.write(frames, *buf)
	batchBufs.Put(buf)
	return err
}

// batchBufs lend the buffers batched frames are joined in.
var batchBufs = sync.Pool{New: func() any { return new([]byte) }}

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
	c.cork.cork()
	batch, err := c.writeFrames(frames, batch)
	if ferr := c.cork.flush(); err == nil {
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
