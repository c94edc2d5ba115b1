package abuse

// What the listener-edge tests share (hosts, ipkey, preupgrade,
// accepterrors): clients bound to a chosen loopback source address, so that
// one test has several "IPs" (Linux routes all of 127.0.0.0/8 to lo), a
// chat round trip, and /metrics read by name and labels. Prefixed "edge"
// to keep clear of the other tests' helpers in this package.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"parley/internal/testkit"
)

// edgeDialer dials TCP from src (an IP on this machine, "" any).
func edgeDialer(src string) *net.Dialer {
	d := &net.Dialer{Timeout: testkit.WaitLimit}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d
}

// edgeWS opens a WebSocket to addr from src with opts (nil: none); it
// returns the HTTP status of a refusal along with the error.
func edgeWS(ctx context.Context, addr, src string, opts *websocket.DialOptions) (*websocket.Conn, int, error) {
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	opts.HTTPClient = &http.Client{Transport: &http.Transport{DialContext: edgeDialer(src).DialContext}}
	c, resp, err := websocket.Dial(ctx, "ws://"+addr+"/ws", opts)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err != nil {
		return nil, status, err
	}
	c.SetReadLimit(1 << 20)
	return c, status, nil
}

// edgeChat checks that c chats: its Welcome, then a join and a message,
// each acknowledged. It fails the test on the first thing that is not so.
func edgeChat(t *testing.T, c *websocket.Conn, room string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	next := func() map[string]any {
		t.Helper()
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("chat: read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("chat: %q: %v", b, err)
		}
		return m
	}
	if m := next(); m["type"] != "Welcome" {
		t.Fatalf("chat: got %v first, want Welcome", m)
	}
	for i, req := range []string{
		fmt.Sprintf(`{"type":"JoinRoom","room":%q,"ref":"j"}`, room),
		`{"type":"SendMessage","content":"still here","ref":"m"}`,
	} {
		if err := c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
			t.Fatalf("chat: write: %v", err)
		}
		ref := []string{"j", "m"}[i]
		for {
			m := next()
			if m["ref"] == ref {
				if m["type"] != "Ack" {
					t.Fatalf("chat: %s: got %v, want Ack", req, m)
				}
				break
			}
		}
	}
}

// edgeHTTP sends one plain request with Host host to addr and returns the
// status and body.
func edgeHTTP(t *testing.T, addr, path, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	client := &http.Client{Timeout: testkit.WaitLimit}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s Host %s: %v", path, host, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}
