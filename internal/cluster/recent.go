package cluster

import (
	"sync"

	"parley/actors"
)

// recent keeps, per room, the messages this node delivered that the store
// may not have yet: those after the store writers' acknowledgement floor.
// History's stream read (history.go) is served from it instead of one
// direct get per message, which under load is what a join waited on.
// The delivery loop adds each message before the room delivers it, so a
// room's last id is always here; prune drops what the floor passed; a
// room's messages past maxPerRoom, or all rooms' past maxBytes, drop its
// oldest (the store lagging that far: History reads the rest from the
// stream). Safe for concurrent use.
type recent struct {
	mu    sync.Mutex
	rooms map[string]*roomTail // guarded by mu
	bytes int                  // of every room's messages; guarded by mu
	base  uint64               // positions at or before it are not kept for rooms seen after; guarded by mu
	// delivered is the last position added: every room is known through
	// it. Guarded by mu.
	delivered uint64
}

// roomTail is one room's kept messages: every message of the room at
// positions after base, in order.
type roomTail struct {
	base uint64
	msgs []tailMsg
}

type tailMsg struct {
	pos uint64
	m   actors.StoredMessage
}

const (
	recentPerRoom = tailMax  // messages kept per room at most
	recentBytes   = 64 << 20 // bytes kept for all rooms at most
)

func newRecent(base uint64) *recent {
	return &recent{rooms: make(map[string]*roomTail), base: base, delivered: base}
}

// add keeps m, at pos (the delivery loop's, in stream order).
func (r *recent) add(pos uint64, m *actors.StoredMessage) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.rooms[m.Room]
	if t == nil {
		t = &roomTail{base: r.base}
		r.rooms[m.Room] = t
	}
	r.delivered = pos
	t.msgs = append(t.msgs, tailMsg{pos: pos, m: *m})
	r.bytes += actors.MessageSize(m)
	for len(t.msgs) > 0 && (len(t.msgs) > recentPerRoom || r.bytes > recentBytes) {
		r.drop(t, 1)
	}
}

func (r *recent) drop(t *roomTail, n int) {
	for _, x := range t.msgs[:n] {
		r.bytes -= actors.MessageSize(&x.m)
	}
	t.base = t.msgs[n-1].pos
	t.msgs = append(t.msgs[:0:0], t.msgs[n:]...)
}

// prune forgets what the store has: every message at or before floor.
func (r *recent) prune(floor uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.base = max(r.base, floor)
	for room, t := range r.rooms {
		n := 0
		for n < len(t.msgs) && t.msgs[n].pos <= floor {
			n++
		}
		if n > 0 {
			r.drop(t, n)
		}
		t.base = max(t.base, floor)
		if len(t.msgs) == 0 {
			delete(r.rooms, room)
		}
	}
}

// get returns room's kept messages at positions first..min(hi, known),
// where first is from, or the first position it keeps the room from
// (after the room's base) if that is later, and known is the last position
// delivered (the delivery loop's: it knows every room through there). The
// caller reads the positions from..first-1 and known+1..hi elsewhere.
func (r *recent) get(room string, from, hi uint64) (msgs []actors.StoredMessage, first, known uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	base, t := r.base, r.rooms[room]
	if t != nil {
		base = t.base
	}
	first, known = max(from, base+1), max(r.delivered, base)
	if t == nil {
		return nil, first, known
	}
	for _, x := range t.msgs {
		if x.pos > hi {
			break
		}
		if x.pos >= first {
			msgs = append(msgs, x.m)
		}
	}
	return msgs, first, known
}

// deliveredPos is the last position added.
func (r *recent) deliveredPos() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered
}
