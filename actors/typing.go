package actors

import (
	"strconv"
	"time"

	"parley/internal/protocol"
)

// Typing (docs/protocol.md, "Typing"): Typing{room} is relayed to the
// room's other members as UserTyping{room, username}, Typing{with} to the
// connections of the person named as UserTyping{with, username}. Nothing
// is stored, nothing is answered but a bad request, and nothing is
// counted as unread.
//
// It is the first thing dropped under load, at three places: a connection
// relays at most one every TypingEvery (the client sends one every few
// seconds while typing; the rest are dropped without a word); the room
// takes it only while its inbox is under half full (never waited for: the
// rest of the inbox is kept for messages); and each member gets it only while its
// queue is under half full (Peer.Offer): a member that is behind misses a
// typing notice instead of being cut off as a slow consumer for one.

// TypingEvery is how often a connection's typing is relayed at most.
const TypingEvery = 3 * time.Second

// typing runs a Typing request.
func (s *Session) typing(req protocol.Request) {
	if (req.Room == "") == (req.With == "") {
		s.fail(req.Ref, protocol.CodeBadRequest, "Typing takes a room or with, one of them")
		return
	}
	var (
		r   *Room
		to  nameOwner
		key string // Typing{with}: the recipient's skeleton
	)
	if req.Room != "" {
		name, ok := NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax)
		if !ok {
			s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
			return
		}
		if r = s.rooms[name]; r == nil {
			s.fail(req.Ref, protocol.CodeNotInRoom, "you are not in room "+name)
			return
		}
	} else {
		if _, _, ok := NormalizeUsername(req.With, s.hub.cfg.Limits.UsernameMax); !ok {
			s.fail(req.Ref, protocol.CodeInvalidUsername, "a username is 1-"+strconv.Itoa(s.hub.cfg.Limits.UsernameMax)+" characters of A-Z a-z 0-9 _ -")
			return
		}
		key = Skeleton(req.With)
		var found bool
		if to, found = s.hub.names.Load(key); (!found && !s.hub.relaysTyping()) || (found && to.person == s.person) {
			return // nobody there to tell: not an error, typing is a hint
		}
	}
	now := s.hub.cfg.Clock.Now()
	if !s.typedAt.IsZero() && now.Sub(s.typedAt) < TypingEvery && now.Sub(s.typedAt) >= 0 {
		s.hub.metrics.typingDropped.Add(1)
		return
	}
	s.typedAt = now
	if r != nil {
		// Only into an inbox under half full: the room's messages keep the rest.
		if len(r.inbox) > cap(r.inbox)/2 || !r.post(&roomMsg{kind: msgTyping, from: s, size: typingSize}) {
			s.hub.metrics.typingDropped.Add(1)
		}
		return
	}
	frame := protocol.EncodeUserTyping("", s.name)
	for _, o := range to.sessions {
		if !o.out.Offer(frame) {
			s.hub.metrics.typingDropped.Add(1)
		}
	}
	s.hub.relayTypingTo(key, frame) // the recipient may be (also) on other nodes
}

// typingSize is what a typing notice is charged against a room's inbox
// byte budget.
const typingSize = 64

// handleTyping relays a member's typing to the room's other people. A
// member still syncing does not get it (its held frames are what it must
// not miss), nor one whose queue is half full.
func (r *Room) handleTyping(m *roomMsg) {
	r.inboxBytes.Add(-m.size)
	if m.from == nil { // another node's (typing_cluster.go)
		r.handleRemoteTyping(m)
		return
	}
	from := r.members[m.from]
	if from == nil {
		return // left since
	}
	frame := protocol.EncodeUserTyping(r.name, from.who.name)
	for _, mem := range r.members {
		if mem.who == from.who || mem.syncing {
			continue
		}
		if !mem.out.Offer(frame) {
			r.hub.metrics.typingDropped.Add(1)
		}
	}
	r.relayTyping(from.who.name, frame)
}
