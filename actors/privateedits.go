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

// Editing and deleting private messages (EditMessage, DeleteMessage of a
// private message's id, with `with` or without).
//
// Who may: the author only, by the rule of a room message (authored: an
// account from any of its connections, a guest from the connection that
// sent it under its current name); an admin has no say over others' mail.
// The other side is told not_allowed; anyone else, no_such_message (a
// conversation one is not in is not told apart from none).
//
// How: as a room message's (edits.go), the change is stored (synced) and
// only then announced: MessageEdited or MessageDeleted with `with` to
// every connection of both sides, each side's frame naming the other. A
// guest on this node that got the message gets it on that connection
// (pmGuests), renamed since or not, and no one else does; a guest on
// another node, whoever holds the name there now. Two changes of one message (from two connections of an
// account) are stored and announced under one of privateLocks, so that
// every connection sees them in the order they were stored: a deletion
// is never followed by the edit it overtook.
//
// Catch-up: an account's History{with, since} is followed by the changes
// of the messages up to since made at or after since's time, as a room's
// JoinRoom{since} is (sendConversationChanges).

// privateLocks orders the changes of one private message (by a hash of its
// id): few, rare, and only ever from its author's connections. Two
// messages that share a lock only wait for each other.
type privateLocks [32]sync.Mutex

func (p *privateLocks) of(id string) *sync.Mutex {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return &p[h%uint32(len(p))]
}

// pmGuests remembers, for the last sentMax private messages a connection
// sent to a guest on this node, which connection that guest was: a
// guest's name is only borrowed, so a change goes to the connection that
// got the message (renamed since or not), never to whoever holds the name
// now. Added to by the session's turn, read by another connection of the
// same account.
type pmGuests = idRing[uint64] // message id -> the guest's session id

// guestRecipient is the session id of the guest on this node that the
// private message id went to, if one of this person's connections sent it
// there (and still remembers it).
func (s *Session) guestRecipient(id string) (uint64, bool) {
	for _, o := range s.hub.sessionsOf(s) {
		if session, ok := o.pmGuests.get(id); ok {
			return session, true
		}
	}
	return 0, false
}

// changePrivate runs an EditMessage (del false) or a DeleteMessage of a
// private message, under ctx (the request's deadline); synced reports that
// the store was synced since the request came (no need to look again for
// a message sent just now).
func (s *Session) changePrivate(ctx, conn context.Context, req protocol.Request, del, synced bool) {
	with := ""
	if req.With != "" {
		var ok bool
		if with, _, ok = NormalizeUsername(req.With, s.hub.cfg.Limits.UsernameMax); !ok {
			s.fail(req.Ref, protocol.CodeInvalidUsername, "a username is 1-"+strconv.Itoa(s.hub.cfg.Limits.UsernameMax)+" characters of A-Z a-z 0-9 _ -")
			return
		}
	}
	noSuch := func() {
		s.fail(req.Ref, protocol.CodeNoSuchMessage, "no message "+req.ID+" in a conversation of yours")
	}
	m, err := s.hub.store.PrivateMessage(ctx, req.ID)
	if errors.Is(err, ErrNoMessage) && !synced {
		// Sent just now, it may still be on its way to the store.
		if err = s.hub.store.Sync(ctx); err == nil {
			m, err = s.hub.store.PrivateMessage(ctx, req.ID)
		}
	}
	if errors.Is(err, ErrNoMessage) {
		noSuch()
		return
	}
	if err != nil {
		s.hub.log.Warn("read private message", "id", req.ID, "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "could not read message "+req.ID+", try again")
		return
	}
	mine := s.authored(&m)
	other := m.Recipient // the other side, from this session's
	if !mine {
		other = m.Username
	}
	party := mine || Skeleton(m.Recipient) == s.key
	if !party || m.Deleted || (with != "" && Skeleton(with) != Skeleton(other)) {
		noSuch()
		return
	}
	if !mine {
		if del {
			s.fail(req.Ref, protocol.CodeNotAllowed, "only its author may delete a private message")
		} else {
			s.fail(req.Ref, protocol.CodeNotAllowed, "only its author may edit a private message")
		}
		return
	}
	lock := s.hub.private.of(m.ID)
	lock.Lock()
	defer lock.Unlock()
	at := s.hub.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	if err := s.hub.store.ChangeMessage(ctx, MessageChange{ID: m.ID, Content: req.Content, Deleted: del, At: at, Private: true}); err != nil {
		if errors.Is(err, ErrNoMessage) {
			noSuch() // deleted since it was read
			return
		}
		s.hub.log.Warn("change private message", "id", m.ID, "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "message "+m.ID+" was not changed, try again")
		return
	}
	s.announcePrivateChange(&m, req.Content, del, at)
	if req.Ref != "" {
		s.out.Send(protocol.EncodeAckMessage(req.Ref, m.ID, at))
	}
}

// announcePrivateChange tells both sides of m, the author's (this
// session's person) and the recipient's, on this node and the others.
func (s *Session) announcePrivateChange(m *StoredMessage, content string, del bool, at time.Time) {
	frame := func(with string) []byte {
		if del {
			return protocol.EncodePrivateDeleted(with, m.ID, at)
		}
		return protocol.EncodePrivateEdited(with, m.ID, content, at)
	}
	own, theirs := frame(m.Recipient), frame(m.Username)
	for _, o := range s.hub.sessionsOf(s) {
		o.out.Send(own)
	}
	to := Skeleton(m.Recipient)
	guest, toGuest := s.guestRecipient(m.ID)
	switch {
	case toGuest: // that connection only, while it lasts
		if r, ok := s.hub.sessions.Load(guest); ok && r.person != s.person {
			r.out.Send(theirs)
		}
	default: // an account (its name is its own), or a guest on another node
		if o, ok := s.hub.names.Load(to); ok && o.person != s.person { // else the author's connections just had it
			for _, r := range o.sessions {
				r.out.Send(theirs)
			}
		}
	}
	if s.hub.broker != nil {
		s.hub.broker.Private([]string{s.key}, own)
		if to != s.key && !toGuest {
			s.hub.broker.Private([]string{to}, theirs)
		}
	}
}

// sendConversationChanges queues, after the History{with, since} of the
// conversation with with (a name as the account wrote it), the edits and
// deletions made since the since message of messages up to it: at most
// SinceMax of them, the most recent, oldest change first.
func (s *Session) sendConversationChanges(ctx context.Context, ref, with, since string) {
	id, err := ulid.ParseStrict(since)
	if err != nil {
		return // checked by conversationHistory
	}
	after := time.UnixMilli(int64(id.Time())).UTC()
	changed, err := s.hub.store.Changes(ctx, ChangesQuery{Owner: s.key, Peer: Skeleton(with), Through: since, After: after, Limit: s.hub.cfg.SinceMax})
	if err != nil {
		s.hub.log.Warn("read conversation changes", "err", waitErr(ctx, err))
		s.fail(ref, protocol.CodeServerBusy, "could not read the edits in the conversation with "+with+" since "+since)
		return
	}
	for i := len(changed) - 1; i >= 0; i-- { // oldest change first
		c := &changed[i]
		w := s.otherSide(c)
		if c.Deleted {
			s.out.Send(protocol.EncodePrivateDeleted(w, c.ID, c.EditedAt))
		} else {
			s.out.Send(protocol.EncodePrivateEdited(w, c.ID, c.Content, c.EditedAt))
		}
	}
}
