package abuse

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/internal/testkit"
	"parley/internal/wsframe"
)

// wireClient is a WebSocket client written byte by byte (internal/wsframe),
// for the attacks no library would send: unmasked frames, impossible
// lengths, fragments that never end. Every wait (the upgrade, a write, a
// reply, the close) is bounded by testkit.WaitLimit from its start.
type wireClient struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dialWire upgrades a raw TCP connection to the server at addr.
func dialWire(t *testing.T, addr string) *wireClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, testkit.WaitLimit)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(testkit.WaitLimit))
	key := make([]byte, 16)
	rand.Read(key)
	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatalf("write upgrade request: %v", err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read upgrade response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: got %s, want 101", resp.Status)
	}
	return &wireClient{t: t, nc: nc, br: br}
}

// write sends raw bytes: frames, or parts of them.
func (c *wireClient) write(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(testkit.WaitLimit))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// frame reads the server's next frame.
func (c *wireClient) frame() (wsframe.Header, []byte, error) {
	return wsframe.ReadServer(c.br, 1<<22)
}

// reply reads text frames until the one that answers ref, and returns its
// type; pongs and other frames before it are skipped.
func (c *wireClient) reply(ref string) string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testkit.WaitLimit))
	for {
		h, p, err := c.frame()
		if err != nil {
			c.t.Fatalf("waiting for the reply to %q: %v", ref, err)
		}
		if h.Opcode == wsframe.OpClose {
			code, reason := closeCode(p)
			c.t.Fatalf("waiting for the reply to %q: got close %d %q", ref, code, reason)
		}
		if h.Opcode != wsframe.OpText {
			continue
		}
		var m struct{ Type, Ref string }
		if json.Unmarshal(p, &m) == nil && m.Ref == ref {
			return m.Type
		}
	}
}

// closed reads until the server's close frame and returns its code and
// reason, then requires the server to close the socket. Anything else the
// server sends before it (replies, pongs) is skipped; count says how many
// pongs there were.
func (c *wireClient) closed() (code int, reason string, pongs int) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(testkit.WaitLimit))
	for {
		h, p, err := c.frame()
		if err != nil {
			c.t.Fatalf("waiting for a close frame: %v (no close frame)", err)
		}
		switch h.Opcode {
		case wsframe.OpPong:
			pongs++
		case wsframe.OpClose:
			code, reason = closeCode(p)
			c.nc.SetReadDeadline(time.Now().Add(testkit.WaitLimit))
			if _, err := io.Copy(io.Discard, c.br); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				c.t.Fatalf("after close %d: got %v, want the server to close the socket", code, err)
			}
			return code, reason, pongs
		}
	}
}

// closeCode parses a close frame's payload.
func closeCode(p []byte) (int, string) {
	if len(p) < 2 {
		return 0, ""
	}
	return int(binary.BigEndian.Uint16(p)), string(p[2:])
}

// text is one masked client text frame holding a request.
func text(req string) []byte { return wsframe.Text([]byte(req)) }
