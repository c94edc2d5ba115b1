package actors_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"parley/actors"
	"parley/internal/protocol"
)

// fill has c send n messages of size bytes to room, reading each back.
func (c *client) fill(room string, n, size int) {
	c.t.Helper()
	for i := range n {
		c.do(protocol.Request{Type: "SendMessage", Room: room, Content: fmt.Sprintf("%d%s", i, strings.Repeat("x", size))})
		c.waitFor("Message", nil)
	}
}

// A History costs what it reads: a page of about 200 KiB spends seven
// requests' tokens (one, and six of ReplyUnit), so a bucket of 1000 serves
// 142 such pages where it serves 1000 small requests; the clock is still.
func TestHistoryCostsWhatItReads(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 0.001, RateBurst: 1000, ClientBurst: 1 << 20}})
	w := f.connect()
	w.join("big")
	w.fill("big", 50, 3990) // 50 × ~4.1 KiB: a page of ~205 KiB

	r := f.connect() // a bucket of its own, full: 1000
	r.join("big")
	served := 0
	for {
		r.do(protocol.Request{Type: "History", Room: "big", Ref: "h"})
		fr := r.next()
		if fr.str("type") != "History" {
			if fr.str("code") != "rate_limited" {
				t.Fatalf("History %d: got %v, want a page or rate_limited", served+1, fr)
			}
			break
		}
		served++
		if served > 1000 {
			t.Fatalf("History pages: more than 1000 served from a bucket of 1000")
		}
	}
	// The join's reply was a page too: 7 of the 1000. A page is served
	// while a token is left, the last one into debt.
	if want := (1000 - 7 + 6) / 7; served != want {
		t.Errorf("pages of ~205 KiB from a bucket of 1000: got %d served, want %d", served, want)
	}
}

// A client that asks for large replies faster than it reads them is told
// to read first, and is not cut off by its own replies.
func TestHeavyRequestsWaitForRoomInTheQueue(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 1e6, RateBurst: 1 << 20}})
	a := f.connect()
	a.join("big")
	a.fill("big", 200, 3900) // ~800 KiB: every History page is full (512 KiB)
	var got []string
	for i := range 3 {
		a.do(protocol.Request{Type: "History", Room: "big", Limit: 200, Ref: fmt.Sprint("h", i)})
	}
	a.take()
	for _, fr := range a.backlog {
		got = append(got, fr.str("type")+" "+fr.str("code"))
	}
	a.backlog = nil
	// Two full pages fit in the queue (1 MiB); the third would not.
	if want := []string{"History ", "History ", "Error rate_limited"}; !slices.Equal(got, want) {
		t.Errorf("three History pages unread: got %v, want %v", got, want)
	}
	select {
	case <-a.q.Done():
		t.Fatalf("the connection was closed by its own replies")
	default:
	}
	// Read, and ask again: served.
	a.do(protocol.Request{Type: "History", Room: "big", Limit: 200, Ref: "again"})
	if h := a.expect("History"); h.str("ref") != "again" || h["truncated"] != true {
		t.Errorf("History after reading: got %v, want the page", h)
	}
}

// The connections of one client share a budget of requests beside their
// own: together they send what ClientBurst allows at once.
func TestClientBudgetIsShared(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 0.001, RateBurst: 40, ClientRatePerSec: 0.001, ClientBurst: 10}})
	a, b := f.connectFrom("10.0.0.1"), f.connectFrom("10.0.0.1")
	other := f.connectFrom("10.0.0.2")
	list := func(c *client) string {
		c.do(protocol.Request{Type: "ListRooms", Ref: "l"})
		fr := c.next()
		return fr.str("type") + fr.str("code")
	}
	for i := range 6 {
		if got := list(a); got != "RoomList" {
			t.Fatalf("a's request %d: got %s, want RoomList", i, got)
		}
	}
	for i := range 4 {
		if got := list(b); got != "RoomList" {
			t.Fatalf("b's request %d: got %s, want RoomList", i, got)
		}
	}
	if got := list(b); got != "Errorrate_limited" {
		t.Errorf("b past the client's budget: got %s, want rate_limited", got)
	}
	if got := list(other); got != "RoomList" {
		t.Errorf("another client: got %s, want RoomList", got)
	}
}

// ListRooms is bounded: a limit (the busiest rooms, shown by name), the
// total that matched, truncated; a prefix selects by name.
func TestListRoomsIsBounded(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RoomsPerMinute: 1000, ClientRoomsPerMinute: 1000, RatePerSec: 1e6, RateBurst: 1 << 20}})
	a, b := f.connect(), f.connect()
	for i := range 30 {
		a.join(fmt.Sprintf("r%02d", i))
	}
	b.join("r07")
	b.join("r21")
	list := func(req protocol.Request) (names []string, total float64, truncated bool) {
		t.Helper()
		req.Type, req.Ref = "ListRooms", "l"
		a.do(req)
		fr := a.waitFor("RoomList", nil)
		for _, r := range fr["rooms"].([]any) {
			names = append(names, r.(map[string]any)["name"].(string))
		}
		return names, fr["total"].(float64), fr["truncated"].(bool)
	}
	if names, total, truncated := list(protocol.Request{}); len(names) != 33 || total != 33 || truncated {
		t.Errorf("ListRooms: got %d of %v, truncated %t, want all 33", len(names), total, truncated)
	}
	names, total, truncated := list(protocol.Request{Limit: 2})
	if !slices.Equal(names, []string{"r07", "r21"}) || total != 33 || !truncated {
		t.Errorf("ListRooms{limit 2}: got %v of %v, truncated %t, want the two busiest, r07 and r21, truncated", names, total, truncated)
	}
	names, total, truncated = list(protocol.Request{Prefix: "R1"})
	if len(names) != 10 || names[0] != "r10" || total != 10 || truncated {
		t.Errorf("ListRooms{prefix R1}: got %v of %v, truncated %t, want r10..r19", names, total, truncated)
	}
	if names, total, _ := list(protocol.Request{Prefix: "zz"}); len(names) != 0 || total != 0 {
		t.Errorf("ListRooms{prefix zz}: got %v of %v, want none", names, total)
	}
}
