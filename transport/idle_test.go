package transport_test

import (
	"testing"
	"time"

	"parley/transport"
)

// TestIdleConnectionSurvivesPings is the regression test for a write
// deadline left set after a batch: the next ping, written after the deadline
// had passed, failed at once and the server dropped every idle connection.
// Here the write timeout is short and pings come well after it.
func TestIdleConnectionSurvivesPings(t *testing.T) {
	s := startServer(t, serverConfig{transport: transport.Options{
		WriteTimeout: 50 * time.Millisecond,
		PingInterval: 160 * time.Millisecond,
		PingTimeout:  2 * time.Second,
	}})
	a, b := s.dial(), s.dial()
	a.join("general")
	b.join("general")
	a.waitFor("UserJoined", func(m msg) bool { return m.str("username") == b.name })
	// Both stay idle (but reading, so they answer pings) for many ping
	// intervals and write timeouts.
	quiet := make(chan msg, 1)
	go func() { // ends when a's connection closes at cleanup
		for {
			m, err := a.read(t.Context())
			if err != nil {
				return
			}
			quiet <- m
		}
	}()
	select {
	case m := <-quiet:
		t.Fatalf("a: got %v while idle, want nothing (was b dropped?)", m)
	case <-time.After(1500 * time.Millisecond):
	}
	b.send(map[string]any{"type": "SendMessage", "content": "still here"})
	select {
	case m := <-quiet:
		if m.str("type") != "Message" || m.str("content") != "still here" {
			t.Fatalf("a: got %v, want b's message", m)
		}
	case <-time.After(waitLimit):
		t.Fatal("a: no message after the idle period")
	}
}
