package transport_test

import (
	"bufio"
	"encoding/binary"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"parley/internal/wsframe"
	"parley/transport"
)

// TestStreamErrorsWithoutPoller: where connections cannot park (no epoll),
// every connection's reader waits in its reads, and the frame scanner's
// refusals and the message deadline hold the same: an unmasked frame
// closes with 1002, a header over the limit with 1009, a message left
// unfinished with 1008 (internal/abuse tests them with the poller).
func TestStreamErrorsWithoutPoller(t *testing.T) {
	s := startServer(t, serverConfig{noPoller: true, transport: transport.Options{PingInterval: time.Hour, MessageTimeout: 200 * time.Millisecond}})
	addr := strings.TrimPrefix(s.url, "ws://")
	cases := []struct {
		name   string
		attack []byte
		want   uint16
	}{
		{"unmasked", append([]byte{0x81, 0x02}, "hi"...), 1002},
		{"over the limit", wsframe.AppendHeader(nil, true, wsframe.OpText, 1<<40, wsframe.Key), 1009},
		{"unfinished", wsframe.Client(false, wsframe.OpText, []byte("never ends")), 1008},
		{"payload cut short", wsframe.Text([]byte(`{"type":"ListRooms"}`))[:10], 1008},
	}
	for _, c := range cases {
		nc, err := net.DialTimeout("tcp", addr, waitLimit)
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.SetDeadline(time.Now().Add(waitLimit))
		req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
		if _, err := nc.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(nc)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%s: upgrade: got %v %v", c.name, resp, err)
		}
		if _, err := nc.Write(c.attack); err != nil {
			t.Fatal(err)
		}
		for {
			h, body, err := wsframe.ReadServer(br, 1<<22)
			if err != nil {
				t.Fatalf("%s: got %v, want a close frame %d", c.name, err, c.want)
			}
			if h.Opcode != wsframe.OpClose {
				continue // Welcome
			}
			if len(body) < 2 || binary.BigEndian.Uint16(body) != c.want {
				t.Errorf("%s: got close %q, want %d", c.name, body, c.want)
			}
			break
		}
		nc.Close()
	}
}
