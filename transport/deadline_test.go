package transport_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
	"parley/transport"
)

// stalledSync is the real store with Sync held at a gate until release or
// its context ends: a join with history or a History read then waits.
type stalledSync struct {
	actors.Store
	gate    chan struct{} // closed by release
	once    sync.Once
	waiting chan struct{} // a Sync reached the gate (buffered)
	stalled sync.Mutex    // held while stalled is read or set
	on      bool
}

func newStalledSync(s actors.Store) *stalledSync {
	return &stalledSync{Store: s, gate: make(chan struct{}), waiting: make(chan struct{}, 16)}
}

func (s *stalledSync) stall() {
	s.stalled.Lock()
	defer s.stalled.Unlock()
	s.on = true
}

func (s *stalledSync) release() { s.once.Do(func() { close(s.gate) }) }

func (s *stalledSync) Sync(ctx context.Context) error {
	s.stalled.Lock()
	on := s.on
	s.stalled.Unlock()
	if on {
		s.waiting <- struct{}{}
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Store.Sync(ctx)
}

// waitStalled waits for a request to reach the stalled Sync.
func (s *stalledSync) waitStalled(t *testing.T) {
	t.Helper()
	select {
	case <-s.waiting:
	case <-time.After(waitLimit):
		t.Fatal("no request reached the stalled store")
	}
}

// stepClock is the system clock, except that the deadlines of requests
// (AfterFunc) pass only when the test calls expire.
type stepClock struct {
	actors.SystemClock
	mu  sync.Mutex
	fns []func()
}

func (c *stepClock) AfterFunc(_ time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, f)
	return func() bool { return true } // stopping changes nothing: expire is only called while a request waits
}

// expire runs every deadline registered so far.
func (c *stepClock) expire() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

func TestStalledStoreRequestGetsServerBusyAndTheReaderReadsOn(t *testing.T) {
	var store *stalledSync
	clock := &stepClock{}
	s := startServer(t, serverConfig{
		hub:       actors.Config{Clock: clock},
		wrapStore: func(st actors.Store) actors.Store { store = newStalledSync(st); return store },
	})
	t.Cleanup(store.release) // runs before the server stops
	w := s.dial()
	w.join("general")
	w.send(map[string]any{"type": "SendMessage", "content": "one", "ref": "s1"})
	w.waitFor("Ack", func(m msg) bool { return m.str("ref") == "s1" })

	store.stall()
	w.send(map[string]any{"type": "History", "room": "general", "ref": "h1"})
	store.waitStalled(t)
	clock.expire()
	if e := w.expect("Error"); e.str("code") != "server_busy" || e.str("ref") != "h1" {
		t.Fatalf("history on a stalled store: got %v, want server_busy with ref h1", e)
	}
	w.expect("History")
	// The connection's reader was not held: the next request is answered.
	w.send(map[string]any{"type": "ListRooms", "ref": "l1"})
	if l := w.expect("RoomList"); l.str("ref") != "l1" {
		t.Fatalf("after the timeout: got %v, want the RoomList of l1", l)
	}
	store.release()
	w.send(map[string]any{"type": "History", "room": "general", "ref": "h2"})
	if h := w.expect("History"); h.str("ref") != "h2" || len(h["messages"].([]any)) != 1 {
		t.Fatalf("history once the store is back: got %v, want the one message", h)
	}
}

// A request waiting on the store gives up when its connection ends, long
// before its deadline (an hour here), and the session ends with it.
func TestStalledRequestEndsWithItsConnection(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	for _, tc := range []struct {
		name string
		// end ends the raw peer's connection and waits until its session is
		// gone; ch has the watcher's messages.
		end func(t *testing.T, s *server, ch <-chan msg, name string)
	}{
		// The peer goes silent: the heartbeat's ping times out and closes
		// the socket, which nothing reads while the request waits. The
		// watcher sees the peer leave.
		{"dead peer", func(t *testing.T, s *server, ch <-chan msg, name string) {
			waitOn(t, ch, waitLimit, "UserLeft "+name, func(m msg) bool {
				return m.str("type") == "UserLeft" && m.str("username") == name
			})
		}},
		// The server closes every outbox, as at shutdown: every session ends.
		{"outbox closed", func(t *testing.T, s *server, _ <-chan msg, _ string) {
			s.srv.Hub().CloseAll(protocol.CloseGoingAway, "test")
			limit := time.Now().Add(waitLimit)
			for s.srv.Hub().Sessions() > 0 {
				if time.Now().After(limit) {
					t.Fatalf("sessions: got %d after their outboxes closed, want 0", s.srv.Hub().Sessions())
				}
				time.Sleep(time.Millisecond)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var store *stalledSync
			s := startServer(t, serverConfig{
				hub:       actors.Config{RequestTimeout: time.Hour},
				transport: transport.Options{PingInterval: interval, PingTimeout: timeout},
				wrapStore: func(st actors.Store) actors.Store { store = newStalledSync(st); return store },
			})
			t.Cleanup(store.release) // runs before the server stops
			watcher := s.dial()
			watcher.setName("watcher")
			watcher.join("general")
			ch := watch(watcher)

			p := dialRaw(t, s.host())
			var welcome struct{ Username string }
			if err := json.Unmarshal(p.readText(t), &welcome); err != nil || welcome.Username == "" {
				t.Fatalf("raw: Welcome: %v", err)
			}
			p.writeText(t, []byte(`{"type":"JoinRoom","room":"general"}`))
			waitOn(t, ch, waitLimit, "UserJoined "+welcome.Username, func(m msg) bool {
				return m.str("type") == "UserJoined" && m.str("username") == welcome.Username
			})
			store.stall()
			p.writeText(t, []byte(`{"type":"History","room":"general"}`))
			store.waitStalled(t)
			tc.end(t, s, ch, welcome.Username)
		})
	}
}
