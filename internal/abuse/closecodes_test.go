package abuse

import (
	"bytes"
	"testing"
	"time"

	"parley/internal/server"
	"parley/internal/wsframe"
	"parley/transport"
)

// TestCloseCodes (issue 12, item 6): a frame that breaks RFC 6455 closes
// with 1002 and a reason, a close frame whose reason is not UTF-8 with 1007
// and is not echoed. coder/websocket v1.8.15 closes the first two with 1000
// and no reason and echoes the third (docs/reliability.md, "Upstream");
// parley's frame scanner refuses them before the library reads them. Each
// attack comes right after a request was answered, so the server was
// reading; a bystander's connection is served throughout.
func TestCloseCodes(t *testing.T) {
	s, addr := start(t, server.Config{Transport: transport.Options{PingInterval: time.Hour}})
	bystander := dialWire(t, addr)

	badReason := []byte{0x03, 0xe8, 'b', 'y', 'e', 0xff, 0xfe} // 1000, "bye" and two bytes that are no UTF-8
	cases := []struct {
		name   string
		attack []byte
		want   int
	}{
		{"unmasked text frame", append([]byte{0x81, 0x05}, "hello"...), 1002},
		{"unmasked close frame", []byte{0x88, 0x02, 0x03, 0xe8}, 1002},
		{"64-bit length with its top bit set", append([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5}, wsframe.Key[:]...), 1002},
		{"close reason not UTF-8", wsframe.Client(true, wsframe.OpClose, badReason), 1007},
		{"close reason cut inside a rune", wsframe.Client(true, wsframe.OpClose, []byte{0x03, 0xe8, 0xe2, 0x82}), 1007},
		// The converse: a well-formed close is answered with its own code.
		{"close 1000 with a UTF-8 reason", wsframe.Client(true, wsframe.OpClose, []byte{0x03, 0xe8, 'b', 'y', 'e', 0xe2, 0x9c, 0x93}), 1000},
	}
	refusedBefore := int(metric(t, s, "parley_streams_refused_total"))
	refused := 0
	for _, c := range cases {
		for _, pause := range []bool{false, true} {
			w := dialWire(t, addr)
			w.write(text(`{"type":"ListRooms","ref":"before"}`))
			if got := w.reply("before"); got != "RoomList" {
				t.Fatalf("%s: got %s, want RoomList", c.name, got)
			}
			if pause { // the attack arrives at a parked connection, split
				w.write(c.attack[:1])
				time.Sleep(20 * time.Millisecond)
				w.write(c.attack[1:])
			} else {
				w.write(c.attack)
			}
			code, reason, _ := w.closed()
			if code != c.want {
				t.Errorf("%s (split %v): got close %d %q, want %d", c.name, pause, code, reason, c.want)
			}
			if c.want != 1000 {
				refused++
				if reason == "" || bytes.Equal([]byte(reason), badReason[2:]) {
					t.Errorf("%s (split %v): got reason %q, want parley's own", c.name, pause, reason)
				}
			}
			t.Logf("%s (split %v): close %d %q", c.name, pause, code, reason)
		}
	}
	if got := int(metric(t, s, "parley_streams_refused_total")) - refusedBefore; got != refused {
		t.Errorf("parley_streams_refused_total: got %d more, want %d", got, refused)
	}
	bystander.write(text(`{"type":"ListRooms","ref":"after"}`))
	if got := bystander.reply("after"); got != "RoomList" {
		t.Errorf("bystander: got %s, want RoomList", got)
	}
}
