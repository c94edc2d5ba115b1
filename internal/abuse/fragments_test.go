package abuse

import (
	"strings"
	"testing"
	"time"

	"parley/internal/server"
	"parley/internal/wsframe"
	"parley/transport"
)

// messageTimeout is the message deadline these tests run with: short, so
// that the test waits little for the close it expects (production: 10 s).
const messageTimeout = 300 * time.Millisecond

// TestUnfinishedMessageCloses (issue 12, item 5): a message begun must be
// completed within the message timeout, however the client paces it: a
// 16 KB fragment without FIN followed by answered pings, a frame's payload
// trickled a byte at a time, a header, or a ping's payload, cut short. Each closes with
// 1008, and the server has no reader left for any of them (a connection
// cannot be kept out of the parked state). Complete messages sent slowly,
// for longer than the timeout in all, are served: the deadline is per
// message. The waits are bounded by the close (or testkit.WaitLimit), never
// timed.
func TestUnfinishedMessageCloses(t *testing.T) {
	s, addr := start(t, server.Config{Transport: transport.Options{PingInterval: time.Hour, MessageTimeout: messageTimeout}})
	bystander := dialWire(t, addr)
	ping := wsframe.Client(true, wsframe.OpPing, []byte("p"))
	// Each attack writes what it begins with, then one more piece every
	// 20 ms until stop is closed or the server has closed the socket.
	type attack struct {
		name          string
		begin, repeat []byte
	}
	cases := []attack{
		{"a 16 KB fragment, then pings (answered)", wsframe.Client(false, wsframe.OpText, make([]byte, 16<<10)), ping},
		{"a frame's payload trickled", wsframe.AppendHeader(nil, true, wsframe.OpText, 1000, wsframe.Key), []byte{0}},
		{"a header cut short", []byte{0x81, 0x80 | 127, 0}, nil},
		{"a ping's payload cut short", wsframe.AppendHeader(nil, true, wsframe.OpPing, 100, wsframe.Key), []byte{0}},
	}
	n := scale(2, 500) // connections per case
	for _, c := range cases {
		stop := make(chan struct{})
		ws := make([]*wireClient, n)
		for i := range ws {
			ws[i] = dialWire(t, addr)
			go func(w *wireClient) { // ends when stop is closed or a write fails
				if _, err := w.nc.Write(c.begin); err != nil {
					return
				}
				for {
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
					if _, err := w.nc.Write(c.repeat); err != nil {
						return
					}
				}
			}(ws[i])
		}
		began := time.Now() // the last attacker began
		pongs := 0
		for _, w := range ws {
			code, reason, p := w.closed() // reads the pongs as they come: the pings are answered
			if code != 1008 || reason != "message not completed in time" {
				t.Errorf("%s: got close %d %q, want 1008 %q", c.name, code, reason, "message not completed in time")
			}
			pongs += p
		}
		close(stop)
		t.Logf("%s: %d connections, all closed with 1008 within %v of the last one's start (timeout %v); %d pings answered before", c.name, n, time.Since(began).Round(time.Millisecond), messageTimeout, pongs)
	}
	// Every attacker is gone, and no reader is left: the bystander, idle,
	// is parked.
	waitMetric(t, s, "parley_connection_readers", func(v float64) bool { return v == 0 })

	// Complete messages, each in one write, over more than the timeout.
	for i := range 5 {
		bystander.write(text(`{"type":"ListRooms","ref":"slow"}`))
		if got := bystander.reply("slow"); got != "RoomList" {
			t.Fatalf("bystander, request %d: got %s, want RoomList", i, got)
		}
		time.Sleep(messageTimeout / 2)
	}
}

// TestPingsAndFragmentsAreCharged (issue 12, item 5): control frames and
// fragments cost a connection what requests cost, one each against its rate
// limit, so that they are not a free way to keep the server busy: a flood
// of pings, or a message in hundreds of fragments, closes with 1008 like a
// flood of requests. A client that sends a few of each is served.
func TestPingsAndFragmentsAreCharged(t *testing.T) {
	s, addr := start(t, server.Config{Transport: transport.Options{PingInterval: time.Hour}})
	ping := wsframe.Client(true, wsframe.OpPing, []byte("p"))
	fragmented := func(parts int) []byte {
		var b []byte
		for i := range parts {
			op := wsframe.OpContinuation
			if i == 0 {
				op = wsframe.OpText
			}
			b = wsframe.AppendClient(b, i == parts-1, op, []byte(" "), wsframe.Key)
		}
		return b
	}
	// A few: a ping and a message in 3 fragments, with the request itself.
	w := dialWire(t, addr)
	req := `{"type":"ListRooms","ref":"few"}`
	few := append([]byte{}, ping...)
	few = wsframe.AppendClient(few, false, wsframe.OpText, []byte(req[:10]), wsframe.Key)
	few = append(few, ping...)
	few = wsframe.AppendClient(few, false, wsframe.OpContinuation, []byte(req[10:20]), wsframe.Key)
	few = wsframe.AppendClient(few, true, wsframe.OpContinuation, []byte(req[20:]), wsframe.Key)
	w.write(few)
	if got := w.reply("few"); got != "RoomList" {
		t.Fatalf("a few pings and fragments: got %s, want RoomList", got)
	}

	limitedBefore := int(metric(t, s, "parley_rate_limited_total"))
	floods := []struct {
		name  string
		flood []byte
	}{
		{"400 pings", []byte(strings.Repeat(string(ping), 400))},
		{"a message in 400 fragments", fragmented(400)},
	}
	for _, f := range floods {
		w := dialWire(t, addr)
		w.write(f.flood)
		code, reason, pongs := w.closed()
		if code != 1008 || reason != "rate limit exceeded" {
			t.Errorf("%s: got close %d %q, want 1008 %q", f.name, code, reason, "rate limit exceeded")
		}
		t.Logf("%s: %d pongs, then close %d %q", f.name, pongs, code, reason)
	}
	if got := int(metric(t, s, "parley_rate_limited_total")) - limitedBefore; got == 0 {
		t.Errorf("parley_rate_limited_total: got %d more, want the floods counted", got)
	}
}
