package actors

import (
	"context"
	"errors"
	"strconv"

	"parley/internal/protocol"
)

// What an account keeps besides its mail: the rooms it is in, on every
// connection, and how far it has read (docs/protocol.md, "An account's
// rooms and read markers"). A guest keeps neither.
//
// Rooms follow the account in two ways. A new connection reads the stored
// rooms and joins them before its first request (Resume). A connection
// already here is told of a join or leave made on another by a goroutine
// of its own (spread, follow), which takes the session's turn: a session's
// rooms are only ever changed in one of its turns.

// keepRoom stores that the account joined room (lastID: the room's last
// message then, where its read marker starts) or left it. A failure is
// logged and otherwise ignored: the join or leave itself is done, and only
// the next connection of the account would not know of it.
func (s *Session) keepRoom(ctx context.Context, room string, joined bool, lastID string) {
	if err := s.hub.store.SetAccountRoom(ctx, s.key, room, joined, lastID, s.hub.cfg.Limits.RoomsPerSession); err != nil {
		s.hub.log.Warn("keep the rooms of an account", "account", s.name, "room", room, "err", waitErr(ctx, err))
	}
}

// spread has every other connection of the account join room name too, or
// leave it (follow). It does not wait for them.
func (s *Session) spread(join bool, name string) {
	for _, o := range s.hub.sessionsOf(s) {
		if o == s {
			continue
		}
		s.hub.followers.Add(1)
		// Runs in its own goroutine; exits when the one join or leave is
		// done or given up (the request deadline, the connection or the
		// hub ending).
		go func() {
			defer s.hub.followers.Done()
			o.follow(join, name)
		}()
	}
}

// follow joins the room name, or leaves it, because another connection of
// the account did. It is a turn of the session: it waits for the request in
// progress, if any. The client hears Joined (then the room's History and
// Members) or Left; its current room stays unless it was the room left.
func (s *Session) follow(join bool, name string) {
	s.turn.Lock()
	defer s.turn.Unlock()
	conn := s.life
	if s.closed || conn == nil || s.hub.ctx.Err() != nil {
		return // not resumed yet: Resume reads the stored rooms, this one included
	}
	r, in := s.rooms[name]
	if !join {
		if in && s.leave(conn, r) {
			s.out.Send(protocol.EncodeLeft(name))
		}
		return
	}
	if in || len(s.rooms) >= s.hub.cfg.Limits.RoomsPerSession {
		return
	}
	ctx, cancel := s.deadline(conn)
	defer cancel()
	s.enter(ctx, conn, name, entry{entered: func(string) { s.out.Send(protocol.EncodeJoined([]string{name})) }})
}

// Resume puts a new connection of an account in the account's rooms and
// then tells it what is unread: Joined with the stored rooms, each room's
// History and Members, then Unread. The transport calls it once, before
// the connection's first request, with the connection's context, which
// the session keeps for follow. A guest's session ignores it.
func (s *Session) Resume(conn context.Context) {
	s.turn.Lock()
	defer s.turn.Unlock()
	if s.closed || !s.account || s.life != nil {
		return
	}
	s.life = conn
	rooms, err := s.storedRooms(conn)
	if err != nil {
		s.fail("", protocol.CodeServerBusy, "could not read the rooms you are in: join them again")
	}
	s.out.Send(protocol.EncodeJoined(rooms))
	in := make([]string, 0, len(rooms))
	// Every room's history at once must fit in the connection's queue,
	// with room to spare for the live traffic: half of it, shared. A room
	// whose page is cut says truncated, and the client pages back.
	share := max(s.hub.cfg.Outbox.Bytes/2/max(len(rooms), 1), 4<<10)
	for _, name := range rooms {
		ctx, cancel := s.deadline(conn)
		if s.enter(ctx, conn, name, entry{historyBytes: share}) {
			in = append(in, name)
		} else {
			s.out.Send(protocol.EncodeLeft(name)) // enter sent the Error that says why
		}
		cancel()
	}
	s.sendUnread(conn, in)
}

// storedRooms reads the account's rooms, as many as one connection may be in.
func (s *Session) storedRooms(conn context.Context) ([]string, error) {
	ctx, cancel := s.deadline(conn)
	defer cancel()
	rooms, err := s.hub.store.AccountRooms(ctx, s.key)
	if err != nil {
		s.hub.log.Warn("read the rooms of an account", "account", s.name, "err", waitErr(ctx, err))
		return nil, err
	}
	if max := s.hub.cfg.Limits.RoomsPerSession; len(rooms) > max {
		rooms = rooms[:max]
	}
	return rooms, nil
}

// sendUnread sends the Unread frame: the read state of each of rooms, and
// of the account's newest conversations (HistoryMax of them) those with
// something unread.
func (s *Session) sendUnread(conn context.Context, rooms []string) {
	ctx, cancel := s.deadline(conn)
	defer cancel()
	var (
		inRooms []ReadState
		convs   []ConversationSummary
	)
	// Counted after what was handed to the store so far is committed.
	err := s.hub.store.Sync(ctx)
	if err == nil {
		inRooms, err = s.hub.store.RoomsRead(ctx, s.owner(), rooms)
	}
	if err == nil {
		convs, _, err = s.hub.store.Conversations(ctx, s.owner(), s.hub.cfg.HistoryMax)
	}
	if err != nil {
		s.hub.log.Warn("count unread", "account", s.name, "err", waitErr(ctx, err))
		s.fail("", protocol.CodeServerBusy, "could not count your unread messages")
		return
	}
	wireRooms := make([]protocol.ReadState, len(inRooms))
	for i, st := range inRooms {
		wireRooms[i] = protocol.ReadState{Room: st.Room, Read: st.Read, Unread: st.Unread, Mentions: st.Mentions}
	}
	var wireConvs []protocol.ReadState
	for i := range convs {
		if convs[i].Unread > 0 {
			wireConvs = append(wireConvs, protocol.ReadState{With: s.otherSide(&convs[i].Last), Read: convs[i].Read, Unread: convs[i].Unread})
		}
	}
	s.out.Send(protocol.EncodeUnread(wireRooms, wireConvs))
}

// markRead answers MarkRead: it moves the account's marker in a joined
// room, or in one of its conversations, and tells every connection of the
// account the marker as stored and what is unread after it.
func (s *Session) markRead(conn context.Context, req protocol.Request) {
	if !s.accountsOnly(req.Ref) {
		return
	}
	if !validID(req.ID) {
		s.fail(req.Ref, protocol.CodeBadRequest, "id is not a message id")
		return
	}
	mark := ReadState{Read: req.ID}
	switch {
	case (req.Room == "") == (req.With == ""):
		s.fail(req.Ref, protocol.CodeBadRequest, "MarkRead takes a room or with, one of them")
		return
	case req.Room != "":
		name, ok := NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax)
		if !ok {
			s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
			return
		}
		if _, in := s.rooms[name]; !in {
			s.fail(req.Ref, protocol.CodeNotInRoom, "you are not in room "+name)
			return
		}
		mark.Room = name
	default:
		if _, _, ok := NormalizeUsername(req.With, s.hub.cfg.Limits.UsernameMax); !ok {
			s.fail(req.Ref, protocol.CodeInvalidUsername, "a username is 1-"+strconv.Itoa(s.hub.cfg.Limits.UsernameMax)+" characters of A-Z a-z 0-9 _ -")
			return
		}
		mark.Peer = Skeleton(req.With)
	}
	ctx, cancel := s.deadline(conn)
	defer cancel()
	// Counted after what was handed to the store so far is committed.
	err := s.hub.store.Sync(ctx)
	var st ReadState
	if err == nil {
		st, err = s.hub.store.MarkRead(ctx, s.owner(), mark)
	}
	switch {
	case errors.Is(err, ErrNoConversation):
		s.fail(req.Ref, protocol.CodeNoSuchUser, "you have no conversation with "+quoteShort(req.With))
		return
	case err != nil:
		s.hub.log.Warn("mark read", "account", s.name, "err", waitErr(ctx, err))
		s.fail(req.Ref, protocol.CodeServerBusy, "could not keep your read marker, try again")
		return
	}
	frame := protocol.EncodeReadMarker(protocol.ReadState{Room: st.Room, With: st.With, Read: st.Read, Unread: st.Unread, Mentions: st.Mentions})
	for _, o := range s.hub.sessionsOf(s) {
		o.out.Send(frame)
	}
	s.ack(req.Ref, "", "")
}
