package abuse

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/server"
	"parley/internal/wsframe"
	"parley/transport"
)

// escaped writes s as a JSON string with every character as a \u escape:
// a character beyond the BMP as its surrogate pair, 12 bytes.
func escaped(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r > 0xffff {
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			continue
		}
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	b.WriteByte('"')
	return b.String()
}

// largestRequest is the largest legal SendMessage in its longest encoding:
// every key the protocol knows (those SendMessage does not use are
// ignored), each value at its longest, every character of keys and values
// escaped, content of limits.ContentMax emoji, whitespace around every
// member.
func largestRequest(l actors.Limits, room string) string {
	member := func(key, value string) string { return "\n\t" + escaped(key) + " : " + value }
	name := strings.Repeat("n", l.UsernameMax)
	id := "01JDR7Y0000000000000000000"
	members := []string{
		member("type", escaped("SendMessage")),
		member("ref", escaped(strings.Repeat("r", l.RefMax))),
		member("username", escaped(name)),
		member("room", escaped(room)),
		member("content", escaped(strings.Repeat("\U0001F600", l.ContentMax))),
		member("to", escaped(name)),
		member("since", escaped(id)),
		member("before", escaped(id)),
		member("nonce", escaped(strings.Repeat("k", l.RefMax))),
		member("limit", "-9223372036854775808"),
		member("with", escaped(name)),
		member("id", escaped(id)),
	}
	return "{" + strings.Join(members, ",") + "\n}"
}

// TestLargestLegalRequestIsAccepted (issue 12, item 9): a message of the
// longest length, every character an emoji written as a JSON surrogate-pair
// escape (12 bytes each), in a request that carries every key the protocol
// knows at its longest, all escaped, is acknowledged, not closed with 1009:
// the default frame limit is derived from the limits (Limits.MaxRequestBytes).
// With -max-message raised, the derived limit grows with it.
func TestLargestLegalRequestIsAccepted(t *testing.T) {
	bigger := actors.DefaultLimits
	bigger.ContentMax, bigger.RefMax, bigger.UsernameMax, bigger.RoomMax = 10000, 128, 40, 80
	for _, full := range []actors.Limits{actors.DefaultLimits, bigger} {
		_, addr := start(t, server.Config{Hub: actors.Config{Limits: full}, Transport: transport.Options{PingInterval: time.Hour}})
		room := strings.Repeat("r", full.RoomMax)
		w := dialWire(t, addr)
		w.write(text(`{"type":"JoinRoom","room":"` + room + `","ref":"join"}`))
		if got := w.reply("join"); got != "Ack" {
			t.Fatalf("join: got %s, want Ack", got)
		}
		req := largestRequest(full, room)
		limit := full.MaxRequestBytes()
		w.write(text(req))
		if got := w.reply(strings.Repeat("r", full.RefMax)); got != "Ack" {
			t.Errorf("message of %d characters: the largest request (%d bytes): got %s, want Ack", full.ContentMax, len(req), got)
		}
		if int64(len(req)) > limit {
			t.Errorf("message of %d characters: the largest request is %d bytes, over the frame limit %d", full.ContentMax, len(req), limit)
		}
		t.Logf("message of %d characters: largest request %d bytes, frame limit %d bytes (%.1f KiB)", full.ContentMax, len(req), limit, float64(limit)/1024)
	}
}

// TestFrameHeaderOverTheLimitClosesAtOnce (issue 12, item 11): a frame
// header that claims 2^63-1 bytes, or one byte over the limit, closes with
// 1009 as soon as its length has arrived: no byte of the payload is
// needed (and one sent whole is read and dropped, so that the client can
// read the close frame), and the heartbeat (an hour here; it would close without a close
// frame) has nothing to do with it. In the fragments of one message, the
// limit counts their sum. A bystander is served throughout.
func TestFrameHeaderOverTheLimitClosesAtOnce(t *testing.T) {
	s, addr := start(t, server.Config{Transport: transport.Options{PingInterval: time.Hour}})
	limit := uint64(actors.DefaultLimits.MaxRequestBytes())
	bystander := dialWire(t, addr)
	header := func(fin bool, op byte, n uint64) []byte { return wsframe.AppendHeader(nil, fin, op, n, wsframe.Key) }
	max64 := append([]byte{0x81, 0x80 | 127}, binary.BigEndian.AppendUint64(nil, 1<<63-1)...)
	max64 = append(max64, wsframe.Key[:]...)
	first := wsframe.Client(false, wsframe.OpText, make([]byte, limit/2))
	cases := []struct {
		name   string
		attack []byte
		chunk  int // written in pieces of this many bytes, a pause between them; 0: at once
	}{
		{"2^63-1 bytes", max64, 0},
		{"2^63-1 bytes, the header without its masking key", max64[:10], 0},
		{"one byte over the limit", header(true, wsframe.OpText, limit+1), 0},
		{"a binary frame over the limit", header(true, wsframe.OpBinary, limit+1), 0},
		{"a continuation that takes the message over", append(first, header(true, wsframe.OpContinuation, limit/2+2)...), 0},
		// Sent whole: the server must read on (and discard) while the client
		// still writes, or its close would reset the connection: the
		// client's writes would fail, and the 1009 could be lost
		// (park.Conn.Close lingers).
		{"a 512 KiB message, sent whole in 16 KiB writes", wsframe.Client(true, wsframe.OpText, make([]byte, 512<<10)), 16 << 10},
	}
	n := scale(1, 20) // connections per case
	for _, c := range cases {
		ws := make([]*wireClient, n)
		for i := range ws {
			ws[i] = dialWire(t, addr)
			for b := c.attack; len(b) > 0; {
				n := len(b)
				if c.chunk > 0 {
					n = min(n, c.chunk)
					time.Sleep(time.Millisecond) // the server reads the header while the client still writes
				}
				ws[i].write(b[:n]) // fails on a reset
				b = b[n:]
			}
		}
		for _, w := range ws {
			if code, reason, _ := w.closed(); code != 1009 {
				t.Errorf("%s: got close %d %q, want 1009", c.name, code, reason)
			}
		}
	}
	bystander.write(text(`{"type":"ListRooms","ref":"after"}`))
	if got := bystander.reply("after"); got != "RoomList" {
		t.Errorf("bystander: got %s, want RoomList", got)
	}
	if got := int(metric(t, s, "parley_streams_refused_total")); got != n*len(cases) {
		t.Errorf("parley_streams_refused_total: got %d, want %d", got, n*len(cases))
	}
}
