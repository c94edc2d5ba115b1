package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"

	"parley/internal/protocol"
)

// Reactions to room messages (React; docs/protocol.md, "Reactions").
//
// Who reacts: one reaction per reactor per emoji per message. An account
// reacts as itself ("a:" and its skeleton), from any of its connections,
// and may take back from one what it gave from another. A guest reacts as
// its connection ("g:", this process's boot id and the session id): a
// guest's name is only borrowed (another guest may take it once it is
// free, and the same person may come back under another), so a name would
// let a stranger take back someone's reaction, or the same person count
// twice. The cost: a guest who reconnects cannot take back what its
// earlier connection gave. Each reaction is shown under the name it was
// given with.
//
// How: like an edit (edits.go), the session checks the message (a read),
// stores the reaction, and only then has the room announce the counts that
// the store returned, holding Room.changes across, so that two members'
// reactions are announced in the order they were stored and the last
// Reactions frame of a message always carries its stored counts. A
// reaction is not synced on its own (the next batch or sync covers it): a
// crash may lose one given in the last moments, never a message.
//
// What a client needs to show its own toggled state: History entries and
// the Reactions frames of a catch-up are the reader's own, and carry
// "reacted" (the emoji it reacted with); a live Reactions frame goes to the
// whole room, encoded once, and carries the change (by, emoji, on): a
// client whose name is by flips its own state. Names are unique among the
// connected, so by is never another connection's name.

// ReactionsMax is the most distinct emoji a message may hold.
const ReactionsMax = 20

// reactCost is what a React spends: a read and a write, not synced.
const reactCost = 3

// ErrTooManyReactions is wrapped in React's error when the message has
// Reaction.Max distinct emoji already and this one is new.
var ErrTooManyReactions = errors.New("too many distinct reactions")

// ReactionCount is one emoji's count on a message (Mine: the reader's).
type ReactionCount = protocol.ReactionCount

// Reaction is a React as the store keeps it.
type Reaction struct {
	ID, Room string
	Emoji    string
	Reactor  string // who, as above: "a:<skeleton>" or "g:<boot>:<session>"
	Name     string // the reactor's name, as displayed
	On       bool   // add it; false takes it back
	At       time.Time
	Max      int // distinct emoji a message may hold (ReactionsMax)
}

// bootID tells this process's guest connections from an earlier one's,
// whose session ids were the same numbers.
var bootID = func() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b) // never fails (crypto/rand panics rather)
	return hex.EncodeToString(b)
}()

// reactor is who this session reacts as (see the top of this file).
func (s *Session) reactor() string {
	if s.account {
		return "a:" + s.key
	}
	return "g:" + bootID + ":" + strconv.FormatUint(s.id, 10)
}

// react runs a React.
func (s *Session) react(conn context.Context, req protocol.Request) {
	if !validID(req.ID) {
		s.fail(req.Ref, protocol.CodeBadRequest, "id is not a message id")
		return
	}
	if !protocol.ValidEmoji(req.Emoji) {
		s.fail(req.Ref, protocol.CodeBadRequest, "emoji is not one emoji")
		return
	}
	ctx, cancel := s.deadline(conn)
	defer cancel()
	m, r, ok := s.ownRoomMessage(ctx, req)
	if !ok {
		return
	}
	noSuch := func() {
		s.fail(req.Ref, protocol.CodeNoSuchMessage, "no message "+req.ID+" in a room you are in")
	}
	r.changes.Lock()
	defer r.changes.Unlock()
	at := s.hub.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	counts, changed, err := s.hub.store.React(ctx, Reaction{
		ID: m.ID, Room: m.Room, Emoji: req.Emoji, Reactor: s.reactor(), Name: s.name, On: req.On, At: at, Max: ReactionsMax,
	})
	switch {
	case errors.Is(err, ErrNoMessage):
		noSuch() // deleted since it was read
		return
	case errors.Is(err, ErrTooManyReactions):
		s.fail(req.Ref, protocol.CodeTooManyReactions, "a message holds at most "+strconv.Itoa(ReactionsMax)+" different reactions")
		return
	case err != nil:
		s.hub.log.Warn("react", "id", m.ID, "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "reaction to "+m.ID+" not stored, try again")
		return
	}
	if changed {
		frame := protocol.EncodeReactions(m.Room, m.ID, counts, &protocol.ReactionChange{By: s.name, Emoji: req.Emoji, On: req.On})
		if _, err := r.control(conn, &roomMsg{kind: msgChange, from: s, frame: frame}); err != nil && !errors.Is(err, errRoomStopped) {
			s.hub.log.Warn("announce reactions", "room", m.Room, "id", m.ID, "err", err)
		}
	}
	if req.Ref != "" {
		s.out.Send(protocol.EncodeAckMessage(req.Ref, m.ID, at))
	}
}

// ownRoomMessage reads the room message req.ID, which must be in a room
// the session is in (and in req.Room, if set) and not deleted; otherwise
// it answers the request and reports false.
func (s *Session) ownRoomMessage(ctx context.Context, req protocol.Request) (StoredMessage, *Room, bool) {
	room := ""
	if req.Room != "" {
		var ok bool
		if room, ok = NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax); !ok {
			s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
			return StoredMessage{}, nil, false
		}
	}
	m, err := s.hub.store.Message(ctx, req.ID)
	if errors.Is(err, ErrNoMessage) {
		// Sent just now, it may still be on its way to the store.
		if err = s.hub.store.Sync(ctx); err == nil {
			m, err = s.hub.store.Message(ctx, req.ID)
		}
	}
	if err != nil && !errors.Is(err, ErrNoMessage) {
		s.hub.log.Warn("read message", "id", req.ID, "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "could not read message "+req.ID+", try again")
		return StoredMessage{}, nil, false
	}
	r := s.rooms[m.Room]
	if err != nil || r == nil || (room != "" && room != m.Room) || m.Deleted {
		s.fail(req.Ref, protocol.CodeNoSuchMessage, "no message "+req.ID+" in a room you are in")
		return StoredMessage{}, nil, false
	}
	return m, r, true
}

// annotate fills in a History page's mentions and reactions (the reader's
// own marked). A failure is logged and the page goes without them. What
// they add counts against the page's byte budget too: the oldest messages
// that no longer fit are left out, and cut reports it (the page says
// truncated, and the client pages back for them).
func (s *Session) annotate(ctx context.Context, msgs []StoredMessage, maxBytes int) (page []StoredMessage, cut bool) {
	if len(msgs) == 0 || msgs[0].Private {
		return msgs, false
	}
	if err := s.hub.store.Annotate(ctx, msgs, s.reactor()); err != nil {
		s.hub.log.Warn("read reactions and mentions", "room", msgs[0].Room, "err", waitErr(ctx, err))
		return msgs, false
	}
	total := 0
	for i := range msgs {
		total += MessageSize(&msgs[i]) + annotationSize(&msgs[i])
	}
	for len(msgs) > 1 && maxBytes > 0 && total > maxBytes {
		total -= MessageSize(&msgs[0]) + annotationSize(&msgs[0])
		msgs, cut = msgs[1:], true
	}
	return msgs, cut
}

// annotationSize is what a message's mentions and reactions add to its
// entry in a History frame, at most.
func annotationSize(m *StoredMessage) int {
	n := 0
	for _, name := range m.Mentions {
		n += len(name) + 4
	}
	for i := range m.Reactions {
		n += 2 * (len(m.Reactions[i].Emoji) + 16) // in counts, and perhaps in reacted
	}
	if n > 0 {
		n += 40 // the keys
	}
	return n
}

// sendReactionChanges queues, after a rejoin's History and edits, the
// current reactions of the messages (up to since) whose reactions changed
// since the since message: at most SinceMax, oldest change first, each
// with the reader's own marked.
func (s *Session) sendReactionChanges(ctx context.Context, room, since string) {
	id, err := ulid.ParseStrict(since)
	if err != nil {
		return // checked by joinRoom
	}
	after := time.UnixMilli(int64(id.Time())).UTC()
	ids, err := s.hub.store.ReactionChanges(ctx, ChangesQuery{Room: room, Through: since, After: after, Limit: s.hub.cfg.SinceMax})
	if err != nil || len(ids) == 0 {
		if err != nil {
			s.hub.log.Warn("read reaction changes", "room", room, "err", waitErr(ctx, err))
		}
		return
	}
	msgs := make([]StoredMessage, len(ids))
	for i, id := range ids {
		msgs[i] = StoredMessage{ID: id, Room: room}
	}
	if err := s.hub.store.Annotate(ctx, msgs, s.reactor()); err != nil {
		s.hub.log.Warn("read reactions", "room", room, "err", waitErr(ctx, err))
		return
	}
	for i := len(msgs) - 1; i >= 0; i-- { // oldest change first
		s.out.Send(protocol.EncodeReactions(room, msgs[i].ID, msgs[i].Reactions, nil))
	}
}
