package actors

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"parley/internal/protocol"
)

// Session is one connection's actor, in two precise senses, and it has no
// goroutine of its own:
//
//   - Its turns are its client's frames, one at a time: the transport hands
//     each frame to a short-lived goroutine that runs Handle, and waits for
//     it before reading the next. So the fields below the line are owned by
//     whichever goroutine runs the current turn and need no lock.
//   - Its mailbox is its Outbox: rooms, other sessions (private messages),
//     the store's acknowledgements and its own replies all push frames
//     there, and the connection's writer drains them to the client. Nothing
//     else reaches into a session.
type Session struct {
	id     uint64
	hub    *Hub
	remote string
	out    *Outbox // pushed by anyone; drained by the transport's writer

	// Owned by the current command (Handle, HandleMalformed, Close): one at a time.
	name, key string // display name and its case-folded key in hub.names
	rooms     map[string]*Room
	current   string     // the room SendMessage without a room goes to; "" if none
	ids       *idSource  // private message ids; made on the first one
	pmNonces  nonceCache // recent private messages sent with a nonce, by recipient and nonce
	// Token buckets, full at first. Only ever asked with AllowN and the
	// hub's Clock, so that tests drive them with an injected clock.
	bucket *rate.Limiter // requests allowed
	abuse  *rate.Limiter // rate-limited requests tolerated before 1008
	closed bool
}

func newSession(h *Hub, id uint64, remote string) *Session {
	l := h.cfg.Limits
	return &Session{
		id:     id,
		hub:    h,
		remote: remote,
		out:    NewOutbox(h.cfg.Outbox),
		rooms:  make(map[string]*Room),
		bucket: rate.NewLimiter(rate.Limit(l.RatePerSec), l.RateBurst),
		abuse:  rate.NewLimiter(rate.Limit(l.RatePerSec/2), l.AbuseBudget),
	}
}

// ID returns the session's id, unique for the life of the process.
func (s *Session) ID() uint64 { return s.id }

// Outbox returns the session's outbound queue, which the transport's writer
// drains.
func (s *Session) Outbox() *Outbox { return s.out }

// Username returns the session's current name. Only from the current
// command's goroutine (or once the session is idle, as tests do).
func (s *Session) Username() string { return s.name }

// Handle runs one request. It never blocks on another client: the waits it
// has are on this session's own rooms' replies and on the store.
func (s *Session) Handle(ctx context.Context, req protocol.Request) {
	if s.closed || !s.allow(req.Ref) {
		return
	}
	if len(req.Ref) > s.hub.cfg.Limits.RefMax {
		s.fail(req.Ref, protocol.CodeBadRequest, "ref is longer than "+strconv.Itoa(s.hub.cfg.Limits.RefMax)+" bytes")
		return
	}
	switch req.Type {
	case protocol.TypeSetUsername:
		s.setUsername(ctx, req)
	case protocol.TypeJoinRoom:
		s.joinRoom(ctx, req)
	case protocol.TypeLeaveRoom:
		s.leaveRoom(ctx, req)
	case protocol.TypeSendMessage:
		s.sendMessage(req)
	case protocol.TypePrivateMessage:
		s.privateMessage(req)
	case protocol.TypeListRooms:
		s.out.Push(protocol.EncodeRoomList(req.Ref, s.hub.roomList()))
	case protocol.TypeHistory:
		s.history(ctx, req)
	case "":
		s.fail(req.Ref, protocol.CodeBadRequest, "missing type")
	default:
		s.fail(req.Ref, protocol.CodeUnknownType, "unknown type "+quoteShort(req.Type))
	}
}

// HandleMalformed answers a frame the transport could not decode, with the
// ref it could read, if any. It counts against the rate limit like any
// request.
func (s *Session) HandleMalformed(ref, reason string) {
	if s.closed || !s.allow(ref) {
		return
	}
	s.fail(ref, protocol.CodeBadRequest, reason)
}

// allow applies the rate limit: a request beyond it is answered with
// rate_limited and otherwise ignored; a client that keeps sending past the
// limit exhausts its abuse budget and is closed with 1008.
func (s *Session) allow(ref string) bool {
	now := s.hub.cfg.Clock.Now()
	if s.bucket.AllowN(now, 1) {
		return true
	}
	s.hub.metrics.rateLimited.Add(1)
	if !s.abuse.AllowN(now, 1) {
		s.out.Close(protocol.ClosePolicy, "rate limit exceeded")
		return false
	}
	s.fail(ref, protocol.CodeRateLimited, "too many requests: slow down")
	return false
}

// fail queues an Error. A ref over the limit is not echoed: it was never a
// valid ref, whichever check caught the request.
func (s *Session) fail(ref string, code protocol.ErrorCode, msg string) {
	if len(ref) > s.hub.cfg.Limits.RefMax {
		ref = ""
	}
	s.out.Push(protocol.EncodeError(ref, code, msg))
}

func (s *Session) setUsername(ctx context.Context, req protocol.Request) {
	name, key, ok := NormalizeUsername(req.Username, s.hub.cfg.Limits.UsernameMax)
	if !ok {
		s.fail(req.Ref, protocol.CodeInvalidUsername, "a username is 1-"+strconv.Itoa(s.hub.cfg.Limits.UsernameMax)+" characters of A-Z a-z 0-9 _ -")
		return
	}
	if name == s.name {
		s.ack(req.Ref, name, "")
		return
	}
	if key != s.key {
		if _, taken := s.hub.names.LoadOrStore(key, nameOwner{s: s, name: name}); taken {
			s.fail(req.Ref, protocol.CodeUsernameTaken, "username "+name+" is taken")
			return
		}
		s.releaseName()
	} else {
		s.hub.names.Store(key, nameOwner{s: s, name: name}) // same key, new case
	}
	s.name, s.key = name, key
	for _, r := range s.sortedRooms() {
		r.control(ctx, &roomMsg{kind: msgRename, from: s, name: name})
	}
	s.ack(req.Ref, name, "")
}

// releaseName frees the session's name if it still holds it.
func (s *Session) releaseName() {
	s.hub.names.Compute(s.key, func(old nameOwner, loaded bool) (nameOwner, bool) {
		if loaded && old.s == s {
			return nameOwner{}, true
		}
		return old, !loaded
	})
}

func (s *Session) joinRoom(ctx context.Context, req protocol.Request) {
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
	if _, err := s.hub.ensureRoom(ctx, name); err != nil {
		if errors.Is(err, errRoomCap) {
			s.fail(req.Ref, protocol.CodeInvalidRoom, "no new rooms can be created now")
		} else {
			s.hub.log.Error("create room", "room", name, "err", err)
			s.fail(req.Ref, protocol.CodeServerBusy, "could not create the room, try again")
		}
		return
	}
	// The room may retire between the lookup and the join; then look again.
	var (
		r   *Room
		rep roomReply
	)
	for {
		var err error
		if r, err = s.hub.room(ctx, name); err != nil {
			s.hub.log.Error("start room", "room", name, "err", err)
			s.fail(req.Ref, protocol.CodeServerBusy, "could not open the room, try again")
			return
		}
		if rep, ok = r.control(ctx, &roomMsg{kind: msgJoin, from: s, name: s.name}); ok {
			break
		}
		if ctx.Err() != nil || s.hub.ctx.Err() != nil {
			return // the connection or the server is going away
		}
	}
	s.rooms[name] = r
	s.current = name
	s.ack(req.Ref, "", name)

	// History up to the last message the room sent before we joined; what
	// came after is held by the room and released by msgReady.
	if rep.lastID == "" {
		s.out.Push(historyFrame(req.Ref, name, nil, false)) // the room never had a message
	} else {
		q := HistoryQuery{Room: name, Through: rep.lastID, Limit: s.hub.cfg.HistoryPage}
		if req.Since != "" {
			q.After, q.Limit = req.Since, s.hub.cfg.SinceMax
		}
		s.sendHistory(ctx, req.Ref, q, true)
	}
	s.out.Push(protocol.EncodeMembers(name, rep.members))
	r.control(ctx, &roomMsg{kind: msgReady, from: s})
}

// sendHistory reads a page of history and queues it. With sync, it first
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
		msgs, more, err = s.hub.store.History(ctx, q)
	}
	if err != nil {
		s.hub.log.Warn("read history", "room", q.Room, "err", err)
		s.fail(ref, protocol.CodeServerBusy, "could not read the history of "+q.Room)
		msgs, more = nil, false
	}
	// Keep the frame within its byte budget: drop the oldest first.
	size := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		size += 128 + len(msgs[i].Content) + len(msgs[i].Username) + len(msgs[i].Room) + len(msgs[i].Nonce)
		if size > s.hub.cfg.HistoryBytes {
			msgs, more = msgs[i+1:], true
			break
		}
	}
	s.out.Push(historyFrame(ref, q.Room, msgs, more))
}

func (s *Session) leaveRoom(ctx context.Context, req protocol.Request) {
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
	r.control(ctx, &roomMsg{kind: msgLeave, from: s})
	delete(s.rooms, name)
	if s.current == name {
		s.current = ""
	}
	s.ack(req.Ref, "", name)
}

func (s *Session) sendMessage(req protocol.Request) {
	name := s.current
	if req.Room != "" {
		var ok bool
		if name, ok = NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax); !ok {
			s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
			return
		}
	}
	r, in := s.rooms[name]
	if !in {
		if name == "" {
			s.fail(req.Ref, protocol.CodeNotInRoom, "join a room first")
		} else {
			s.fail(req.Ref, protocol.CodeNotInRoom, "you are not in room "+name)
		}
		return
	}
	if !s.checkSend(req) || s.dedupeResend(req, NonceKey{Room: name, Username: s.key, Nonce: req.Nonce}) {
		return
	}
	m := &roomMsg{
		kind: msgPost,
		from: s,
		ref:  req.Ref,
		post: &StoredMessage{Content: req.Content, Nonce: req.Nonce},
		size: int64(len(req.Content) + len(req.Nonce) + len(req.Ref) + 64),
	}
	if !r.post(m) {
		s.hub.metrics.busy.Add(1)
		s.fail(req.Ref, protocol.CodeServerBusy, "room "+name+" is busy: message not sent, try again")
	}
}

// checkSend validates the body and nonce of a SendMessage or PrivateMessage.
func (s *Session) checkSend(req protocol.Request) bool {
	switch CheckContent(req.Content, s.hub.cfg.Limits.ContentMax) {
	case protocol.CodeEmptyMessage:
		s.fail(req.Ref, protocol.CodeEmptyMessage, "message is empty")
		return false
	case protocol.CodeTooLarge:
		s.fail(req.Ref, protocol.CodeTooLarge, "message is longer than "+strconv.Itoa(s.hub.cfg.Limits.ContentMax)+" characters")
		return false
	case protocol.CodeBadRequest:
		s.fail(req.Ref, protocol.CodeBadRequest, "message is not valid UTF-8")
		return false
	}
	if len(req.Nonce) > s.hub.cfg.Limits.RefMax {
		s.fail(req.Ref, protocol.CodeBadRequest, "nonce is longer than "+strconv.Itoa(s.hub.cfg.Limits.RefMax)+" bytes")
		return false
	}
	return true
}

func (s *Session) privateMessage(req protocol.Request) {
	_, key, ok := NormalizeUsername(req.To, s.hub.cfg.Limits.UsernameMax)
	var to nameOwner
	if ok {
		to, ok = s.hub.names.Load(key)
	}
	if !ok {
		s.fail(req.Ref, protocol.CodeNoSuchUser, "no user "+quoteShort(req.To)+" is connected")
		return
	}
	if !s.checkSend(req) || s.dedupeResend(req, NonceKey{Recipient: foldName(to.name), Username: s.key, Nonce: req.Nonce}) {
		return
	}
	var nonceKey string
	if req.Nonce != "" {
		nonceKey = foldName(to.name) + "\x00" + req.Nonce
		if e := s.pmNonces.get(nonceKey); e != nil && e.dedupe(s, req.Ref) {
			return // a resend still on its way to the store
		}
	}
	now := s.hub.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	if s.ids == nil {
		s.ids = newIDSource("")
	}
	rec := &StoredMessage{
		ID:        s.ids.next(now),
		Username:  s.name,
		Recipient: to.name,
		Content:   req.Content,
		Timestamp: now,
		Private:   true,
		Nonce:     req.Nonce,
	}
	frame := protocol.EncodePrivate(rec.wire())
	ref, id := req.Ref, rec.ID
	done := func(err error) { s.acknowledge(ref, id, now, err) }
	if nonceKey != "" {
		entry := &nonceEntry{id: id, ts: now}
		s.pmNonces.put(nonceKey, entry)
		done = func(err error) {
			s.acknowledge(ref, id, now, err)
			entry.settle(err)
		}
	}
	if !s.hub.store.Append(rec, done) {
		if nonceKey != "" {
			s.pmNonces.put(nonceKey, &nonceEntry{state: nonceFailed})
		}
		s.hub.metrics.busy.Add(1)
		s.fail(ref, protocol.CodeServerBusy, "server busy: message not sent, try again")
		return
	}
	s.hub.metrics.privateIn.Add(1)
	to.s.out.Push(frame)
	if to.s != s {
		s.out.Push(frame) // the sender's echo
	}
}

// dedupeResend answers a send whose nonce the store already holds from
// this sender, with the first message's id, and reports whether it did. A
// store error is logged and the send goes ahead: the unique index on nonces
// still keeps a duplicate out of the database.
func (s *Session) dedupeResend(req protocol.Request, key NonceKey) bool {
	if req.Nonce == "" {
		return false
	}
	id, ts, ok, err := s.hub.store.FindNonce(context.Background(), key)
	if err != nil {
		s.hub.log.Warn("find nonce", "err", err)
		return false
	}
	if ok && req.Ref != "" {
		s.out.Push(protocol.EncodeAckMessage(req.Ref, id, ts))
	}
	return ok
}

// acknowledge is the store's verdict on a message this session sent, told
// to the client: an Ack once it is committed (if the send had a ref),
// server_busy if it failed. It runs on the store's goroutine (it is the
// Append callback) and only pushes to the outbox.
func (s *Session) acknowledge(ref, id string, ts time.Time, err error) {
	switch {
	case err != nil:
		// The store logged the cause; the client learns only that it failed.
		s.fail(ref, protocol.CodeServerBusy, "message "+id+" was not stored, send it again")
	case ref != "":
		s.out.Push(protocol.EncodeAckMessage(ref, id, ts))
	}
}

func (s *Session) history(ctx context.Context, req protocol.Request) {
	name, ok := NormalizeRoom(req.Room, s.hub.cfg.Limits.RoomMax)
	if !ok {
		s.fail(req.Ref, protocol.CodeInvalidRoom, s.roomRule())
		return
	}
	if _, in := s.rooms[name]; !in {
		s.fail(req.Ref, protocol.CodeNotInRoom, "join room "+name+" to read its history")
		return
	}
	if req.Before != "" && !validID(req.Before) {
		s.fail(req.Ref, protocol.CodeBadRequest, "before is not a message id")
		return
	}
	limit := req.Limit
	if limit <= 0 {
		limit = s.hub.cfg.HistoryPage
	}
	limit = min(limit, s.hub.cfg.HistoryMax)
	s.sendHistory(ctx, req.Ref, HistoryQuery{Room: name, Before: req.Before, Limit: limit}, req.Before == "")
}

func (s *Session) roomRule() string {
	return "a room name is 1-" + strconv.Itoa(s.hub.cfg.Limits.RoomMax) + " characters of a-z 0-9 _ -"
}

func (s *Session) ack(ref, username, room string) {
	if ref != "" {
		s.out.Push(protocol.EncodeAck(ref, username, room))
	}
}

func (s *Session) sortedRooms() []*Room {
	keys := slices.Sorted(maps.Keys(s.rooms))
	rooms := make([]*Room, len(keys))
	for i, k := range keys {
		rooms[i] = s.rooms[k]
	}
	return rooms
}

// Close ends the session: it leaves every room (the others see UserLeft),
// frees its name and unregisters. The transport calls it once, after the
// last command, when the connection is gone.
func (s *Session) Close() {
	if s.closed {
		return
	}
	s.closed = true
	// Leaving is a control message: never dropped. The context is not the
	// connection's (it is done by now) but bounded, in case of shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, r := range s.sortedRooms() {
		r.control(ctx, &roomMsg{kind: msgLeave, from: s})
	}
	s.rooms = nil
	s.releaseName()
	s.hub.sessions.Delete(s.id)
	s.out.Close(protocol.CloseNormal, "")
}

// quoteShort quotes s for an error message, cut to 32 bytes.
func quoteShort(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return `"` + s + `"`
}
