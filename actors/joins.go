package actors

import (
	"context"
	"errors"

	"parley/internal/protocol"
)

// Joining and leaving rooms: a session's own JoinRoom and LeaveRoom, and
// enter, the join itself, which an account's Resume and follow share.

func (s *Session) joinRoom(conn context.Context, req protocol.Request) {
	name, ok := NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax)
	if !ok {
		s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
		return
	}
	if req.Since != "" && !validID(req.Since) {
		s.fail(req.Ref, protocol.CodeBadRequest, "since is not a message id")
		return
	}
	if _, in := s.rooms[name]; !in && len(s.rooms) >= s.hub.cfg.Limits.RoomsPerSession {
		s.fail(req.Ref, protocol.CodeInvalidRoom, "you are in as many rooms as one connection may be")
		return
	}
	if _, known := s.hub.catalog.Load(name); !known && !s.mayCreate(req.Ref, name) {
		return
	}
	ctx, cancel := s.deadline(conn)
	defer cancel()
	joined := s.enter(ctx, conn, name, entry{ref: req.Ref, since: req.Since, entered: func(lastID string) {
		s.current = name
		s.ack(req.Ref, "", name)
		if s.account {
			s.keepRoom(ctx, name, true, lastID)
		}
	}})
	if joined && s.account {
		s.spread(true, name)
	}
}

// entry is how a join is made and answered (enter).
type entry struct {
	ref, since string // JoinRoom's, if it is one
	// historyBytes bounds the History frame (0: HistoryBytes): a
	// connection joined to many rooms at once (Resume) gets a share each.
	historyBytes int
	// entered runs once the room has the member, before its history is
	// read, with the id of the room's last message ("" for none).
	entered func(lastID string)
}

// enter makes the session a member of the room name, creating the room if
// it is new, and sends its history and members: a join, whoever asked for
// it. It reports whether the session is in the room; when not, the client
// has had an Error (with e.ref).
func (s *Session) enter(ctx, conn context.Context, name string, e entry) bool {
	ref := e.ref
	// The room may retire (or, never written to, be forgotten) between the
	// lookup and the join; then look again.
	var (
		r   *Room
		rep roomReply
	)
	for {
		if _, err := s.hub.ensureRoom(ctx, name); err != nil {
			s.hub.log.Error("create room", "room", name, "err", waitErr(ctx, err))
			s.fail(ref, protocol.CodeServerBusy, "could not create the room, try again")
			return false
		}
		var err error
		if r, err = s.hub.room(ctx, name); errors.Is(err, errRoomCap) {
			s.fail(ref, protocol.CodeInvalidRoom, "the server runs as many rooms as it may: try again later")
			return false
		} else if err != nil {
			s.hub.log.Error("start room", "room", name, "err", waitErr(ctx, err))
			s.fail(ref, protocol.CodeServerBusy, "could not open the room, try again")
			return false
		}
		if rep, err = r.control(ctx, &roomMsg{kind: msgJoin, from: s, name: s.name}); err == nil {
			break
		}
		if !errors.Is(err, errRoomStopped) || s.hub.ctx.Err() != nil {
			// The room never took the join (control guarantees it), so it
			// has no member this session does not know of.
			s.hub.log.Warn("join", "room", name, "err", err)
			s.fail(ref, protocol.CodeServerBusy, "room "+name+" is busy: not joined, try again")
			return false
		}
	}
	s.rooms[name] = r
	if e.entered != nil {
		e.entered(rep.lastID)
	}

	// History up to the last message the room sent before we joined; what
	// came after is held by the room and released by msgReady.
	if rep.lastID == "" {
		s.out.Send(historyFrame(ref, name, nil, false)) // the room never had a message
	} else {
		q := HistoryQuery{Room: name, Through: rep.lastID, Limit: s.hub.cfg.HistoryPage, MaxBytes: e.historyBytes}
		if e.since != "" {
			q.After, q.Limit = e.since, s.hub.cfg.SinceMax
		}
		s.sendHistory(ctx, ref, q, true)
		if e.since != "" {
			s.sendChanges(ctx, ref, name, e.since)
			s.sendReactionChanges(ctx, name, e.since)
		}
	}
	s.out.Send(protocol.EncodeMembers(name, rep.members))
	if rep.joined != nil {
		s.out.Send(rep.joined)
	}
	// The room holds the member's frames until ready, so ready is not given
	// up for the deadline: only if the connection ends (its leave on close
	// then removes the member) or the room stops.
	_, _ = r.control(conn, &roomMsg{kind: msgReady, from: s})
	return true
}

// sendHistory reads a page of history, within a History frame's byte
// budget, and queues it. With sync, it first
// waits for the store to commit what was handed to it, so the page holds
// every message delivered so far (up to q.Through, if set).
func (s *Session) sendHistory(ctx context.Context, ref string, q HistoryQuery, sync bool) {
	var err error
	if sync {
		err = s.hub.store.Sync(ctx)
	}
	var (
		msgs []StoredMessage
		more bool
	)
	if err == nil {
		if q.MaxBytes <= 0 || q.MaxBytes > s.hub.cfg.HistoryBytes {
			q.MaxBytes = s.hub.cfg.HistoryBytes
		}
		msgs, more, err = s.hub.store.History(ctx, q)
	}
	if err == nil {
		var cut bool
		if msgs, cut = s.annotate(ctx, msgs, q.MaxBytes); cut {
			more = true
		}
	}
	if err != nil {
		s.hub.log.Warn("read history", "room", q.Room, "err", waitErr(ctx, err))
		s.fail(ref, protocol.CodeServerBusy, "could not read the history of "+q.Room)
		msgs, more = nil, false
	}
	s.reply(historyFrame(ref, q.Room, msgs, more))
}

func (s *Session) leaveRoom(conn context.Context, req protocol.Request) {
	name, ok := NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax)
	if !ok {
		s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
		return
	}
	r, in := s.rooms[name]
	if !in {
		s.fail(req.Ref, protocol.CodeNotInRoom, "you are not in room "+name)
		return
	}
	if !s.leave(conn, r) {
		s.fail(req.Ref, protocol.CodeServerBusy, "room "+name+" is busy: still in it, try again")
		return
	}
	s.ack(req.Ref, "", name)
	if s.account {
		ctx, cancel := s.deadline(conn)
		defer cancel()
		s.keepRoom(ctx, name, false, "")
		s.spread(false, name)
	}
}

// leave takes the session out of room r, under a deadline, and reports
// whether it did.
func (s *Session) leave(conn context.Context, r *Room) bool {
	ctx, cancel := s.deadline(conn)
	defer cancel()
	if _, err := r.control(ctx, &roomMsg{kind: msgLeave, from: s}); err != nil && !errors.Is(err, errRoomStopped) {
		// The room never took the leave: the session is still a member.
		s.hub.log.Warn("leave", "room", r.name, "err", err)
		return false
	}
	delete(s.rooms, r.name)
	if s.current == r.name {
		s.current = ""
	}
	return true
}
