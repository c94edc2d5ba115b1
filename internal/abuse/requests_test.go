package abuse

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/server"
)

// Item 3: renames flood every member. In a 300-member room, 80 renames
// delivered 142 MB (the whole member list, to everyone, each time). Now a
// rename costs each member two small frames, and a connection renames at
// most twice at once, then once every 10 s.
func TestRenamesCostMembersLittle(t *testing.T) {
	members := scale(60, 300)
	_, addr := start(t, server.Config{Hub: actors.Config{Limits: actors.Limits{ClientRatePerSec: 1 << 20, ClientBurst: 1 << 20}}})
	var chs []*chatter
	for i := range members {
		ch := connect(t, addr, nil)
		if f := ch.do(map[string]any{"type": "SetUsername", "username": fmt.Sprintf("member-%03d", i)}); f.str("type") != "Ack" {
			t.Fatalf("name: %v", f)
		}
		if f := ch.do(map[string]any{"type": "JoinRoom", "room": "big"}); f.str("type") != "Ack" {
			t.Fatalf("join: %v", f)
		}
		chs = append(chs, ch)
	}
	watcher, renamer := chs[0], chs[len(chs)-1]
	// The watcher reads to the last member's arrival first.
	last := fmt.Sprintf("member-%03d", len(chs)-1)
	for f := watcher.next(); !(f.str("type") == "UserJoined" && f.str("username") == last); f = watcher.next() {
	}
	if f := renamer.do(map[string]any{"type": "SetUsername", "username": "renamed-once"}); f.str("type") != "Ack" {
		t.Fatalf("first rename: %v", f)
	}
	// What the watcher received for the rename, up to a marker message.
	if f := renamer.do(map[string]any{"type": "SendMessage", "room": "big", "content": "marker"}); f.str("type") != "Ack" {
		t.Fatalf("marker: %v", f)
	}
	bytes := 0
	for f := watcher.next(); f.str("content") != "marker" || f.str("type") != "Message"; f = watcher.next() {
		b, _ := json.Marshal(f)
		bytes += len(b)
	}
	if bytes > 512 {
		t.Errorf("a rename in a %d-member room: got %d bytes to each member, want a small event (at most 512)", members, bytes)
	}
	t.Logf("one rename cost each of %d members %d bytes", members, bytes)
	renamer.do(map[string]any{"type": "SetUsername", "username": "renamed-twice"})
	if f := renamer.do(map[string]any{"type": "SetUsername", "username": "renamed-thrice"}); code(f) != "rate_limited" {
		t.Errorf("a third rename at once: got %v, want rate_limited", f)
	}
}

// Item 2: small requests with large answers. ListRooms returned every
// room (880 KB after a flood); now a page of them with the total.
func TestListRoomsIsBounded(t *testing.T) {
	rooms := scale(300, 10000)
	srv, addr := start(t, server.Config{Hub: actors.Config{Limits: actors.Limits{
		RoomsPerMinute: 1 << 20, ClientRoomsPerMinute: 1 << 20, RoomsPerSession: 1 << 20,
		RatePerSec: 1 << 20, RateBurst: 1 << 20, MaxRooms: 1 << 20,
	}}})
	holder := newBystander(t, srv, "192.0.2.9")
	for i := range rooms {
		if got := holder.join(fmt.Sprintf("room-%05d-%s", i, strings.Repeat("y", 40))); got != "Ack" {
			t.Fatalf("room %d: %s", i, got)
		}
	}
	ch := connect(t, addr, nil)
	total := rooms + 3 // and the default rooms
	for _, tc := range []struct {
		req  map[string]any
		want int
	}{
		{map[string]any{"type": "ListRooms"}, 100},
		{map[string]any{"type": "ListRooms", "limit": 1 << 30}, min(actors.RoomListMax, total)},
	} {
		f := ch.do(tc.req)
		b, _ := json.Marshal(f)
		if n := len(f["rooms"].([]any)); n != tc.want || f["truncated"] != (total > tc.want) || f["total"] != float64(total) {
			t.Errorf("%v over %d rooms: got %d rooms (%d bytes), total %v, truncated %v; want %d of %d",
				tc.req, total, n, len(b), f["total"], f["truncated"], tc.want, total)
		}
	}
}

// Items 2 and 13: a page of history costs what it reads, a client's
// connections share one budget, and a burst of large requests cannot make
// a connection's own replies cut it off. Five connections of one client
// ask for 512 KiB pages as fast as they can: what they get stays within
// the client's budget, and none is closed.
func TestHeavyRequestsAreCharged(t *testing.T) {
	srv, addr := start(t, server.Config{})
	// A room whose newest page is full: 200 messages of ~3.9 KiB.
	fillRoom(t, srv, "big", 200, 3900)
	attackers := make([]*chatter, 5)
	for i := range attackers {
		attackers[i] = connect(t, addr, nil)
		attackers[i].do(map[string]any{"type": "JoinRoom", "room": "big"})
	}
	start := time.Now()
	pages, refused := 0, 0
	rounds := scale(1, 5)
	for round := range rounds {
		if round > 0 {
			// Past the rate limit a client may only go so far before it
			// is closed for abuse (a different promise): pause.
			time.Sleep(5 * time.Second)
		}
		for _, a := range attackers {
			// Forty requests at once, unread until all are sent.
			refs := make([]string, 40)
			for i := range refs {
				refs[i] = a.send(map[string]any{"type": "History", "room": "big", "limit": 200})
			}
			for range refs {
				f := a.next()
				for f.str("ref") == "" {
					f = a.next()
				}
				switch {
				case f.str("type") == "History":
					pages++
				case code(f) == "rate_limited":
					refused++
				default:
					t.Fatalf("a History in the burst: got %v, want a page or rate_limited", f)
				}
			}
		}
	}
	elapsed := time.Since(start)
	d := actors.DefaultLimits
	// Each page spends 1 + 16 tokens of the client's budget (a full page is
	// 512 KiB): at most its burst and its refill over the attack, plus one
	// page per connection that went into debt.
	budget := (float64(5*d.RateBurst) + 5*d.RatePerSec*elapsed.Seconds()) / 17
	if max := int(budget) + len(attackers); pages > max {
		t.Errorf("512 KiB pages served to one client in %v: got %d, want at most %d", elapsed, pages, max)
	}
	t.Logf("%d rounds of 40 History from 5 connections in %v: %d pages served, %d refused", rounds, elapsed, pages, refused)
}

// Item 2: a catch-up from the beginning of time read 4 MB from SQLite to
// send 512 KiB. Now the read stops at the page's byte budget (proven in
// persistence), and the reply is one bounded page, truncated.
func TestCatchUpFromTheStartIsOnePage(t *testing.T) {
	srv, addr := start(t, server.Config{})
	n := scale(300, 1000)
	fillRoom(t, srv, "long", n, 3900)
	ch := connect(t, addr, nil)
	ref := ch.send(map[string]any{"type": "JoinRoom", "room": "long", "since": strings.Repeat("0", 26)})
	var h frame
	for h = ch.next(); !(h.str("type") == "History" && h.str("ref") == ref); h = ch.next() {
	}
	b, _ := json.Marshal(h)
	if len(b) > 520<<10 || h["truncated"] != true || len(h["messages"].([]any)) >= n {
		t.Errorf("JoinRoom{since: 0…} in a room of %d × 3.9 KiB: got %d bytes, %d messages, truncated %v; want one page of at most 512 KiB, truncated",
			n, len(b), len(h["messages"].([]any)), h["truncated"])
	}
}

// Item 2, the bystander: while five connections of one client ask for full
// History pages as fast as the server lets them (reading every reply), a
// user elsewhere keeps its everyday latency: its p99 round trip stays
// within twice its idle value (and 5 ms, below which a loopback round
// trip is noise). A timing: make abuse only.
func TestBystanderLatencyUnderHistoryAbuse(t *testing.T) {
	fullOnly(t, "a bystander's p99 under attack")
	srv, addr := start(t, server.Config{})
	fillRoom(t, srv, "big", 200, 3900)
	user := connect(t, addr, nil)
	user.do(map[string]any{"type": "JoinRoom", "room": "general"})
	p99 := func() time.Duration {
		var d []time.Duration
		for range 200 { // 16 a second: within its own rate limit
			at := time.Now()
			user.do(map[string]any{"type": "ListRooms"})
			d = append(d, time.Since(at))
			time.Sleep(60 * time.Millisecond)
		}
		slices.Sort(d)
		return d[len(d)*99/100]
	}
	idle := p99()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 5 {
		a := connect(t, addr, nil)
		a.do(map[string]any{"type": "JoinRoom", "room": "big"})
		wg.Add(1)
		go func() { // asks and reads until stop; errors end it quietly (the test judges the bystander)
			defer wg.Done()
			ctx := context.Background()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if a.c.Write(ctx, websocket.MessageText, []byte(`{"type":"History","room":"big","limit":200,"ref":"h"}`)) != nil {
					return
				}
				for {
					_, b, err := a.c.Read(ctx)
					if err != nil {
						return
					}
					if strings.Contains(string(b), `"ref":"h"`) {
						break
					}
				}
			}
		}()
	}
	loaded := p99()
	close(stop)
	wg.Wait()
	t.Logf("bystander p99: idle %v, under attack %v", idle, loaded)
	if limit := max(2*idle, 5*time.Millisecond); loaded > limit {
		t.Errorf("bystander p99 under attack: got %v, want at most %v (idle %v)", loaded, limit, idle)
	}
}
