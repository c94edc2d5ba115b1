package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/server"
	"parley/internal/testkit"
	"parley/internal/wsframe"
	"parley/transport"
)

// TestLeakConnectAbort opens and abandons connections in every way a client
// can (PARLEY_LEAK_CYCLES of them, default 10,000: 4-20 s under -race on 2
// shared cores) against an in-process server, 16 at a time, in four kinds:
//
//	a. TCP connect, then close before any byte of the handshake;
//	b. half of the HTTP upgrade request, then close;
//	c. a full WebSocket connect, then CloseNow (no close handshake);
//	d. connect, join a room, send half a frame (a header announcing 100
//	   bytes, then 10 of them), then close.
//
// Then, polling up to a deadline, it waits until the server has no session
// and no connection, the goroutine count is within a few of the baseline
// taken after a warm-up, and the heap in use (after GC) is within 1.5x of
// that baseline. Finally a new client sees every room empty: every aborted
// member left its rooms.
func TestLeakConnectAbort(t *testing.T) {
	cycles := envCount(t, "PARLEY_LEAK_CYCLES", 10000, 4)
	s := startInProcess(t, server.Config{})
	rooms := []string{"general", "random", "tech"}

	var counts [4]atomic.Int64
	abort := func(i int) error {
		kind := i % 4
		counts[kind].Add(1)
		switch kind {
		case 0:
			return abortTCP(s.host)
		case 1:
			return abortHandshake(s.host)
		case 2:
			return abortWebSocket(s.url)
		default:
			return abortMidFrame(s.host, rooms[i/4%len(rooms)])
		}
	}
	run := func(n int) {
		t.Helper()
		const workers = 16
		var next atomic.Int64
		var wg sync.WaitGroup
		var firstErr atomic.Value
		var failed atomic.Int64
		for range workers {
			wg.Add(1)
			go func() { // exits when every cycle is taken
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if err := abort(i); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, fmt.Errorf("cycle %d (kind %c): %w", i, 'a'+i%4, err))
					}
				}
			}()
		}
		wg.Wait()
		// A failed cycle is reported, but the leak check still runs.
		if err, _ := firstErr.Load().(error); err != nil {
			t.Errorf("%d of %d cycles failed; the first: %v", failed.Load(), n, err)
		}
	}

	// Warm up: the first connections grow pools, maps and the runtime's
	// caches; the baseline is what the server holds after that.
	run(200)
	baseG, baseHeap := s.settle(t, -1, 0)
	t.Logf("baseline after warm-up: %d goroutines, heap in use %d KiB", baseG, baseHeap>>10)

	for i := range counts {
		counts[i].Store(0)
	}
	start := time.Now()
	run(cycles)
	elapsed := time.Since(start)
	g, heap := s.settle(t, baseG, baseHeap)
	t.Logf("%d connect/abort cycles (a %d, b %d, c %d, d %d) in %v: goroutines %d -> %d, heap in use %d KiB -> %d KiB (%.2fx)",
		cycles, counts[0].Load(), counts[1].Load(), counts[2].Load(), counts[3].Load(), elapsed.Round(time.Millisecond),
		baseG, g, baseHeap>>10, heap>>10, float64(heap)/float64(baseHeap))
	s.checkRoomsEmpty(t)
}

// TestFirstFrameAfterUpgradeIsKept: the bytes a client sends right behind
// its handshake must reach the WebSocket reader intact. net/http may already
// hold some of them when the connection is hijacked: its background read
// takes the first byte sent after the 101 (a race: the 101 is flushed before
// the read is aborted), and a client that writes its first frame together
// with the request leaves the whole frame in net/http's buffer.
// transport.hijackWriter moves those bytes into a new bufio.Reader, but
// coder/websocket's Accept then Resets that reader onto the returned
// net.Conn, dropping them: the server loses the frame, or parses its second
// byte as a header and closes with 1002 ("unexpected rsv bits").
func TestFirstFrameAfterUpgradeIsKept(t *testing.T) {
	s := startInProcess(t, server.Config{})
	t.Run("pipelined with the request", func(t *testing.T) {
		join, _ := json.Marshal(map[string]any{"type": "JoinRoom", "room": "general", "ref": "j"})
		c, err := net.DialTimeout("tcp", s.host, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write(append([]byte(upgradeRequest(s.host)), clientFrame(join, len(join))...)); err != nil {
			t.Fatal(err)
		}
		if err := awaitJoinAck(c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("right after the 101", func(t *testing.T) {
		const tries, workers = 1000, 8
		var failed atomic.Int64
		var first atomic.Value
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() { // exits when every try is taken
				defer wg.Done()
				for next.Add(1) <= tries {
					if err := joinRightAfterUpgrade(s.host); err != nil {
						failed.Add(1)
						first.CompareAndSwap(nil, err)
					}
				}
			}()
		}
		wg.Wait()
		if n := failed.Load(); n > 0 {
			t.Errorf("%d of %d first frames were lost or corrupted; the first: %v", n, tries, first.Load())
		}
	})
}

// joinRightAfterUpgrade upgrades by hand and sends JoinRoom the moment the
// 101 has arrived, then waits for the Ack.
func joinRightAfterUpgrade(host string) error {
	c, err := net.DialTimeout("tcp", host, waitLimit)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, upgradeRequest(host)); err != nil {
		return err
	}
	// Read the response byte by byte so that its end is seen at once.
	var head []byte
	one := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(one); err != nil {
			return fmt.Errorf("read 101: %w", err)
		}
		head = append(head, one[0])
	}
	join, _ := json.Marshal(map[string]any{"type": "JoinRoom", "room": "general", "ref": "j"})
	if _, err := c.Write(clientFrame(join, len(join))); err != nil {
		return err
	}
	return awaitJoinFrames(bufio.NewReader(c))
}

// awaitJoinAck reads the upgrade response and frames until the Ack of ref "j".
func awaitJoinAck(c net.Conn) error {
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: %s", resp.Status)
	}
	return awaitJoinFrames(br)
}

func awaitJoinFrames(br *bufio.Reader) error {
	var seen []string
	for {
		payload, err := readServerFrame(br)
		if err != nil {
			return fmt.Errorf("no Ack for the first frame: %w (frames before: %q)", err, seen)
		}
		seen = append(seen, string(payload))
		if bytes.Contains(payload, []byte(`"ref":"j"`)) {
			if !bytes.Contains(payload, []byte(`"type":"Ack"`)) {
				return fmt.Errorf("join: %s", payload)
			}
			return nil
		}
	}
}

// TestRefusedConnectionsHoldNothing: with both connection caps full (50
// from one address, 100 in all), 2,000 more upgrades, from the capped
// address and from a new one, are all refused with 503 and Retry-After, and
// leave nothing behind: the goroutine count comes back within a few of what
// the held connections need and the heap within 1.5x; the held connections
// still work, and once they close the server is back to zero.
func TestRefusedConnectionsHoldNothing(t *testing.T) {
	const perIP, total, attempts = 50, 100, 2000
	// No heartbeat during the test: the held clients do not read, so they
	// would not answer pings, and pings in flight (a goroutine each) would
	// move the goroutine count this test compares.
	s := startInProcess(t, server.Config{Transport: transport.Options{MaxConns: total, MaxConnsPerIP: perIP, PingInterval: time.Hour}})
	from := func(ip string) *websocket.DialOptions {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
		return &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*waitLimit)
	defer cancel()
	var held []*websocket.Conn
	defer func() {
		for _, c := range held {
			c.CloseNow()
		}
	}()
	for i := range total {
		ip := "127.0.0.1"
		if i >= perIP {
			ip = "127.0.0.2"
		}
		c, _, err := websocket.Dial(ctx, s.url, from(ip))
		if err != nil {
			t.Fatalf("connection %d from %s: %v", i, ip, err)
		}
		held = append(held, c)
	}
	baseG, baseHeap := s.settleAt(t, total, -1, 0)

	var refused, other atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { // exits when every attempt is made
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > attempts {
					return
				}
				ip := "127.0.0.1" // past the per-IP cap
				if i%2 == 0 {
					ip = "127.0.0.3" // past the global cap
				}
				c, resp, err := websocket.Dial(ctx, s.url, from(ip))
				switch {
				case err == nil:
					c.CloseNow()
					other.Add(1)
				case resp != nil && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if refused.Load() != attempts {
		t.Errorf("%d of %d upgrades past the caps refused with 503 and Retry-After; %d admitted or failed otherwise", refused.Load(), attempts, other.Load())
	}
	g, heap := s.settleAt(t, total, baseG, baseHeap)
	t.Logf("%d connections held, %d refused: goroutines %d -> %d, heap in use %d KiB -> %d KiB (%.2fx)",
		total, refused.Load(), baseG, g, baseHeap>>10, heap>>10, float64(heap)/float64(baseHeap))
	// The held connections still work.
	for _, c := range []*websocket.Conn{held[0], held[total-1]} {
		if err := wsWriteJSON(ctx, c, map[string]any{"type": "ListRooms", "ref": "l"}); err != nil {
			t.Fatal(err)
		}
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("a held connection: %v", err)
			}
			if strings.Contains(string(b), `"type":"RoomList"`) {
				break
			}
		}
	}
	for _, c := range held {
		c.CloseNow()
	}
	held = nil
	s.settle(t, -1, 0)
}

// leakSlack is how many goroutines above the baseline count as "back".
const leakSlack = 4

// settle is settleAt with no session and no connection left.
func (s *inProcess) settle(t *testing.T, baseG int, baseHeap uint64) (int, uint64) {
	t.Helper()
	return s.settleAt(t, 0, baseG, baseHeap)
}

// settleAt waits until the server has exactly want sessions and open
// connections and, if baseG >= 0, until the goroutine count is within
// leakSlack of baseG and the heap within 1.5x of baseHeap. With baseG < 0 it
// waits until the goroutine count stops falling and returns the baseline.
func (s *inProcess) settleAt(t *testing.T, want, baseG int, baseHeap uint64) (int, uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	heapInUse := func() uint64 {
		runtime.GC()
		runtime.GC() // the second one frees what finalizers and pools let go of in the first
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	stable, last := 0, -1
	for {
		sessions, conns := s.hub.Sessions(), s.connections()
		g := runtime.NumGoroutine()
		if sessions == want && conns == want {
			if baseG < 0 {
				if g >= last && last >= 0 {
					stable++
				} else {
					stable = 0
				}
				last = g
				if stable >= 5 {
					return g, heapInUse()
				}
			} else if g <= baseG+leakSlack {
				if h := heapInUse(); float64(h) <= 1.5*float64(baseHeap) {
					return g, h
				} else if time.Now().After(deadline) {
					t.Fatalf("heap in use %d KiB, baseline %d KiB: over 1.5x", h>>10, baseHeap>>10)
				}
			}
		}
		if time.Now().After(deadline) {
			var buf bytes.Buffer
			_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
			t.Fatalf("not settled after 30s: %d sessions, %d connections, %d goroutines (baseline %d)\n%s",
				sessions, conns, g, baseG, buf.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRoomsEmpty connects once and checks that every room has no member
// but itself.
func (s *inProcess) checkRoomsEmpty(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := wsWriteJSON(ctx, c, map[string]any{"type": "ListRooms", "ref": "l"}); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Type  string
			Rooms []struct {
				Name    string
				Members int
			}
		}
		if json.Unmarshal(b, &m) != nil || m.Type != "RoomList" {
			continue
		}
		for _, r := range m.Rooms {
			if r.Members != 0 {
				t.Errorf("room %s still has %d members", r.Name, r.Members)
			}
		}
		return
	}
}

func wsWriteJSON(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Write(ctx, websocket.MessageText, b)
}

// abortTCP connects and closes before the handshake.
func abortTCP(host string) error {
	c, err := net.DialTimeout("tcp", host, waitLimit)
	if err != nil {
		return err
	}
	return c.Close()
}

func upgradeRequest(host string) string {
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	return "GET /ws HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

// abortHandshake sends half of the upgrade request and closes.
func abortHandshake(host string) error {
	c, err := net.DialTimeout("tcp", host, waitLimit)
	if err != nil {
		return err
	}
	defer c.Close()
	req := upgradeRequest(host)
	_, err = c.Write([]byte(req[:len(req)/2]))
	return err
}

// abortWebSocket completes the handshake and drops the connection without a
// close frame.
func abortWebSocket(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	return c.CloseNow()
}

// abortMidFrame upgrades by hand, joins room, waits for the join's Ack, then
// sends a frame header announcing 100 bytes, 10 of them, and closes.
func abortMidFrame(host, room string) error {
	c, err := net.DialTimeout("tcp", host, waitLimit)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, upgradeRequest(host)); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: %s", resp.Status)
	}
	join, _ := json.Marshal(map[string]any{"type": "JoinRoom", "room": room, "ref": "j"})
	if _, err := c.Write(clientFrame(join, len(join))); err != nil {
		return err
	}
	if err := awaitJoinFrames(br); err != nil {
		return err
	}
	_, err = c.Write(clientFrame(bytes.Repeat([]byte("x"), 10), 100))
	return err
}

// clientFrame is a masked text frame whose header announces length bytes
// and carries payload (which may be shorter).
func clientFrame(payload []byte, length int) []byte {
	f := wsframe.AppendHeader(nil, true, wsframe.OpText, uint64(length), wsframe.Key)
	return wsframe.AppendMasked(f, payload, wsframe.Key)
}

// readServerFrame reads one unmasked server frame and returns its payload.
func readServerFrame(r *bufio.Reader) ([]byte, error) {
	_, p, err := wsframe.ReadServer(r, 1<<22)
	return p, err
}

// inProcess is a parley server in the test's process (internal/server, as
// main runs it) on 127.0.0.1 with a random port and a real SQLite file.
type inProcess struct {
	t    *testing.T
	srv  *server.Server
	hub  *actors.Hub
	db   string
	host string // 127.0.0.1:port
	url  string // ws://127.0.0.1:port/
}

// startInProcess starts a server with cfg; it logs errors only.
func startInProcess(t *testing.T, cfg server.Config) *inProcess {
	t.Helper()
	cfg.Logger = testkit.Logger(t, slog.LevelError)
	// These tests play thousands of clients from one address: the budget a
	// client's connections share would refuse them (internal/abuse tests it).
	if cfg.Hub.Limits.ClientRatePerSec == 0 {
		cfg.Hub.Limits.ClientRatePerSec, cfg.Hub.Limits.ClientBurst = 1e9, 1<<30
	}
	srv := testkit.StartServer(t, cfg)
	return &inProcess{t: t, srv: srv, hub: srv.Hub(), db: srv.DB(), host: srv.Addr(), url: "ws://" + srv.Addr() + "/"}
}

// stop shuts the server down (the test's cleanup does it too).
func (s *inProcess) stop() { testkit.Stop(s.t, s.srv) }

// connections reads the transport's open-connection gauge from /metrics.
func (s *inProcess) connections() int {
	rec := httptest.NewRecorder()
	s.srv.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "parley_connections "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return int(n)
			}
		}
	}
	s.t.Fatal("no parley_connections in /metrics")
	return -1
}
