//go:build unix

package transport_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/transport"
)

// smallRcvbuf returns DialOptions whose TCP socket has a receive buffer of
// about size bytes, set before connect so that the advertised window stays
// small (NATS's slow-consumer test does the same with 128 bytes), and a
// function that enlarges the buffer again. A receive buffer smaller than one
// segment makes Linux stop sending window updates: the peer then learns of
// free space only from zero-window probes, whose backoff grows to seconds,
// so a client that starts reading again must also open its window.
func smallRcvbuf(t *testing.T, size int) (*websocket.DialOptions, func()) {
	var (
		mu  sync.Mutex
		raw syscall.RawConn
	)
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		mu.Lock()
		raw = rc
		mu.Unlock()
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
		}); err != nil {
			return err
		}
		return serr
	}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	enlarge := func() {
		mu.Lock()
		defer mu.Unlock()
		if raw == nil {
			t.Fatal("slow client: no socket to enlarge")
		}
		_ = raw.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1<<20)
		})
	}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}, enlarge
}

// TestSlowReader: a member with a tiny socket receive buffer stops reading
// while 50 others receive a steady stream. Its outbox (small here) overflows
// in bytes and it is closed with 1008 (seen once it reads again); the others
// are not slowed and receive every message, in order.
func TestSlowReader(t *testing.T) {
	slowReader(t, 50, 3500, actors.OutboxLimits{Frames: 1 << 20, Bytes: 64 << 10}, 4000)
}

// TestSlowReaderFrameBound: the same with small messages, where the outbox
// overflows in frames before bytes (fewer readers: it takes many messages).
func TestSlowReaderFrameBound(t *testing.T) {
	slowReader(t, 3, 100, actors.OutboxLimits{Frames: 64, Bytes: 16 << 20}, 40000)
}

func slowReader(t *testing.T, fast, bodySize int, limits actors.OutboxLimits, maxMsgs int) {
	const (
		room   = "stream"
		window = 8  // messages the sender may be ahead of the slowest fast reader
		tail   = 50 // messages sent after the slow one is dropped
	)
	body := strings.Repeat("x", bodySize)
	s := startServer(t, serverConfig{
		hub: actors.Config{Limits: noRateLimit, Outbox: limits},
		// The slow member's writer blocks on its full socket for the whole
		// stream, and a close frame cannot overtake the data queued before
		// it: the write timeout, or the heartbeat (the slow member answers no
		// pings), would close it without 1008 before it reads again. Keep
		// both out of the way; TestDeadPeerDropped covers the heartbeat.
		transport: transport.Options{WriteTimeout: 4 * waitLimit, PingInterval: time.Hour},
	})
	slowOpts, openWindow := smallRcvbuf(t, 1024)
	slow := dialOpts(t, s.url+"/ws", slowOpts)
	slow.setName("slow")
	slow.join(room)
	readers := make([]*wsClient, fast) // readers[0] is also the sender
	for i := range readers {
		readers[i] = s.dial()
		readers[i].join(room)
	}
	sender := readers[0]

	// The whole stream may take a while on a loaded machine (50 readers under
	// -race); what must not happen is a stall: no reader progress for
	// waitLimit fails the test (below).
	ctx, cancel := context.WithTimeout(context.Background(), 18*waitLimit)
	defer cancel()
	var (
		progress = make([]atomic.Int64, fast) // messages each reader has received
		tick     = make(chan struct{}, 1)     // a reader made progress
		dropped  = make(chan struct{})        // some reader saw the slow one's UserLeft
		dropOnce sync.Once
		failed   = make(chan struct{}) // some reader failed
		failOnce sync.Once
		errs     = make(chan error, fast)
	)
	for i, w := range readers {
		// Reader: exits at the "end" message or on error.
		go func() {
			err := func() error {
				for want := 0; ; {
					m, err := w.read(ctx)
					if err != nil {
						return fmt.Errorf("reader %d: after %d messages: %w", i, want, err)
					}
					switch m.str("type") {
					case "Message":
						c := m.str("content")
						if c == "end" {
							return nil
						}
						if got := c[:strings.IndexByte(c, ':')]; got != fmt.Sprint(want) {
							return fmt.Errorf("reader %d: got message %s, want %d", i, got, want)
						}
						want++
						progress[i].Store(int64(want))
						select {
						case tick <- struct{}{}:
						default:
						}
					case "UserLeft":
						if m.str("username") == "slow" {
							dropOnce.Do(func() { close(dropped) })
						}
					case "Error":
						return fmt.Errorf("reader %d: got %v", i, m)
					}
				}
			}()
			if err != nil {
				failOnce.Do(func() { close(failed) })
			}
			errs <- err
		}()
	}

	minProgress := func() int64 {
		m := progress[0].Load()
		for i := 1; i < fast; i++ {
			m = min(m, progress[i].Load())
		}
		return m
	}
	sent, droppedAt := 0, -1
	start := time.Now()
	for ; sent < maxMsgs && (droppedAt < 0 || sent < droppedAt+tail); sent++ {
		for minProgress() < int64(sent-window) {
			select {
			case <-tick:
			case <-failed:
				t.Fatalf("a reader failed: %v", <-errs)
			case <-time.After(waitLimit):
				t.Fatalf("readers stalled at %d of %d: no progress for %v", minProgress(), sent, waitLimit)
			case <-ctx.Done():
				t.Fatalf("readers at %d of %d when the test's time ran out", minProgress(), sent)
			}
		}
		if droppedAt < 0 {
			select {
			case <-dropped:
				droppedAt = sent
			default:
			}
		}
		if err := sender.write(ctx, map[string]any{"type": "SendMessage", "content": fmt.Sprint(sent, ":", body)}); err != nil {
			t.Fatalf("sender: %v", err)
		}
	}
	if err := sender.write(ctx, map[string]any{"type": "SendMessage", "content": "end"}); err != nil {
		t.Fatalf("sender: %v", err)
	}
	for _, err := range collectErrs(errs, fast, 4*waitLimit) {
		t.Error(err)
	}
	if droppedAt < 0 {
		t.Fatalf("the slow member was not dropped after %d messages", sent)
	}
	t.Logf("slow member dropped after ~%d messages (%d KiB); %d sent to %d readers in %v",
		droppedAt, droppedAt*(len(body)+100)>>10, sent, fast, elapsedSince(start))
	openWindow()
	if got := slow.closeStatus(); got != websocket.StatusPolicyViolation {
		t.Errorf("slow member: got close %v, want %v", got, websocket.StatusPolicyViolation)
	}
}

func elapsedSince(t0 time.Time) time.Duration { return time.Since(t0).Round(time.Millisecond) }
