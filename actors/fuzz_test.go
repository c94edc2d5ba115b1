package actors_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
	"parley/internal/server"
	"parley/internal/testkit"
	"parley/persistence"
	"parley/transport/outbound"
)

func FuzzNormalizeUsername(f *testing.F) {
	for _, s := range []string{"alice", "Bob_1", "", "a b", "ÄLICE", strings.Repeat("x", 33), "guest-12345", "\x00", "-_-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, key, ok := actors.NormalizeUsername(in, 32)
		if !ok {
			return
		}
		if name != in {
			t.Fatalf("display name: got %q, want the input %q unchanged", name, in)
		}
		name2, key2, ok2 := actors.NormalizeUsername(name, 32)
		if !ok2 || name2 != name || key2 != key {
			t.Fatalf("not idempotent: %q -> (%q, %q) -> (%q, %q, %v)", in, name, key, name2, key2, ok2)
		}
		if _, key3, _ := actors.NormalizeUsername(key, 32); key3 != key {
			t.Fatalf("key %q folds to %q, want itself", key, key3)
		}
		if strings.ToLower(in) != key || len(key) == 0 || len(key) > 32 {
			t.Fatalf("key of %q: got %q", in, key)
		}
	})
}

func FuzzNormalizeRoom(f *testing.F) {
	for _, s := range []string{"general", "Tech", "", "a/b", "ünïcode", strings.Repeat("r", 65), "my-room_2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		room, ok := actors.NormalizeRoom(in, 64)
		if !ok {
			return
		}
		again, ok2 := actors.NormalizeRoom(room, 64)
		if !ok2 || again != room {
			t.Fatalf("not idempotent: %q -> %q -> (%q, %v)", in, room, again, ok2)
		}
		for _, c := range room {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				t.Fatalf("room %q (from %q) holds %q", room, in, c)
			}
		}
	})
}

// FuzzRoomActor feeds room actors random sequences of join, leave, send and
// disconnect from three sessions over two rooms (a guest, and two
// connections of one account), and checks the invariants: every session
// receives exactly the messages sent to a room while it was a member, in the
// room's order, with ids strictly increasing per room, and no message
// reaches a non-member; the guest sees the account arrive and leave once
// per stay (its Members and UserJoined/UserLeft agree with whether any of
// the account's connections is in the room). (Rooms are independent actors: there is no
// order between two rooms' messages.) Requests run one at a time, and every control request waits
// for its room, so the model below is exact.
func FuzzRoomActor(f *testing.F) {
	f.Add([]byte{0x00, 0x01, 0x02, 0x10, 0x12, 0x05, 0x06, 0x09, 0x0a})
	f.Add([]byte{0x00, 0x04, 0x08, 0x02, 0x06, 0x0a, 0x0d, 0x02, 0x01, 0x0a})
	f.Add([]byte{0x20, 0x24, 0x22, 0x2b, 0x26, 0x27, 0x21, 0x22})

	// No goroutine left behind: every room actor and the store's writer
	// are gone once the server is shut down.
	testkit.CheckGoroutines(f, 2)
	srv := testkit.NewServer(f, server.Config{
		// Not to f.Logf: an F's log may not be written while its fuzz
		// function runs, and the server logs from its own goroutines.
		Logger: slog.Default(),
		Store:  persistence.Options{Synchronous: "OFF"},
		Hub: actors.Config{
			Limits: actors.Limits{RatePerSec: 1e9, RateBurst: 1 << 20, MaxRooms: 1 << 30, RoomsPerMinute: 1 << 30, ClientRoomsPerMinute: 1 << 30,
				RenameEvery: time.Nanosecond},
			Outbox: actors.OutboxLimits{Frames: 1 << 16, Bytes: 1 << 26},
			// Rooms retire as soon as they are empty, so joins race retirements.
			RoomIdle: time.Millisecond,
		},
	})
	hub, ctx := srv.Hub(), context.Background()
	run := 0

	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 200 {
			ops = ops[:200]
		}
		run++
		rooms := []string{fmt.Sprintf("f%d-a", run), fmt.Sprintf("f%d-b", run)}
		type member struct {
			s      *actors.Session
			q      *outbound.Queue // s's peer, drained by the test
			gone   bool
			in     map[string]bool
			want   map[string][]string // per room: contents expected, in order
			got    map[string][]string
			lastID map[string]string
			buf    [][]byte
			seen   map[string]bool // per room: the account is there, as the frames so far say
		}
		account := fmt.Sprintf("acct%d", run)
		var ms []*member
		for i := range 3 {
			q := outbound.New(hub.OutboxLimits())
			m := &member{q: q, in: map[string]bool{}, lastID: map[string]string{},
				want: map[string][]string{}, got: map[string][]string{}, seen: map[string]bool{}}
			if i == 0 {
				m.s = hub.Connect("fuzz", q)
			} else {
				m.s = hub.ConnectAccount("fuzz", q, account, false)
			}
			ms = append(ms, m)
		}
		accountIn := func(room string) bool { return ms[1].in[room] || ms[2].in[room] }
		drain := func(m *member) {
			m.buf = m.q.Take(m.buf)
			for _, b := range m.buf {
				var fr frame
				if err := jsonUnmarshal(b, &fr); err != nil {
					t.Fatalf("frame %q: %v", b, err)
				}
				room := fr.str("room")
				switch typ := fr.str("type"); {
				case m != ms[0]:
				case typ == "Members":
					m.seen[room] = slices.Contains(usernames(fr), account)
				case (typ == "UserJoined" || typ == "UserLeft") && fr.str("username") == account:
					if m.seen[room] == (typ == "UserJoined") {
						t.Fatalf("room %s: got %s %s while the account was %s", room, typ, account, map[bool]string{true: "in", false: "out"}[m.seen[room]])
					}
					m.seen[room] = typ == "UserJoined"
				}
				if fr.str("type") != "Message" {
					continue
				}
				if id := fr.str("id"); id <= m.lastID[room] {
					t.Fatalf("room %s: id %s after %s", room, id, m.lastID[room])
				} else {
					m.lastID[room] = id
				}
				m.got[room] = append(m.got[room], fr.str("content"))
			}
		}
		for i, op := range ops {
			m := ms[int(op>>2)%3]
			room := rooms[int(op>>4)%2]
			if m.gone {
				continue
			}
			switch op % 4 {
			case 0:
				m.s.Handle(ctx, protocol.Request{Type: "JoinRoom", Room: room})
				m.in[room] = true
			case 1:
				m.s.Handle(ctx, protocol.Request{Type: "LeaveRoom", Room: room})
				delete(m.in, room)
			case 2:
				content := fmt.Sprintf("op%d", i)
				m.s.Handle(ctx, protocol.Request{Type: "SendMessage", Room: room, Content: content})
				if m.in[room] {
					for _, other := range ms {
						if !other.gone && other.in[room] {
							other.want[room] = append(other.want[room], content)
						}
					}
				}
			case 3:
				drain(m)
				m.s.Close()
				m.gone = true
				clear(m.in) // its leave on close took it out of its rooms
			}
		}
		// A barrier: a join waits for its room, whose inbox is FIFO, so every
		// earlier post has been fanned out once it returns.
		probe := hub.Connect("probe", outbound.New(hub.OutboxLimits()))
		for _, r := range rooms {
			probe.Handle(ctx, protocol.Request{Type: "JoinRoom", Room: r})
		}
		probe.Close()
		for i, m := range ms {
			drain(m)
			for _, r := range rooms {
				if !slices.Equal(m.got[r], m.want[r]) {
					t.Fatalf("session %d, room %s: got messages %v, want %v", i, r, m.got[r], m.want[r])
				}
				if i == 0 && m.in[r] && m.seen[r] != accountIn(r) {
					t.Fatalf("room %s: the guest sees the account there: %v, want %v", r, m.seen[r], accountIn(r))
				}
			}
			if !m.gone {
				m.s.Close()
			}
		}
	})
}
