package main

// The bench's client for parley's own wire protocol (docs/protocol.md): one
// JSON object per client frame; server frames carry one JSON object each, or
// several separated by "\n" under the batch subprotocol.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

// parleyBatchProtocol is transport.BatchSubprotocol. It is repeated rather
// than imported so that the bench stays a client of the wire contract only.
const parleyBatchProtocol = "parley.batch.v1"

type parleyTarget struct {
	url   string
	batch bool // ask for the batch subprotocol
}

func (t *parleyTarget) Name() string { return "parley" }

func (t *parleyTarget) Dial(ctx context.Context, i int, h Handler) (Client, error) {
	var protos []string
	if t.batch {
		protos = []string{parleyBatchProtocol}
	}
	ws, err := wsDial(ctx, dialer(t.url, i), t.url, protos)
	if err != nil {
		return nil, err
	}
	if t.batch && ws.proto != parleyBatchProtocol {
		ws.Close()
		return nil, fmt.Errorf("the server did not accept the %s subprotocol (run with -batch=false?)", parleyBatchProtocol)
	}
	c := &parleyClient{ws: ws, h: h, done: make(chan struct{})}
	c.onLine = c.line
	go c.loop() // ends when the connection does
	return c, nil
}

type parleyClient struct {
	ws      *wsConn
	h       Handler
	waiter  setupWaiter
	done    chan struct{}
	err     error // set before done is closed
	closing atomic.Bool

	// Receive loop only.
	onLine func([]byte)
	now    int64

	// Send only (one sender goroutine per connection).
	sendBuf  []byte
	payloads [][]byte
}

func (c *parleyClient) loop() {
	err := readLoop(c.ws, c.frame)
	if c.closing.Load() {
		err = nil
	}
	c.err = err
	close(c.done)
}

func (c *parleyClient) frame(f []byte, now int64) {
	c.now = now
	lines(f, c.onLine)
	c.h.FrameDone(now)
}

func (c *parleyClient) line(l []byte) {
	typ, _ := stringField(l, `"type":"`)
	switch string(typ) {
	case "Message":
		if content, ok := stringField(l, `"content":"`); ok {
			c.h.Message(content, c.now)
		}
	case "Ack":
		s, _ := stringField(l, `"ref":"`)
		ref, err := strconv.ParseUint(string(s), 10, 32)
		if err != nil {
			return
		}
		if ref&refData != 0 {
			c.h.Ack(uint32(ref), c.now)
		} else {
			c.waiter.resolve(uint32(ref), nil)
		}
	case "Error":
		var e struct{ Ref, Code, Message string }
		if json.Unmarshal(l, &e) != nil {
			c.h.Error(0, "undecodable_error")
			return
		}
		ref, _ := strconv.ParseUint(e.Ref, 10, 32)
		switch {
		case ref&refData != 0:
			c.h.Error(uint32(ref), e.Code)
		case e.Ref != "" && c.waiter.resolve(uint32(ref), fmt.Errorf("%s: %s", e.Code, e.Message)):
		default:
			c.h.Error(0, e.Code)
		}
	}
}

func (c *parleyClient) request(ctx context.Context, ref uint32, frame []byte, what string) error {
	ch := c.waiter.expect(ref)
	if err := c.ws.WriteTexts([][]byte{frame}, time.Now().Add(10*time.Second)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return c.waiter.wait(ctx, ch, c.done, c.Err, what)
}

func (c *parleyClient) Join(ctx context.Context, name, room string) error {
	if name != "" {
		f := append([]byte(`{"type":"SetUsername","ref":"1","username":`), appendJSONString(nil, name)...)
		if err := c.request(ctx, 1, append(f, '}'), "SetUsername "+name); err != nil {
			return err
		}
	}
	f := append([]byte(`{"type":"JoinRoom","ref":"2","room":`), appendJSONString(nil, room)...)
	return c.request(ctx, 2, append(f, '}'), "JoinRoom "+room)
}

func (c *parleyClient) Send(room string, contents [][]byte, refs []uint32) error {
	if len(contents) != len(refs) {
		return errors.New("send: contents and refs differ in length")
	}
	b := c.sendBuf[:0]
	ends := make([]int, 0, 64)
	for i, content := range contents {
		b = append(b, `{"type":"SendMessage","ref":"`...)
		b = strconv.AppendUint(b, uint64(refs[i]), 10)
		b = append(b, `","room":`...)
		b = appendJSONString(b, room)
		b = append(b, `,"content":"`...)
		b = append(b, content...) // digits, ':' and 'x': nothing to escape
		b = append(b, `"}`...)
		ends = append(ends, len(b))
	}
	c.sendBuf = b
	p := c.payloads[:0]
	start := 0
	for _, end := range ends {
		p = append(p, b[start:end])
		start = end
	}
	c.payloads = p
	return c.ws.WriteTexts(p, time.Now().Add(10*time.Second))
}

func (c *parleyClient) Close() {
	c.closing.Store(true)
	c.ws.Close()
}

func (c *parleyClient) Done() <-chan struct{} { return c.done }

func (c *parleyClient) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}
