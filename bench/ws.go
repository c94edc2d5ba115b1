package main

// A minimal RFC 6455 client, written for the load generator: one buffered
// reader per connection, no goroutine besides the caller's read loop, frames
// read into a caller's buffer without allocating, and several client frames
// coalesced into one write system call. It speaks only what the bench needs:
// text frames out (masked), text/binary frames in (fragmented or not), ping
// (answered with pong), pong (ignored) and close (echoed).

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"parley/internal/wsframe"
)

const (
	opContinuation = wsframe.OpContinuation
	opText         = wsframe.OpText
	opClose        = wsframe.OpClose
	opPing         = wsframe.OpPing
	opPong         = wsframe.OpPong
)

// wsGUID is the key suffix of RFC 6455 section 1.3.
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsReadLimit bounds one incoming message. The server's batched frames are
// at most 64 KiB, but a Members list of a big room or a History page may be
// larger; what matters is that it is bounded.
const wsReadLimit = 4 << 20

// wsConn is one client WebSocket connection. ReadMessage must be called from
// one goroutine at a time; WriteTexts and Close may be called from any.
type wsConn struct {
	nc    net.Conn
	br    *bufio.Reader
	proto string // the negotiated subprotocol, "" if none

	wmu    sync.Mutex // guards wbuf, seed, closed and writes to nc
	wbuf   []byte
	seed   uint32 // masking keys
	closed bool
}

// HandshakeError is a refused upgrade: the server answered with an HTTP
// status other than 101.
type HandshakeError struct {
	Status int
	Body   string
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("websocket handshake refused: HTTP %d %s", e.Status, strings.TrimSpace(e.Body))
}

// CloseError is a close frame received from the server.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("closed by server: %d %s", e.Code, e.Reason)
}

// wsDial opens a WebSocket connection to rawURL (ws:// only) through d,
// offering protos. The context bounds the TCP connect and the handshake.
func wsDial(ctx context.Context, d *net.Dialer, rawURL string, protos []string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("url %q: only ws:// is supported", rawURL)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c, err := wsHandshake(nc, u, protos)
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func wsHandshake(nc net.Conn, u *url.URL, protos []string) (*wsConn, error) {
	var keyBytes [16]byte
	_, _ = rand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])
	path := u.RequestURI()
	var b strings.Builder
	b.WriteString("GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\n")
	b.WriteString("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n")
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	if len(protos) > 0 {
		b.WriteString("Sec-WebSocket-Protocol: " + strings.Join(protos, ", ") + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(nc, b.String()); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		resp.Body.Close()
		return nil, &HandshakeError{Status: resp.StatusCode, Body: string(body)}
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket") {
		return nil, errors.New("websocket handshake: no Upgrade: websocket in the response")
	}
	h := sha1.Sum([]byte(key + wsGUID))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		return nil, errors.New("websocket handshake: bad Sec-WebSocket-Accept")
	}
	return &wsConn{nc: nc, br: br, proto: resp.Header.Get("Sec-WebSocket-Protocol"),
		seed: binary.LittleEndian.Uint32(keyBytes[:4]) | 1}, nil
}

// maskKey returns a fresh masking key. The server does not care which; a
// cheap pseudo-random one is enough.
func maskKey(seed *uint32) [4]byte {
	// xorshift32
	x := *seed
	if x == 0 {
		x = 0x9e3779b9
	}
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	*seed = x
	var k [4]byte
	binary.LittleEndian.PutUint32(k[:], x)
	return k
}

// WriteTexts writes every payload as its own text frame, all in one write
// system call. deadline bounds the write (zero: none).
func (c *wsConn) WriteTexts(payloads [][]byte, deadline time.Time) error {
	return c.writeFrames(opText, payloads, deadline)
}

func (c *wsConn) writeFrames(op byte, payloads [][]byte, deadline time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	b := c.wbuf[:0]
	for _, p := range payloads {
		b = wsframe.AppendClient(b, true, op, p, maskKey(&c.seed))
	}
	if !deadline.IsZero() {
		_ = c.nc.SetWriteDeadline(deadline)
	}
	_, err := c.nc.Write(b)
	if cap(b) <= 64<<10 {
		c.wbuf = b[:0]
	} else {
		c.wbuf = nil
	}
	return err
}

// ReadMessage reads the next data message into buf (reusing its storage)
// and returns it. Pings are answered and pongs skipped on the way. A close
// frame from the server is echoed and returned as a *CloseError.
func (c *wsConn) ReadMessage(buf []byte) (op byte, msg []byte, err error) {
	msg = buf[:0]
	op = 0
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
			return 0, msg, err
		}
		fin := hdr[0]&0x80 != 0
		fop := hdr[0] & 0x0F
		if hdr[1]&0x80 != 0 {
			return 0, msg, errors.New("websocket: masked frame from the server")
		}
		n := uint64(hdr[1] & 0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
				return 0, msg, err
			}
			n = uint64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(c.br, hdr[:8]); err != nil {
				return 0, msg, err
			}
			n = binary.BigEndian.Uint64(hdr[:8])
		}
		if fop >= opClose { // control frame
			if n > 125 || !fin {
				return 0, msg, errors.New("websocket: bad control frame")
			}
			var cb [125]byte
			p := cb[:n]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, msg, err
			}
			switch fop {
			case opPing:
				if err := c.writeFrames(opPong, [][]byte{p}, time.Now().Add(10*time.Second)); err != nil {
					return 0, msg, err
				}
			case opClose:
				ce := &CloseError{Code: 1005}
				if len(p) >= 2 {
					ce.Code = int(binary.BigEndian.Uint16(p[:2]))
					ce.Reason = string(p[2:])
				}
				var echo []byte
				if len(p) >= 2 {
					echo = p[:2]
				}
				_ = c.writeFrames(opClose, [][]byte{echo}, time.Now().Add(time.Second))
				c.markClosed()
				return 0, msg, ce
			}
			continue
		}
		switch {
		case fop == opContinuation && op == 0:
			return 0, msg, errors.New("websocket: continuation without a start")
		case fop != opContinuation && op != 0:
			return 0, msg, errors.New("websocket: new message inside a fragmented one")
		case fop != opContinuation:
			op = fop
		}
		if uint64(len(msg))+n > wsReadLimit {
			return 0, msg, fmt.Errorf("websocket: message larger than %d bytes", wsReadLimit)
		}
		start := len(msg)
		end := start + int(n)
		if cap(msg) < end {
			grown := make([]byte, start, max(end, 2*cap(msg)))
			copy(grown, msg)
			msg = grown
		}
		msg = msg[:end]
		if _, err := io.ReadFull(c.br, msg[start:end]); err != nil {
			return 0, msg, err
		}
		if fin {
			return op, msg, nil
		}
	}
}

func (c *wsConn) markClosed() {
	c.wmu.Lock()
	c.closed = true
	c.wmu.Unlock()
}

// Close starts the closing handshake: it sends a normal close frame and
// lets the reader see the server's answer, after which the connection is
// closed (readLoop does it); if the answer has not come within 2 s, the
// TCP connection is closed anyway, which ends a blocked ReadMessage.
func (c *wsConn) Close() error {
	c.wmu.Lock()
	if !c.closed {
		c.closed = true
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(wsframe.AppendClient(nil, true, opClose, []byte{0x03, 0xE8}, maskKey(&c.seed)))
	}
	c.wmu.Unlock()
	time.AfterFunc(2*time.Second, func() { c.nc.Close() })
	return nil
}
