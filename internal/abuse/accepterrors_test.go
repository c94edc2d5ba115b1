//go:build linux

package abuse

// Item 12: running out of descriptors was invisible: net/http's
// "accept4: too many open files; retrying in 1s" came at INFO, once per
// retry, and no metric counted it. The test runs the server out of
// descriptors (the test's own process: the soft limit lowered, the rest
// filled with /dev/null), connects, and checks that the failing accepts
// are counted, logged at WARN at most once a second, and that the
// connection is served once descriptors are free again.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/server"
	"parley/internal/testkit"
	"parley/transport"
)

// recordLog is a slog.Handler that keeps the messages at WARN and above,
// signals the first one whose message is signal, and passes every record
// on to the test's log.
type recordLog struct {
	slog.Handler
	signal string
	mu     *sync.Mutex
	warns  *[]string
	seen   chan struct{}
	once   *sync.Once
}

func (h recordLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.mu.Lock()
		*h.warns = append(*h.warns, r.Message)
		h.mu.Unlock()
		if r.Message == h.signal {
			h.once.Do(func() { close(h.seen) })
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h recordLog) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func TestAcceptErrorsVisible(t *testing.T) {
	const acceptFailed = "accept failed; retrying"
	rec := recordLog{
		Handler: testkit.Logger(t, slog.LevelWarn).Handler(), signal: acceptFailed,
		mu: new(sync.Mutex), warns: new([]string), seen: make(chan struct{}), once: new(sync.Once),
	}
	s, addr := start(t, server.Config{Logger: slog.New(rec)})

	// Lower the soft limit to a little above what is open, and fill it.
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open descriptors: %v", err)
	}
	low := rl
	low.Cur = uint64(len(ents) + 64)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Skipf("cannot lower the descriptor limit: %v", err)
	}
	var fillers []*os.File
	restore := func() {
		for _, f := range fillers {
			f.Close()
		}
		fillers = nil
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	defer restore()
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			restore()
			t.Fatalf("fill: %v", err)
		}
		fillers = append(fillers, f)
		if len(fillers) > 10000 {
			restore()
			t.Fatalf("fill: no EMFILE after %d files under a limit of %d", len(fillers), low.Cur)
		}
	}
	if len(fillers) == 0 {
		restore()
		t.Fatalf("fill: EMFILE at once under a limit of %d", low.Cur)
	}
	// One descriptor free: the client's socket takes it, and the server,
	// in the same process, has none left to accept with.
	fillers[len(fillers)-1].Close()
	fillers = fillers[:len(fillers)-1]
	conn, err := edgeDialer("").Dial("tcp", addr)
	if err != nil {
		restore()
		t.Fatalf("dial with one descriptor free: %v", err)
	}
	defer conn.Close()
	began := time.Now()
	select {
	case <-rec.seen:
	case <-time.After(testkit.WaitLimit):
		restore()
		t.Fatalf("no %q logged within %v", acceptFailed, testkit.WaitLimit)
	}
	// Let net/http retry a few times (5 ms, 10 ms, ... doubling) before
	// descriptors come back.
	time.Sleep(1500 * time.Millisecond)
	restore()

	// The connection waiting in the backlog is served now.
	_ = conn.SetDeadline(time.Now().Add(testkit.WaitLimit))
	if _, err := conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the connection accepted once descriptors were free: %v", err)
	}
	resp.Body.Close()
	elapsed := time.Since(began)

	count := metric(t, s, `parley_accept_errors_total{kind="emfile"}`)
	rec.mu.Lock()
	lines := 0
	for _, m := range *rec.warns {
		switch {
		case m == acceptFailed:
			lines++
		case strings.Contains(m, "Accept error"):
			t.Errorf("net/http's own accept line logged too: %q", m)
		}
	}
	rec.mu.Unlock()
	t.Logf("%d failed accepts (EMFILE) in %v, %d lines logged at WARN", int(count), elapsed.Round(time.Millisecond), lines)
	if count < 2 {
		t.Errorf(`parley_accept_errors_total{kind="emfile"}: got %v, want at least 2 (net/http retries at once)`, count)
	}
	if most := 1 + int(math.Ceil(elapsed.Seconds())); lines < 1 || lines > most || float64(lines) > count {
		t.Errorf("WARN lines for %v failed accepts in %v: got %d, want 1 to %d (one a second at most)", count, elapsed, lines, most)
	}
}

// TestRefusalsAreCounted: each way the edge turns a client away, and each
// close code a protocol error ends in, moves its own counter in /metrics.
func TestRefusalsAreCounted(t *testing.T) {
	s, addr := start(t, server.Config{Transport: transport.Options{MaxConnsPerIP: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	refused := func(reason string) string { return `parley_refused_total{reason="` + reason + `"}` }

	first, _, err := edgeWS(ctx, addr, "127.0.0.5", nil)
	if err != nil {
		t.Fatalf("first connection: %v", err)
	}
	defer first.CloseNow()
	attempts := []struct {
		what, src string
		opts      *websocket.DialOptions
		status    int
		counter   string
	}{
		{"over the per-IP cap", "127.0.0.5", nil, http.StatusServiceUnavailable, refused("conn_cap")},
		{"a foreign origin", "127.0.0.6", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}}, http.StatusForbidden, refused("origin")},
		{"an unknown session", "127.0.0.6", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer not-a-token"}}}, http.StatusUnauthorized, refused("unauthorized")},
		{"a foreign Host", "127.0.0.6", &websocket.DialOptions{Host: "evil.example"}, http.StatusMisdirectedRequest, refused("host")},
	}
	for _, a := range attempts {
		_, status, err := edgeWS(ctx, addr, a.src, a.opts)
		if err == nil || status != a.status {
			t.Errorf("%s: got status %d (err %v), want %d", a.what, status, err, a.status)
		}
		if got := metric(t, s, a.counter); got != 1 {
			t.Errorf("%s: %s got %v, want 1", a.what, a.counter, got)
		}
	}
	if got := metric(t, s, "parley_connections_refused_total"); got != 1 {
		t.Errorf("parley_connections_refused_total (the caps, as before): got %v, want 1", got)
	}

	// Protocol errors: a binary frame (1003), a text frame that is not
	// UTF-8 (1007), a message over the limit (1009). (Each close the server
	// makes goes through the outbound queue's Close, where it is counted,
	// whatever its code.)
	// Each from its own address: the per-IP cap is 1 here, and a closed
	// connection gives its slot back only once its close handshake is
	// over, after the counter below has moved.
	for i, c := range []struct {
		typ     websocket.MessageType
		payload string
		code    string
	}{{websocket.MessageBinary, "a", "1003"}, {websocket.MessageText, "\xff", "1007"}, {websocket.MessageText, strings.Repeat("x", 64<<10), "1009"}} {
		conn, _, err := edgeWS(ctx, addr, fmt.Sprintf("127.0.0.%d", 7+i), nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		_ = conn.Write(ctx, c.typ, []byte(c.payload))
		for {
			if _, _, err := conn.Read(ctx); err != nil {
				break
			}
		}
		conn.CloseNow()
		waitMetric(t, s, `parley_connections_closed_total{code="`+c.code+`"}`, func(v float64) bool { return v == 1 })
	}
}
