package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestContentRoundTrip(t *testing.T) {
	for _, id := range []msgID{
		{phase: 0, sender: 0, seq: 0, sent: 1},
		{phase: 17, sender: 4999, seq: refMaxSeq, sent: 1_763_000_000_123_456_789},
	} {
		for _, size := range []int{48, 128, 4000} {
			c := appendContent(nil, id, size)
			if len(c) != size {
				t.Fatalf("size %d: content of %d bytes", size, len(c))
			}
			got, ok := parseContent(c)
			if !ok || got != id {
				t.Fatalf("parseContent(%q) = %+v, %v; want %+v", c, got, ok, id)
			}
		}
	}
	for _, bad := range []string{"", "x", "1:2:3", "1:2:3:4", "a:2:3:4:", "1::3:4:", "1:2:3:99999999999999999999:"} {
		if _, ok := parseContent([]byte(bad)); ok {
			t.Errorf("parseContent(%q) accepted", bad)
		}
	}
}

func TestRefs(t *testing.T) {
	for _, c := range []struct{ phase, seq int }{{0, 0}, {5, 12345}, {refMaxPhase, refMaxSeq}} {
		p, s, data := splitRef(dataRef(c.phase, c.seq))
		if !data || p != c.phase || s != c.seq {
			t.Errorf("splitRef(dataRef(%d, %d)) = %d, %d, %v", c.phase, c.seq, p, s, data)
		}
	}
	if _, _, data := splitRef(2); data {
		t.Error("setup ref 2 taken for a data ref")
	}
}

func TestBitsetLossAndDuplicates(t *testing.T) {
	var seen, rejected bitset
	const sent = 200
	for i := range sent {
		if i%10 == 3 { // never arrives
			continue
		}
		if seen.testAndSet(i) {
			t.Fatalf("%d reported duplicate on first sight", i)
		}
	}
	if !seen.testAndSet(5) {
		t.Fatal("second sight of 5 not reported as a duplicate")
	}
	rejected.testAndSet(13) // rejected by the server: not lost
	rejected.testAndSet(150)
	if got, want := seen.missing(sent, rejected), int64(20-1); got != want {
		t.Errorf("missing = %d, want %d", got, want)
	}
	if got := seen.missing(0, nil); got != 0 {
		t.Errorf("missing of nothing sent = %d", got)
	}
	var empty bitset
	if got := empty.missing(130, nil); got != 130 {
		t.Errorf("missing with nothing seen = %d, want 130", got)
	}
}

func TestScanning(t *testing.T) {
	frame := []byte(`{"type":"Message","id":"01J","room":"r","username":"u","content":"0:1:2:3:xx","timestamp":"t"}` + "\n" +
		`{"type":"Ack","ref":"2147483650","id":"01J","timestamp":"t"}` + "\n" +
		`{"type":"UserJoined","username":"a\"content\":\"no","room":"r"}`)
	var got []string
	lines(frame, func(l []byte) {
		typ, _ := stringField(l, `"type":"`)
		c, ok := stringField(l, `"content":"`)
		got = append(got, fmt.Sprintf("%s:%s:%v", typ, c, ok))
	})
	want := []string{"Message:0:1:2:3:xx:true", "Ack::false", "UserJoined::false"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
	if v, ok := uintField([]byte(`{"id":4294967295,"publish":{}}`), `"id":`); !ok || v != 4294967295 {
		t.Errorf("uintField = %d, %v", v, ok)
	}
}

func TestJudgeAndKnee(t *testing.T) {
	ok := phaseResult{Latency: latencySummary{Count: 10, P99: 50}}
	slow := phaseResult{Latency: latencySummary{Count: 10, P99: 150}}
	lossy := phaseResult{Latency: latencySummary{Count: 10, P99: 5}, Lost: 3}
	busy := phaseResult{Latency: latencySummary{Count: 10, P99: 5}, Rejected: 1, Errors: map[string]int64{"server_busy": 1}}
	steps := []phaseResult{ok, ok, slow, ok}
	for i := range steps {
		judge(&steps[i], 100*time.Millisecond)
	}
	if steps[2].Pass || !strings.Contains(steps[2].FailReason, "p99") {
		t.Errorf("slow step: pass=%v %q", steps[2].Pass, steps[2].FailReason)
	}
	if k := knee(steps); k != 1 {
		t.Errorf("knee = %d, want 1", k)
	}
	for _, r := range []phaseResult{lossy, busy} {
		judge(&r, 100*time.Millisecond)
		if r.Pass {
			t.Errorf("%+v passed", r)
		}
	}
	first := []phaseResult{slow}
	judge(&first[0], 100*time.Millisecond)
	if k := knee(first); k != -1 {
		t.Errorf("knee of a failing first step = %d", k)
	}
}

func TestRateStepper(t *testing.T) {
	for _, c := range []struct {
		in       string
		from, to float64
	}{{"1.25", 100, 125}, {"x2", 10, 20}, {"*1.5", 10, 15}, {"+50", 10, 60}} {
		f, err := rateStepper(c.in)
		if err != nil {
			t.Fatalf("%q: %v", c.in, err)
		}
		if got := f(c.from); math.Abs(got-c.to) > 1e-9 {
			t.Errorf("%q: %g -> %g, want %g", c.in, c.from, got, c.to)
		}
	}
	for _, bad := range []string{"", "1", "0.5", "+0", "+x", "abc"} {
		if _, err := rateStepper(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPercentiles(t *testing.T) {
	h := newHist()
	for i := 1; i <= 1000; i++ {
		recordMicros(h, int64(i)*1_000_000) // 1..1000 ms, in ns
	}
	s := summarize(h)
	if math.Abs(s.P50-500) > 1 || math.Abs(s.P99-990) > 2 || math.Abs(s.Max-1000) > 2 {
		t.Errorf("summary %+v", s)
	}
	c := latencyCurve(h)
	if len(c) < 10 {
		t.Fatalf("curve of %d points", len(c))
	}
	for i := 1; i < len(c); i++ {
		if c[i].Percentile < c[i-1].Percentile || c[i].Ms < c[i-1].Ms {
			t.Fatalf("curve not monotonic at %d: %+v %+v", i, c[i-1], c[i])
		}
	}
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %g", got)
	}
	if got := median([]float64{4, 1, 2, 3}); got != 2.5 {
		t.Errorf("median = %g", got)
	}
}

func TestCPUList(t *testing.T) {
	got, err := parseCPUList("0,2-4")
	if err != nil || fmt.Sprint(got) != "[0 2 3 4]" {
		t.Errorf("parseCPUList = %v, %v", got, err)
	}
	for _, bad := range []string{"", "a", "3-1", "-1"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if commas(19994) != "19,994" || commas(999) != "999" || commas(1000000) != "1,000,000" {
		t.Error("commas")
	}
}

// TestWSClient runs the bench's WebSocket client against coder/websocket's
// server: subprotocol, a batched frame, a fragmented one, a ping, the close.
func TestWSClient(t *testing.T) {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{parleyBatchProtocol}})
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		ctx := context.Background()
		go func() { _ = c.Ping(ctx) }() // needs our reader to answer; ignored otherwise
		for i := 0; i < 2; i++ {
			_, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, websocket.MessageText, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
		big := strings.Repeat("y", 70000) // 64-bit length
		w2, _ := c.Writer(ctx, websocket.MessageText)
		_, _ = w2.Write([]byte("a\n"))
		_, _ = w2.Write([]byte(big))
		_ = w2.Close()
		_ = c.Close(websocket.StatusPolicyViolation, "bye")
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	c, err := wsDial(ctx, dialer(url, 3), url, []string{parleyBatchProtocol})
	if err != nil {
		t.Fatal(err)
	}
	if c.proto != parleyBatchProtocol {
		t.Errorf("subprotocol %q", c.proto)
	}
	if err := c.WriteTexts([][]byte{[]byte("one"), []byte(strings.Repeat("z", 300))}, time.Now().Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	_, m, err := c.ReadMessage(buf)
	if err != nil || string(m) != "echo:one" {
		t.Fatalf("first: %q, %v", m, err)
	}
	_, m, err = c.ReadMessage(m)
	if err != nil || string(m) != "echo:"+strings.Repeat("z", 300) {
		t.Fatalf("second: %d bytes, %v", len(m), err)
	}
	_, m, err = c.ReadMessage(m)
	if err != nil || len(m) != 70002 || string(m[:2]) != "a\n" {
		t.Fatalf("big: %d bytes, %v", len(m), err)
	}
	_, _, err = c.ReadMessage(m)
	ce, ok := err.(*CloseError)
	if !ok || ce.Code != 1008 || ce.Reason != "bye" {
		t.Fatalf("close: %v", err)
	}
	c.Close()
	wg.Wait()
}
