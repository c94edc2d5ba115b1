package transport_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
		frame := append([]byte{0x81, 0x80 | byte(len(payload)), 1, 2, 3, 4}, payload...)
		for j := range payload {
			frame[6+j] ^= []byte{1, 2, 3, 4}[j%4]
		}
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
			hdr := make([]byte, 2)
			if _, err := readFull(br, hdr); err != nil {
				t.Fatalf("try %d: read frame: %v", i, err)
			}
			if hdr[0]&0x0f == 0x8 {
				t.Fatalf("try %d: server closed the connection, want a reply to the pipelined frame", i)
			}
			n := int(hdr[1] & 0x7f)
			if n == 126 {
				ext := make([]byte, 2)
				readFull(br, ext)
				n = int(ext[0])<<8 | int(ext[1])
			}
			body := make([]byte, n)
			if _, err := readFull(br, body); err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if json.Unmarshal(body, &m) == nil && m["type"] == "RoomList" && m["ref"] == "first" {
				gotReply = true
			}
		}
		nc.Close()
	}
}

func readFull(br *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := br.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
