package actors

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"parley/internal/protocol"
)

// Editing and deleting room messages (EditMessage, DeleteMessage); a
// private message's: privateedits.go.
//
// Who may: the author, and for a deletion an admin too. The author is told
// by the name stored with the message, which must be the session's current
// name; for an account that is enough (its name is its own), for a guest
// the message must also have been sent by this very connection (a guest
// who takes a name another guest wrote under does not get their
// messages, nor does a guest who renamed keep the old name's). A guest's
// connection remembers the ids of its last sentMax messages (sentIDs).
//
// How: the session checks the message (a read), stores the change (synced)
// and only then has the room announce it, so that a member that joins in
// between finds it in History; Room.changes keeps two changes of one room
// from being announced in the other order than stored.

// sentMax bounds the ids a guest's connection remembers as its own: the
// messages it may still edit or delete.
const sentMax = 512

// idRing remembers a value for each of the last sentMax message ids added:
// a guest connection's own recent messages (sentIDs) and the guests its
// private messages went to (pmGuests). Added to by one goroutine, read by
// another (the room and the session; two connections of one account).
type idRing[V any] struct {
	mu   sync.Mutex
	vals map[string]V
	ring []string
	next int
}

func (t *idRing[V]) add(id string, v V) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.vals == nil {
		t.vals = make(map[string]V, 16)
	}
	// The ring grows with what is sent, up to sentMax: a guest that sent
	// a few messages holds a few ids, not sentMax slots.
	if len(t.ring) < sentMax {
		t.ring = append(t.ring, id)
	} else {
		delete(t.vals, t.ring[t.next])
		t.ring[t.next] = id
		t.next = (t.next + 1) % sentMax
	}
	t.vals[id] = v
}

func (t *idRing[V]) get(id string) (V, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.vals[id]
	return v, ok
}

// sentIDs is the ring of a guest connection's recent message ids. The
// room adds to it (run's goroutine), the session reads it (its turn).
type sentIDs struct{ idRing[struct{}] }

func (t *sentIDs) add(id string) { t.idRing.add(id, struct{}{}) }

func (t *sentIDs) has(id string) bool {
	_, ok := t.get(id)
	return ok
}

// changeMessage runs an EditMessage (del false) or a DeleteMessage.
func (s *Session) changeMessage(conn context.Context, req protocol.Request, del bool) {
	if !validID(req.ID) {
		s.fail(req.Ref, protocol.CodeBadRequest, "id is not a message id")
		return
	}
	if !del && !s.checkSend(req) {
		return
	}
	if req.With != "" { // a private message's (privateedits.go)
		if req.Room != "" {
			s.fail(req.Ref, protocol.CodeBadRequest, "a message is in a room or a conversation: give room or with, not both")
			return
		}
		ctx, cancel := s.deadline(conn)
		defer cancel()
		s.changePrivate(ctx, conn, req, del, false)
		return
	}
	room := ""
	if req.Room != "" {
		var ok bool
		if room, ok = NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax); !ok {
			s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
			return
		}
	}
	noSuch := func() {
		s.fail(req.Ref, protocol.CodeNoSuchMessage, "no message "+req.ID+" in a room you are in")
	}
	ctx, cancel := s.deadline(conn)
	defer cancel()
	m, err := s.hub.store.Message(ctx, req.ID)
	if errors.Is(err, ErrNoMessage) {
		// Sent just now, it may still be on its way to the store: the
		// author's other connections see it before it is committed.
		if err = s.hub.store.Sync(ctx); err == nil {
			m, err = s.hub.store.Message(ctx, req.ID)
		}
	}
	if errors.Is(err, ErrNoMessage) && room == "" {
		s.changePrivate(ctx, conn, req, del, true) // perhaps a private message's
		return
	}
	if errors.Is(err, ErrNoMessage) {
		noSuch()
		return
	}
	if err != nil {
		s.hub.log.Warn("read message", "id", req.ID, "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "could not read message "+req.ID+", try again")
		return
	}
	r := s.rooms[m.Room]
	if r == nil || (room != "" && room != m.Room) || m.Deleted {
		noSuch() // a room one is not in is not told apart from none
		return
	}
	if !s.authored(&m) && !(del && s.admin) {
		if del {
			s.fail(req.Ref, protocol.CodeNotAllowed, "only its author (or an admin) may delete a message")
		} else {
			s.fail(req.Ref, protocol.CodeNotAllowed, "only its author may edit a message")
		}
		return
	}
	r.changes.Lock()
	defer r.changes.Unlock()
	at := s.hub.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	change := MessageChange{ID: m.ID, Room: m.Room, Content: req.Content, Deleted: del, At: at}
	if err := s.hub.store.ChangeMessage(ctx, change); err != nil {
		if errors.Is(err, ErrNoMessage) {
			noSuch() // deleted since it was read
			return
		}
		s.hub.log.Warn("change message", "id", m.ID, "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "message "+m.ID+" was not changed, try again")
		return
	}
	var frame []byte
	if del {
		frame = protocol.EncodeMessageDeleted(m.Room, m.ID, at)
	} else {
		frame = protocol.EncodeMessageEdited(m.Room, m.ID, req.Content, at)
	}
	// Stored: announced whatever the deadline, unless the connection ends
	// (control under conn), so that the members see what History shows.
	if _, err := r.control(conn, &roomMsg{kind: msgChange, from: s, frame: frame}); err != nil && !errors.Is(err, errRoomStopped) {
		s.hub.log.Warn("announce change", "room", m.Room, "id", m.ID, "err", err)
	}
	if req.Ref != "" {
		s.out.Send(protocol.EncodeAckMessage(req.Ref, m.ID, at))
	}
}

// authored reports whether m was sent by this session's person under its
// current name (see the top of this file).
func (s *Session) authored(m *StoredMessage) bool {
	if s.account {
		return Skeleton(m.Username) == s.key
	}
	return foldName(m.Username) == s.fold && s.sent.has(m.ID)
}

// handleChange announces a stored edit or deletion to the members (and the
// other nodes), in order with the room's messages.
func (r *Room) handleChange(m *roomMsg) {
	r.broadcast(m.frame)
	if r.hub.broker != nil && m.from != nil { // from nil: another node's (Hub.DeliverChange)
		r.hub.broker.Announce(r.name, m.frame)
	}
}

// sendChanges queues, after a rejoin's History (JoinRoom with since), the
// edits and deletions made since the since message of messages up to it:
// the ones the client had and, being away, did not see change. At most
// SinceMax of them, the most recent.
func (s *Session) sendChanges(ctx context.Context, ref, room, since string) {
	id, err := ulid.ParseStrict(since)
	if err != nil {
		return // checked by joinRoom
	}
	after := time.UnixMilli(int64(id.Time())).UTC()
	changed, err := s.hub.store.Changes(ctx, ChangesQuery{Room: room, Through: since, After: after, Limit: s.hub.cfg.SinceMax})
	if err != nil {
		s.hub.log.Warn("read changes", "room", room, "err", waitErr(ctx, err))
		s.fail(ref, protocol.CodeServerBusy, "could not read the edits in "+room+" since "+since+" (limit "+strconv.Itoa(s.hub.cfg.SinceMax)+")")
		return
	}
	for i := len(changed) - 1; i >= 0; i-- { // oldest change first
		c := &changed[i]
		if c.Deleted {
			s.out.Send(protocol.EncodeMessageDeleted(c.Room, c.ID, c.EditedAt))
		} else {
			s.out.Send(protocol.EncodeMessageEdited(c.Room, c.ID, c.Content, c.EditedAt))
		}
	}
}
