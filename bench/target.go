package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"
)

// Target is a server the bench can load: parley itself (parley.go) or a peer
// such as Centrifugo (centrifugo.go). Every scenario speaks to it only
// through this interface and Client, so each runs unchanged against both.
type Target interface {
	Name() string
	// Dial opens connection number i (its source address and user name
	// derive from i) and starts its receive loop, which reports to h until
	// the connection ends.
	Dial(ctx context.Context, i int, h Handler) (Client, error)
}

// Client is one connection.
type Client interface {
	// Join makes the connection a member of room under name (if the target
	// has names; "" keeps the server's) and returns once the server has
	// confirmed it.
	Join(ctx context.Context, name, room string) error
	// Send writes one message per content to room, in one write system
	// call, without waiting for any reply; refs[i] comes back in the Ack
	// (or Error) of contents[i].
	Send(room string, contents [][]byte, refs []uint32) error
	// Close closes the connection; the receive loop then ends.
	Close()
	// Done is closed when the receive loop has ended; Err then says why
	// (nil after Close).
	Done() <-chan struct{}
	Err() error
}

// Handler receives what a connection's receive loop finds. Its methods are
// called from that one goroutine, never concurrently for one connection.
type Handler interface {
	// Message is a room message delivered, with its content (valid only
	// during the call) and the time its frame was read.
	Message(content []byte, now int64)
	// Ack acknowledges the data send ref (see dataRef).
	Ack(ref uint32, now int64)
	// Error is an error reply; ref is 0 when the error answers no data send.
	Error(ref uint32, code string)
	// FrameDone ends the frame that the calls since the last FrameDone came
	// from; frames is 1.
	FrameDone(now int64)
}

// nopHandler ignores everything (idle connections).
type nopHandler struct{}

func (nopHandler) Message([]byte, int64) {}
func (nopHandler) Ack(uint32, int64)     {}
func (nopHandler) Error(uint32, string)  {}
func (nopHandler) FrameDone(int64)       {}

// dialer returns the dialer of connection i. When the target is on the
// loopback, source addresses are spread over 127.0.0.1-250 so that the
// ephemeral ports of one source address never bound the connection count.
func dialer(target string, i int) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
	u, err := url.Parse(target)
	if err != nil {
		return d
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.To4() != nil && ip.To4()[0] == 127 {
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%250))}
	}
	return d
}

// setupWaiter lets the setup steps of a connection (connect, join) wait for
// their reply, which the receive loop finds.
type setupWaiter struct {
	mu   sync.Mutex
	ref  uint32
	done chan error
}

// expect registers the reply to wait for; call before sending the request.
func (w *setupWaiter) expect(ref uint32) chan error {
	ch := make(chan error, 1)
	w.mu.Lock()
	w.ref, w.done = ref, ch
	w.mu.Unlock()
	return ch
}

// resolve delivers the reply to ref, if it is the one awaited.
func (w *setupWaiter) resolve(ref uint32, err error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done == nil || w.ref != ref {
		return false
	}
	w.done <- err
	w.done = nil
	return true
}

// wait waits for the reply on ch, the connection's end, or ctx.
func (w *setupWaiter) wait(ctx context.Context, ch chan error, done <-chan struct{}, connErr func() error, what string) error {
	select {
	case err := <-ch:
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-done:
		err := connErr()
		if err == nil {
			err = errors.New("connection closed")
		}
		return fmt.Errorf("%s: %w", what, err)
	case <-ctx.Done():
		return fmt.Errorf("%s: no reply: %w", what, ctx.Err())
	}
}

// recvBuffers recycles frame buffers between connections: a frame is read
// whole, scanned, and its buffer returned, so an idle connection holds none.
var recvBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// readLoop runs a connection's receive loop: it reads messages until the
// connection ends and hands each to onFrame with the time it was read.
// It closes the TCP connection when it returns.
func readLoop(ws *wsConn, onFrame func(frame []byte, now int64)) error {
	defer ws.nc.Close()
	for {
		// Wait for the next frame before taking a buffer, so that a
		// connection blocked here holds none.
		if _, err := ws.br.Peek(1); err != nil {
			return err
		}
		bp := recvBuffers.Get().(*[]byte)
		_, msg, err := ws.ReadMessage(*bp)
		if err != nil {
			recvBuffers.Put(bp)
			return err
		}
		onFrame(msg, nowNano())
		if cap(msg) <= 256<<10 {
			*bp = msg[:0]
		}
		recvBuffers.Put(bp)
	}
}
