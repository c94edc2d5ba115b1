package transport_test

import (
	"fmt"
	"testing"

	"github.com/coder/websocket"

	"parley/transport"
)

func TestChatOverWebSocket(t *testing.T) {
	s := startServer(t, serverConfig{})
	a := s.dial()
	b := dialOpts(t, s.url+"/", &websocket.DialOptions{Subprotocols: []string{transport.BatchSubprotocol}})
	if !b.batch {
		t.Fatal("subprotocol: not negotiated")
	}
	a.join("general")
	b.join("general")
	a.waitFor("UserJoined", func(m msg) bool { return m.str("username") == b.name })
	for i := range 10 {
		a.send(map[string]any{"type": "SendMessage", "content": fmt.Sprint(i), "ref": fmt.Sprint(i)})
	}
	for i := range 10 {
		if m := b.waitFor("Message", nil); m.str("content") != fmt.Sprint(i) || m.str("username") != a.name {
			t.Fatalf("b: got %v, want message %d from %s", m, i, a.name)
		}
	}
	acks := 0
	for acks < 10 {
		if a.next().str("type") == "Ack" {
			acks++
		}
	}
}
