package main

// An adapter for Centrifugo's JSON client protocol (v5/v6), so that every
// scenario can run against Centrifugo unchanged (-target centrifugo -url
// ws://127.0.0.1:8000/connection/websocket). Kept apart from parley's
// client: it shares only the WebSocket client and the Target interface.
//
//	connect    {"id":1,"connect":{"name":"bench"}}             -> {"id":1,"connect":{...}}
//	subscribe  {"id":2,"subscribe":{"channel":"r7"}}            -> {"id":2,"subscribe":{...}}
//	publish    {"id":N,"publish":{"channel":"r7","data":{...}}} -> {"id":N,"publish":{}}
//	push       {"push":{"channel":"r7","pub":{"data":{"text":"..."}}}}
//	error      {"id":N,"error":{"code":103,"message":"permission denied"}}
//	ping       {}  (from the server; answer {} or be disconnected)
//
// One server frame may carry several replies and pushes separated by "\n".

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"
)

type centrifugoTarget struct {
	url string
}

func (t *centrifugoTarget) Name() string { return "centrifugo" }

func (t *centrifugoTarget) Dial(ctx context.Context, i int, h Handler) (Client, error) {
	ws, err := wsDial(ctx, dialer(t.url, i), t.url, nil)
	if err != nil {
		return nil, err
	}
	c := &centrifugoClient{ws: ws, h: h, done: make(chan struct{})}
	c.onLine = c.line
	go c.loop() // ends when the connection does
	if err := c.request(ctx, 1, []byte(`{"id":1,"connect":{"name":"bench"}}`), "connect"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

type centrifugoClient struct {
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

var centrifugoPong = [][]byte{[]byte("{}")}

func (c *centrifugoClient) loop() {
	err := readLoop(c.ws, c.frame)
	if c.closing.Load() {
		err = nil
	}
	c.err = err
	close(c.done)
}

func (c *centrifugoClient) frame(f []byte, now int64) {
	c.now = now
	lines(f, c.onLine)
	c.h.FrameDone(now)
}

func (c *centrifugoClient) line(l []byte) {
	if len(l) == 2 && l[0] == '{' && l[1] == '}' {
		_ = c.ws.WriteTexts(centrifugoPong, time.Now().Add(10*time.Second))
		return
	}
	if len(l) > 8 && string(l[:8]) == `{"push":` {
		if text, ok := stringField(l, `"text":"`); ok {
			c.h.Message(text, c.now)
		} else if _, ok := stringField(l, `"disconnect":{`); ok {
			c.h.Error(0, "centrifugo_disconnect")
		}
		return
	}
	id, ok := uintField(l, `"id":`)
	if !ok || id > 1<<32-1 {
		return
	}
	ref := uint32(id)
	var err error
	if code, isErr := uintField(l, `"error":{"code":`); isErr {
		msg, _ := stringField(l, `"message":"`)
		err = fmt.Errorf("centrifugo error %d: %s", code, msg)
		if ref&refData != 0 {
			c.h.Error(ref, "centrifugo_"+strconv.FormatUint(code, 10))
			return
		}
	}
	if ref&refData != 0 {
		c.h.Ack(ref, c.now)
		return
	}
	if !c.waiter.resolve(ref, err) && err != nil {
		c.h.Error(0, "centrifugo_error")
	}
}

func (c *centrifugoClient) request(ctx context.Context, ref uint32, frame []byte, what string) error {
	ch := c.waiter.expect(ref)
	if err := c.ws.WriteTexts([][]byte{frame}, time.Now().Add(10*time.Second)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return c.waiter.wait(ctx, ch, c.done, c.Err, what)
}

// Join subscribes to the channel room; Centrifugo has no user names here.
func (c *centrifugoClient) Join(ctx context.Context, _ string, room string) error {
	f := append([]byte(`{"id":2,"subscribe":{"channel":`), appendJSONString(nil, room)...)
	return c.request(ctx, 2, append(f, `}}`...), "subscribe "+room)
}

func (c *centrifugoClient) Send(room string, contents [][]byte, refs []uint32) error {
	if len(contents) != len(refs) {
		return errors.New("send: contents and refs differ in length")
	}
	b := c.sendBuf[:0]
	ends := make([]int, 0, 64)
	for i, content := range contents {
		b = append(b, `{"id":`...)
		b = strconv.AppendUint(b, uint64(refs[i]), 10)
		b = append(b, `,"publish":{"channel":`...)
		b = appendJSONString(b, room)
		b = append(b, `,"data":{"text":"`...)
		b = append(b, content...) // digits, ':' and 'x': nothing to escape
		b = append(b, `"}}}`...)
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

func (c *centrifugoClient) Close() {
	c.closing.Store(true)
	c.ws.Close()
}

func (c *centrifugoClient) Done() <-chan struct{} { return c.done }

func (c *centrifugoClient) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}
