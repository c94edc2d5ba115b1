package transport_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/wsframe"
	"parley/transport"
)

// metric reads one of the server's Prometheus gauges from its admin handler.
func metric(t *testing.T, s *server, name string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.tsrv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// waitMetric waits until the gauge is at most max, at most waitLimit.
func waitMetric(t *testing.T, s *server, name string, max float64) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		got := metric(t, s, name)
		if got <= max {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %v after %v, want at most %v", name, got, waitLimit, max)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdleConnectionsParkWithoutGoroutines: connections that have nothing to
// say are parked in the poller and hold no goroutine, yet still receive, and
// wake up when they speak.
func TestIdleConnectionsParkWithoutGoroutines(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux-only; elsewhere each connection keeps a reader")
	}
	s := startServer(t, serverConfig{})
	const n = 50
	clients := make([]*wsClient, n)
	for i := range clients {
		clients[i] = s.dial()
		clients[i].setName(fmt.Sprintf("idle%d", i))
		clients[i].join("lobby")
	}
	base := runtime.NumGoroutine()
	waitMetric(t, s, "parley_connection_readers", 0)
	// The writers that sent the replies linger for half a second, then go.
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > base-n/2 {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: got %d with %d idle connections, want at most %d (no goroutine per idle connection)",
				runtime.NumGoroutine(), n, base-n/2)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Every parked connection wakes to send, and all of them receive.
	for i, c := range clients {
		c.send(map[string]any{"type": "SendMessage", "room": "lobby", "content": fmt.Sprintf("m%d", i)})
	}
	for i, c := range clients {
		seen := map[string]bool{}
		c.until(func(m msg) bool {
			if m.str("type") == "Message" && m.str("room") == "lobby" {
				seen[m.str("content")] = true
			}
			return len(seen) == n
		})
		if len(seen) != n {
			t.Fatalf("client %d: got %d messages, want %d", i, len(seen), n)
		}
	}
	waitMetric(t, s, "parley_connection_readers", 0)
}

// frame builds one masked client frame.
var frame = wsframe.Client

// readFrame reads one server frame: its first header byte and its payload.
func readFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	h, p, err := wsframe.ReadServer(br, 1<<22)
	if err != nil {
		t.Fatalf("raw: read frame: %v", err)
	}
	b0 := h.Opcode
	if h.Fin {
		b0 |= 0x80
	}
	return b0, p
}

// rawReply reads frames until the text frame that answers ref.
func rawReply(t *testing.T, p *rawPeer, ref string) map[string]any {
	t.Helper()
	for {
		b0, payload := readFrame(t, p.br)
		if b0&0x0f == 8 {
			t.Fatalf("server closed the connection (%x) waiting for the reply to %q", payload, ref)
		}
		var m map[string]any
		if b0 == 0x81 && json.Unmarshal(payload, &m) == nil && m["ref"] == ref {
			return m
		}
	}
}

func write(t *testing.T, p *rawPeer, b []byte) {
	t.Helper()
	if _, err := p.conn.Write(b); err != nil {
		t.Fatalf("raw: write: %v", err)
	}
}

// TestParkedReaderWaitsInsideFrames: a reader may only give the connection
// up where a new message would begin. A header split by a pause, a message
// fragmented with a pause and a ping between its fragments must each be read
// whole, not cut off.
func TestParkedReaderWaitsInsideFrames(t *testing.T) {
	s := startServer(t, serverConfig{})
	p := dialRaw(t, s.host())
	pause := func() { time.Sleep(100 * time.Millisecond) }

	// A header in two pieces.
	f := frame(true, 1, []byte(`{"type":"ListRooms","ref":"split-header"}`))
	write(t, p, f[:1])
	pause()
	write(t, p, f[1:])
	if got := rawReply(t, p, "split-header"); got["type"] != "RoomList" {
		t.Fatalf("split header: got %v, want a RoomList", got)
	}

	// A payload in two pieces.
	f = frame(true, 1, []byte(`{"type":"ListRooms","ref":"split-payload"}`))
	write(t, p, f[:10])
	pause()
	write(t, p, f[10:])
	if got := rawReply(t, p, "split-payload"); got["type"] != "RoomList" {
		t.Fatalf("split payload: got %v, want a RoomList", got)
	}

	// A message in three fragments, with pauses and a ping in between.
	write(t, p, frame(false, 1, []byte(`{"type":"ListRooms",`)))
	pause()
	write(t, p, frame(true, 9, []byte("are you there")))
	b0, payload := readFrame(t, p.br)
	if b0 != 0x8a || string(payload) != "are you there" {
		t.Fatalf("ping between fragments: got frame %#x %q, want a pong with the ping's payload", b0, payload)
	}
	pause()
	write(t, p, frame(false, 0, []byte(`"ref":`)))
	pause()
	write(t, p, frame(true, 0, []byte(`"fragments"}`)))
	if got := rawReply(t, p, "fragments"); got["type"] != "RoomList" {
		t.Fatalf("fragments: got %v, want a RoomList", got)
	}
	if runtime.GOOS == "linux" {
		waitMetric(t, s, "parley_connection_readers", 0)
	}
}

// TestPingsReachParkedConnections: the heartbeat's pongs arrive at parked
// connections; they must be read (or each ping would time out and the next
// wait for it) and must not keep a reader running.
func TestPingsReachParkedConnections(t *testing.T) {
	s := startServer(t, serverConfig{transport: transport.Options{PingInterval: 80 * time.Millisecond, PingTimeout: time.Second}})
	p := dialRaw(t, s.host())
	pings := 0
	end := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(end) {
		p.conn.SetReadDeadline(end)
		var h [2]byte
		if _, err := io.ReadFull(p.br, h[:]); err != nil {
			break // the deadline
		}
		payload := make([]byte, h[1]&0x7f)
		if _, err := io.ReadFull(p.br, payload); err != nil {
			t.Fatalf("read ping payload: %v", err)
		}
		switch h[0] {
		case 0x89:
			pings++
			write(t, p, frame(true, 10, payload))
		case 0x88:
			t.Fatalf("server closed the connection (%x), want it kept: every ping was answered", payload)
		}
	}
	p.conn.SetDeadline(time.Now().Add(waitLimit))
	// An 80 ms interval gives about 18 pings in 1.5 s; had the pongs not
	// been read, each ping would wait out its second and there would be 2.
	if pings < 6 {
		t.Fatalf("got %d pings in 1.5 s, want at least 6: pongs to a parked connection are not seen", pings)
	}
	write(t, p, frame(true, 1, []byte(`{"type":"ListRooms","ref":"after"}`)))
	rawReply(t, p, "after")
	if runtime.GOOS == "linux" {
		waitMetric(t, s, "parley_connection_readers", 0)
	}
}

// TestParkedConnectionsEnd: a parked connection that the client closes, with
// a close frame or by dropping the socket, is torn down: there is no reader
// to see it, so the poller must wake one.
func TestParkedConnectionsEnd(t *testing.T) {
	s := startServer(t, serverConfig{})
	polite, rude := dialRaw(t, s.host()), dialRaw(t, s.host())
	for _, p := range []*rawPeer{polite, rude} {
		write(t, p, frame(true, 1, []byte(`{"type":"ListRooms","ref":"hello"}`)))
		rawReply(t, p, "hello")
	}
	if runtime.GOOS == "linux" {
		waitMetric(t, s, "parley_connection_readers", 0)
	}
	write(t, polite, frame(true, 8, []byte{0x03, 0xe8})) // 1000
	if b0, payload := readFrame(t, polite.br); b0 != 0x88 {
		t.Fatalf("got frame %#x %x, want the close frame answering ours", b0, payload)
	}
	rude.conn.Close()
	waitMetric(t, s, "parley_connections", 0)
}

// TestWithoutPoller: where there is no epoll, every connection keeps a
// reader goroutine waiting in its reads, with a buffer of its own, and
// chatting, frames split by pauses and closing all still work.
func TestWithoutPoller(t *testing.T) {
	s := startServer(t, serverConfig{noPoller: true})
	a, b := s.dial(), s.dial()
	a.setName("ann")
	b.setName("ben")
	a.join("lobby")
	b.join("lobby")
	a.send(map[string]any{"type": "SendMessage", "room": "lobby", "content": "hello"})
	b.waitFor("Message", func(m msg) bool { return m.str("content") == "hello" })

	p := dialRaw(t, s.host())
	f := frame(true, 1, []byte(`{"type":"ListRooms","ref":"split"}`))
	write(t, p, f[:1])
	time.Sleep(100 * time.Millisecond)
	write(t, p, f[1:])
	if got := rawReply(t, p, "split"); got["type"] != "RoomList" {
		t.Fatalf("split header: got %v, want a RoomList", got)
	}
	// Idle for longer than any writer lingers: the readers stay.
	time.Sleep(time.Second)
	if got := metric(t, s, "parley_connection_readers"); got != 3 {
		t.Fatalf("readers: got %v with 3 idle connections and no poller, want 3", got)
	}
	write(t, p, frame(true, 8, []byte{0x03, 0xe8}))
	if b0, payload := readFrame(t, p.br); b0 != 0x88 {
		t.Fatalf("got frame %#x %x, want the close frame answering ours", b0, payload)
	}
	waitMetric(t, s, "parley_connections", 2)
}
