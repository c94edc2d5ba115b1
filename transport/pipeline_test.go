package transport_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/internal/wsframe"
)

// TestFrameSentWithTheUpgradeIsKept is the regression test for a lost
// pipelined frame: a client that sends its first frame right behind the
// upgrade request, before reading the 101, had those bytes dropped when the
// connection's reader was replaced, and the stream desynchronised ("unexpected
// rsv bits").
func TestFrameSentWithTheUpgradeIsKept(t *testing.T) {
	s := startServer(t, serverConfig{})
	addr := strings.TrimPrefix(s.url, "ws://")
	for i := range 20 {
		nc, err := net.DialTimeout("tcp", addr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(waitLimit))
		payload := []byte(`{"type":"ListRooms","ref":"first"}`)
		frame := wsframe.Text(payload)
		req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if _, err := nc.Write(append([]byte(req), frame...)); err != nil { // one write: request and frame together
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("try %d: upgrade: got %v %v", i, resp, err)
		}
		gotReply := false
		for !gotReply {
			h, body, err := wsframe.ReadServer(br, 1<<22)
			if err != nil {
				t.Fatalf("try %d: read frame: %v", i, err)
			}
			if h.Opcode == wsframe.OpClose {
				t.Fatalf("try %d: server closed the connection, want a reply to the pipelined frame", i)
			}
			var m map[string]any
			if json.Unmarshal(body, &m) == nil && m["type"] == "RoomList" && m["ref"] == "first" {
				gotReply = true
			}
		}
		nc.Close()
	}
}
