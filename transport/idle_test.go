package transport_test

import (
	"testing"
	"time"

	"parley/internal/wsframe"
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

// TestPongAfterTheWriteTimeout: the write deadline is kept between bursts
// rather than cleared, so a write made long after the last burst, here the
// pong the library answers a client's ping with, must renew it first.
func TestPongAfterTheWriteTimeout(t *testing.T) {
	s := startServer(t, serverConfig{transport: transport.Options{
		WriteTimeout: 50 * time.Millisecond,
		PingInterval: time.Hour,
	}})
	p := dialRaw(t, s.host())
	write(t, p, frame(true, wsframe.OpText, []byte(`{"type":"ListRooms","ref":"l1"}`)))
	rawReply(t, p, "l1") // a burst: the deadline is set
	time.Sleep(300 * time.Millisecond)
	write(t, p, frame(true, wsframe.OpPing, []byte("still there?")))
	for {
		b0, payload := readFrame(t, p.br)
		if b0&0x0f == wsframe.OpText {
			continue
		}
		if b0 != 0x80|wsframe.OpPong || string(payload) != "still there?" {
			t.Fatalf("got frame %#x %q, want the pong to the ping", b0, payload)
		}
		return
	}
}
