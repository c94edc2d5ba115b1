package abuse

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/protocol"
	"parley/internal/server"
	"parley/internal/testkit"
	"parley/transport"
	"parley/transport/outbound"
)

// bystander is a client from another address than the attack's, driven
// through the server's own hub (every test connection comes from
// 127.0.0.1): its requests run as a connection's would.
type bystander struct {
	t *testing.T
	s *actors.Session
	q *outbound.Queue
}

func newBystander(t *testing.T, srv *server.Server, addr string) *bystander {
	t.Helper()
	q := outbound.New(srv.Hub().OutboxLimits())
	b := &bystander{t: t, q: q, s: srv.Hub().Connect(addr, q)}
	t.Cleanup(b.s.Close)
	return b
}

// join asks to join room and returns the reply's type and code.
func (b *bystander) join(room string) string {
	b.t.Helper()
	b.q.Take(nil)
	b.s.Handle(context.Background(), protocol.Request{Type: protocol.TypeJoinRoom, Room: room, Ref: "j"})
	for _, f := range b.q.Take(nil) {
		if s := string(f); strings.Contains(s, `"ref":"j"`) {
			if strings.Contains(s, `"type":"Ack"`) {
				return "Ack"
			}
			return s
		}
	}
	return "no reply"
}

// Item 1: one client fills the server with rooms. 100 connections × 100
// JoinRoom with distinct 64-character names filled the 10,000-room cap in
// 3.4 s, for good. Now a client creates ClientRoomsPerMinute rooms a
// minute however many connections it opens, the rooms it made and left
// are forgotten, and someone else can create a room throughout.
func TestRoomFloodLeavesOthersAbleToCreate(t *testing.T) {
	// Loopback is a trusted proxy here, so that the bystander, over the
	// wire too, comes from another address (X-Forwarded-For).
	_, addr := start(t, server.Config{Transport: transport.Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}})
	conns, joins := scale(10, 100), scale(20, 100)
	created, refused := 0, 0
	for c := range conns {
		ch := connect(t, addr, nil)
		for j := range joins {
			name := fmt.Sprintf("%03d-%03d-", c, j) + strings.Repeat("x", 56)
			switch f := ch.do(map[string]any{"type": "JoinRoom", "room": name}); {
			case f.str("type") == "Ack":
				created++
			case code(f) == "rate_limited" || code(f) == "invalid_room":
				refused++
			default:
				t.Fatalf("join %s: got %v, want Ack or a refusal", name, f)
			}
		}
	}
	if max := actors.DefaultLimits.ClientRoomsPerMinute; created > max {
		t.Errorf("rooms one client created in a flood of %d: got %d, want at most %d", conns*joins, created, max)
	}
	t.Logf("flood: %d joins, %d rooms created, %d refused", conns*joins, created, refused)
	other := connect(t, addr, http.Header{"X-Forwarded-For": {"192.0.2.7"}})
	if f := other.do(map[string]any{"type": "JoinRoom", "room": "after-the-flood"}); f.str("type") != "Ack" {
		t.Errorf("another client creating a room after the flood: got %v, want Ack", f)
	}
}

// Item 1, after: rooms made and left empty without a message are
// forgotten, and do not come back with a restart.
func TestEmptyRoomsAreForgotten(t *testing.T) {
	srv, addr := start(t, server.Config{})
	ch := connect(t, addr, nil)
	for _, room := range []string{"made-and-left", "kept"} {
		if f := ch.do(map[string]any{"type": "JoinRoom", "room": room}); f.str("type") != "Ack" {
			t.Fatalf("join %s: got %v", room, f)
		}
	}
	if f := ch.do(map[string]any{"type": "SendMessage", "room": "kept", "content": "hello"}); f.str("type") != "Ack" {
		t.Fatalf("send: got %v", f)
	}
	for _, room := range []string{"made-and-left", "kept"} {
		ch.do(map[string]any{"type": "LeaveRoom", "room": room})
	}
	names := func(ch *chatter) string {
		f := ch.do(map[string]any{"type": "ListRooms"})
		var out []string
		for _, r := range f["rooms"].([]any) {
			out = append(out, r.(map[string]any)["name"].(string))
		}
		return strings.Join(out, " ")
	}
	if got, want := names(ch), "general kept random tech"; got != want {
		t.Errorf("rooms after leaving: got %q, want %q", got, want)
	}
	db := srv.DB()
	testkit.Stop(t, srv)
	_, addr = start(t, server.Config{DB: db})
	if got, want := names(connect(t, addr, nil)), "general kept random tech"; got != want {
		t.Errorf("rooms after a restart: got %q, want %q", got, want)
	}
}

// Item 10: the cap of running rooms is exact under any interleaving. With
// -max-rooms 50, 100 first joins at once all got Ack; now exactly 50 do.
func TestRoomCapHoldsUnderConcurrency(t *testing.T) {
	const max = 50
	tries := scale(100, 400)
	_, addr := start(t, server.Config{Hub: actors.Config{Limits: actors.Limits{
		MaxRooms: max, RoomsPerMinute: 1 << 20, ClientRoomsPerMinute: 1 << 20,
		ClientRatePerSec: 1 << 20, ClientBurst: 1 << 20,
	}}})
	chs := make([]*chatter, tries)
	for i := range chs {
		chs[i] = connect(t, addr, nil)
	}
	errs := make(chan error, tries)
	var wg sync.WaitGroup
	for i, ch := range chs {
		wg.Add(1)
		go func() { // exits when its one write is done
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
			defer cancel()
			req := fmt.Sprintf(`{"type":"JoinRoom","room":"race-%d","ref":"r"}`, i)
			if err := ch.c.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("write: %v", err)
	}
	joined := 0
	for _, ch := range chs {
		switch f := ch.reply("r"); {
		case f.str("type") == "Ack":
			joined++
		case code(f) != "invalid_room":
			t.Errorf("a first join past the cap: got %v, want invalid_room", f)
		}
	}
	if joined != max {
		t.Errorf("%d first joins at once under -max-rooms %d: got %d joined, want exactly %d", tries, max, joined, max)
	}
}

// fillRoom stores n messages of size bytes in room, which no one has
// joined yet (its actor reads its last id when it starts), straight into
// the server's store: a room with a long past, without the writer's rate
// limit.
func fillRoom(t *testing.T, srv *server.Server, room string, n, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	st := srv.Store()
	if err := st.CreateRoom(ctx, room, time.Now()); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, n)
	body := strings.Repeat("z", size)
	base := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		m := &actors.StoredMessage{
			ID: fmt.Sprintf("01JH%022d", i), Room: room, Username: "writer",
			Content: body, Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		}
		for !st.Append(m, func(err error) { errs <- err }) {
			time.Sleep(time.Millisecond) // the store's queue is full: it drains
		}
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("store a message: %v", err)
		}
	}
}
