package transport_test

// End-to-end tests of what a misbehaving client can do: flood, hold too
// many connections, stop answering pings. The slow reader is in
// slowreader_unix_test.go (it needs setsockopt).

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/wsframe"
	"parley/transport"
)

// TestFloodRateLimited: a client sending far above its rate gets
// rate_limited and, as it keeps going, is closed with 1008. A member of the
// same room receives exactly the messages that were accepted (stored),
// which are within the burst plus the rate, and keeps working.
func TestFloodRateLimited(t *testing.T) {
	const rate, burst = 20, 40 // the defaults
	s := startServer(t, serverConfig{hub: actors.Config{Limits: actors.Limits{RatePerSec: rate, RateBurst: burst, AbuseBudget: 100}}})
	abuser, member := s.dial(), s.dial()
	member.setName("calm")
	member.join("general")
	abuser.setName("flood") // two of its burst go on these
	abuser.join("general")
	member.waitJoined("flood", "general")

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	start := time.Now()
	sent := make(chan int, 1)
	// Floods until the server closes the connection (or 2000 frames).
	go func() {
		n := 0
		for ; n < 2000; n++ {
			c := fmt.Sprint("f-", n)
			if abuser.write(ctx, map[string]any{"type": "SendMessage", "content": c, "ref": c}) != nil {
				break
			}
		}
		sent <- n
	}()
	acked := map[string]bool{}
	limited := 0
	var code websocket.StatusCode
	for {
		m, err := abuser.read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("flood: not closed within %v", waitLimit)
			}
			code = websocket.CloseStatus(err)
			break
		}
		switch {
		case m.str("type") == "Ack":
			acked[m.str("ref")] = true
		case m.str("code") == "rate_limited":
			limited++
		case m.str("type") == "Error":
			t.Errorf("flood: got %v", m)
		}
	}
	elapsed := time.Since(start)
	n := <-sent
	if code != websocket.StatusPolicyViolation {
		t.Errorf("flood: got close %v, want %v", code, websocket.StatusPolicyViolation)
	}
	if limited == 0 {
		t.Errorf("flood: got no rate_limited error")
	}

	// The member sees the flood's accepted messages, then its UserLeft.
	var got []string
	member.until(func(m msg) bool {
		if m.str("type") == "Message" {
			got = append(got, m.str("content"))
		}
		return m.str("type") == "UserLeft" && m.str("username") == "flood"
	})
	var stored []string
	for _, m := range storedHistory(t, s.store, "general") {
		stored = append(stored, m.Content)
	}
	if !equalStrings(got, stored) {
		t.Errorf("member: got %d messages %q, want exactly the %d stored %q", len(got), got, len(stored), stored)
	}
	inStore := map[string]bool{}
	for _, c := range stored {
		inStore[c] = true
	}
	for ref := range acked {
		if !inStore[ref] {
			t.Errorf("flood: %s was acked but is not stored", ref)
		}
	}
	if max := burst + int(rate*elapsed.Seconds()) + 1; len(stored) > max {
		t.Errorf("flood: %d messages accepted in %v, want at most %d (burst %d + %d/s)", len(stored), elapsed, max, burst, rate)
	}
	t.Logf("flood: %d sent in %v, %d accepted, %d acked, %d rate_limited errors seen", n, elapsed.Round(time.Millisecond), len(stored), len(acked), limited)

	// The member is unaffected.
	for i := range 3 {
		ref := fmt.Sprint("calm-", i)
		member.send(map[string]any{"type": "SendMessage", "content": ref, "ref": ref})
		member.reply(ref, "Ack")
	}
}

// dialFrom returns DialOptions whose connection comes from the local IP
// address ip (any 127.x.y.z is local on Linux).
func dialFrom(t *testing.T, ip string) *websocket.DialOptions {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}
}

// TestConnectionCaps: past MaxConnsPerIP, and past MaxConns, an upgrade
// gets 503 with Retry-After; when a connection closes, its slot is free.
func TestConnectionCaps(t *testing.T) {
	s := startServer(t, serverConfig{transport: transport.Options{MaxConns: 3, MaxConnsPerIP: 2}})
	url := s.url + "/ws"
	mustDial := func(ip string) *wsClient {
		t.Helper()
		w, resp, err := tryDial(t, url, dialFrom(t, ip))
		if err != nil {
			t.Fatalf("dial from %s: got %v (status %d), want it admitted", ip, err, statusOf(resp))
		}
		return w
	}
	refused := func(ip, why string) {
		t.Helper()
		_, resp, err := tryDial(t, url, dialFrom(t, ip))
		if err == nil || statusOf(resp) != http.StatusServiceUnavailable {
			t.Fatalf("dial from %s (%s): got %v (status %d), want 503", ip, why, err, statusOf(resp))
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("503 without Retry-After")
		}
	}
	a1 := mustDial("127.0.0.1")
	mustDial("127.0.0.1")
	refused("127.0.0.1", "per-IP cap of 2")
	refused("127.0.0.1", "per-IP cap of 2, again")
	mustDial("127.0.0.2") // the third connection
	refused("127.0.0.3", "global cap of 3")

	if err := a1.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("close: %v", err)
	}
	// The server frees the slot when the connection's handler returns, just
	// after the close handshake; it exposes no signal for that, so retry
	// (bounded) until the slot is free.
	deadline := time.Now().Add(waitLimit)
	for {
		_, resp, err := tryDial(t, url, dialFrom(t, "127.0.0.1"))
		if err == nil {
			break
		}
		if statusOf(resp) != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("dial after a close: got %v (status %d), want it admitted within %v", err, statusOf(resp), waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The refusals leaked no slots: both caps are exactly full again.
	refused("127.0.0.1", "per-IP cap after the new one")
	refused("127.0.0.4", "global cap after the new one")
}

// rawPeer is a WebSocket client written by hand over TCP, for a peer that
// does exactly nothing it is not told to (no pongs, no reads).
type rawPeer struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, host string) *rawPeer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", host, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(waitLimit))
	var key [16]byte
	rand.Read(key[:])
	req := "GET /ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	p := &rawPeer{conn: conn, br: bufio.NewReader(conn)}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		t.Fatalf("raw handshake: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("raw handshake: got %d, want 101", resp.StatusCode)
	}
	return p
}

// readText reads one unmasked server text frame (no fragmentation).
func (p *rawPeer) readText(t *testing.T) []byte {
	t.Helper()
	h, payload, err := wsframe.ReadServer(p.br, 1<<22)
	if err != nil {
		t.Fatalf("raw: read frame: %v", err)
	}
	if !h.Fin || h.Opcode != wsframe.OpText {
		t.Fatalf("raw: got frame header %+v, want a final text frame", h)
	}
	return payload
}

// writeText writes one masked client text frame.
func (p *rawPeer) writeText(t *testing.T, payload []byte) {
	t.Helper()
	if _, err := p.conn.Write(wsframe.Text(payload)); err != nil {
		t.Fatalf("raw: write: %v", err)
	}
}

// watch reads w on its own goroutine, so that it answers pings all along,
// and hands its messages over a channel. The goroutine exits when the
// connection ends (closed by the test's cleanup).
func watch(w *wsClient) <-chan msg {
	ch := make(chan msg, 1024)
	go func() {
		defer close(ch)
		for {
			m, err := w.read(context.Background())
			if err != nil {
				return
			}
			ch <- m
		}
	}()
	return ch
}

// waitOn waits for a message of ch satisfying ok, at most d.
func waitOn(t *testing.T, ch <-chan msg, d time.Duration, what string, ok func(msg) bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case m, open := <-ch:
			if !open {
				t.Fatalf("waiting for %s: the watcher's connection closed", what)
			}
			if ok(m) {
				return
			}
		case <-timer.C:
			t.Fatalf("waiting for %s: nothing within %v", what, d)
		}
	}
}

// TestDeadPeerDropped: a peer that stops answering pings (a hand-written
// client that completes the handshake, joins and never reads again; a
// coder/websocket client that stops reading) is dropped after the ping
// timeout: the others see UserLeft and its name is free again.
func TestDeadPeerDropped(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	// Pings go out within one interval; allow scheduling slack on top.
	const within = interval + timeout + 2*time.Second
	for _, tc := range []struct {
		name string
		// join takes a name (a chosen one: a given guest-… name is never
		// taken again), joins general, then goes silent; it returns the name.
		join func(t *testing.T, s *server) string
	}{
		{"raw TCP peer", func(t *testing.T, s *server) string {
			p := dialRaw(t, s.host())
			var welcome struct{ Username string }
			if err := json.Unmarshal(p.readText(t), &welcome); err != nil || welcome.Username == "" {
				t.Fatalf("raw: Welcome: %v", err)
			}
			p.writeText(t, []byte(`{"type":"SetUsername","username":"ghost"}`)) // handled before the join
			p.writeText(t, []byte(`{"type":"JoinRoom","room":"general"}`))
			return "ghost"
		}},
		{"coder client not reading", func(t *testing.T, s *server) string {
			w := s.dial()
			w.setName("ghost")
			w.join("general")
			return w.name
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, serverConfig{transport: transport.Options{PingInterval: interval, PingTimeout: timeout}})
			watcher := s.dial()
			watcher.setName("watcher")
			watcher.join("general")
			ch := watch(watcher)
			name := tc.join(t, s)
			waitOn(t, ch, waitLimit, "UserJoined "+name, func(m msg) bool {
				return m.str("type") == "UserJoined" && m.str("username") == name
			})
			silent := time.Now()
			waitOn(t, ch, waitLimit, "UserLeft "+name, func(m msg) bool {
				return m.str("type") == "UserLeft" && m.str("username") == name
			})
			if d := time.Since(silent); d > within {
				t.Errorf("UserLeft %v after the peer went silent, want within %v (ping interval %v + timeout %v + slack)",
					d.Round(time.Millisecond), within, interval, timeout)
			} else {
				t.Logf("dropped %v after going silent", d.Round(time.Millisecond))
			}
			// The watcher, which answers pings, is still connected, and the
			// dead peer's name is free.
			w := s.dial()
			w.takeName(name)
		})
	}
}
