package actors

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"parley/internal/protocol"
)

// Session is one connection's actor, in two precise senses, and it has no
// goroutine of its own:
//
//   - Its turns are its client's frames, one at a time: the transport hands
//     each frame to a short-lived goroutine that runs Handle, and waits for
//     it before reading the next. An account's connection has two more
//     kinds of turn: Resume, before its first frame, and follow, a join or
//     leave that another connection of the account spread to it. turn
//     makes all of them one at a time, so the fields below it are owned by
//     whichever goroutine runs the current turn. It is only ever contended
//     by a follow, which waits for the request in progress.
//   - Its mailbox is its Peer, the connection's outbound queue: rooms, other
//     sessions (private messages), the store's acknowledgements and its own
//     replies all send frames there, and the connection's writer drains them
//     to the client. Nothing else reaches into a session.
type Session struct {
	id     uint64
	hub    *Hub
	client string // the client it comes from, as the transport keys it: its shared budgets' key
	out    Peer   // sent to by anyone; drained by the transport's writer
	// Set before the session is published (Connect, ConnectAccount), never
	// changed: rooms read them from their own goroutines.
	account bool // an account's connection: its name is fixed
	admin   bool // an account's with the admin role
	// Shared with its client's (and account's) other connections; held
	// from before it is published, released by Close.
	clientBudget, accountBudget *budget
	// person is who the session speaks for: its own id for a guest; for an
	// account, one id shared by all of its connections (see ConnectAccount).
	person uint64
	// sent: a guest's recent messages, the ones it may edit (edits.go).
	sent sentIDs
	// pmGuests: the guests on this node its recent private messages went to (privateedits.go).
	pmGuests pmGuests

	turn sync.Mutex // held for each turn: Handle, HandleMalformed, Resume, follow, Close

	// Owned by the current turn.
	life     context.Context // the connection's context, kept by Resume for follow; nil before
	name     string          // as displayed
	fold     string          // name case-folded: how the store and the nonce caches know the sender
	key      string          // Skeleton(name): its key in hub.names
	rooms    map[string]*Room
	current  string     // the room SendMessage without a room goes to; "" if none
	ids      *idSource  // private message ids; made on the first one
	pmNonces nonceCache // recent private messages sent with a nonce, by recipient and nonce
	// Token buckets, full at first. Only ever asked with AllowN and the
	// hub's Clock, so that tests drive them with an injected clock.
	bucket *rate.Limiter // requests allowed
	abuse  *rate.Limiter // rate-limited requests tolerated before 1008
	// Made on first use (most connections never create a room or rename:
	// an idle connection does not carry them).
	typedAt  time.Time     // when its last Typing was relayed (typing.go)
	newRooms *rate.Limiter // rooms it may create (mayCreate)
	renames  *rate.Limiter // renames it may make: only successful ones spend it
	closed   bool
}

func newSession(h *Hub, id uint64, client string, out Peer) *Session {
	l := h.cfg.Limits
	return &Session{
		id:     id,
		hub:    h,
		client: client,
		out:    out,
		rooms:  make(map[string]*Room),
		bucket: rate.NewLimiter(rate.Limit(l.RatePerSec), l.RateBurst),
		abuse:  rate.NewLimiter(rate.Limit(l.RatePerSec/2), l.AbuseBudget),
	}
}

// ID returns the session's id, unique for the life of the process.
func (s *Session) ID() uint64 { return s.id }

// Username returns the session's current name. Only from the current
// command's goroutine (or once the session is idle, as tests do).
func (s *Session) Username() string { return s.name }

// Handle runs one request. It never blocks on another client: the waits it
// has are on this session's own rooms taking its control messages and on
// the store. conn is the connection's context, done once the connection is
// ending; a request that can wait runs under a deadline derived from it
// (see deadline), and answers server_busy when that ends first.
func (s *Session) Handle(conn context.Context, req protocol.Request) {
	s.turn.Lock()
	defer s.turn.Unlock()
	if s.closed || !s.allow(req.Ref, cost(req.Type), heavy(req.Type)) {
		return
	}
	if len(req.Ref) > s.hub.cfg.Limits.RefMax {
		s.fail(req.Ref, protocol.CodeBadRequest, "ref is longer than "+strconv.Itoa(s.hub.cfg.Limits.RefMax)+" bytes")
		return
	}
	switch req.Type {
	case protocol.TypeSetUsername:
		s.setUsername(conn, req)
	case protocol.TypeJoinRoom:
		s.joinRoom(conn, req)
	case protocol.TypeLeaveRoom:
		s.leaveRoom(conn, req)
	case protocol.TypeSendMessage:
		s.sendMessage(conn, req)
	case protocol.TypePrivateMessage:
		s.privateMessage(conn, req)
	case protocol.TypeListRooms:
		s.listRooms(req)
	case protocol.TypeHistory:
		s.history(conn, req)
	case protocol.TypeConversations:
		s.conversations(conn, req)
	case protocol.TypeMarkRead:
		s.markRead(conn, req)
	case protocol.TypeEditMessage:
		s.changeMessage(conn, req, false)
	case protocol.TypeDeleteMessage:
		s.changeMessage(conn, req, true)
	case protocol.TypeReact:
		s.react(conn, req)
	case protocol.TypeTyping:
		s.typing(req)
	case protocol.TypeSearch:
		s.search(conn, req)
	case "":
		s.fail(req.Ref, protocol.CodeBadRequest, "missing type")
	default:
		s.fail(req.Ref, protocol.CodeUnknownType, "unknown type "+quoteShort(req.Type))
	}
}

// errRequestTimeout is the cause of a request's context once its deadline
// has passed.
var errRequestTimeout = fmt.Errorf("request timed out: %w", context.DeadlineExceeded)

// deadline derives the context of one request that can wait: it ends when
// conn does, or once RequestTimeout has passed on the hub's Clock (so tests
// move it with their clock). Only requests that can wait make one: a send
// without a nonce, the hot path, never does.
func (s *Session) deadline(conn context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(conn)
	stop := s.hub.cfg.Clock.AfterFunc(s.hub.cfg.RequestTimeout, func() { cancel(errRequestTimeout) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// waitErr adds to err why ctx ended, if it did: the stores wrap ctx.Err(),
// which for a deadline is only "context canceled".
func waitErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%w (%v)", err, cause)
	}
	return err
}

// HandleMalformed answers a frame the transport could not decode, with the
// ref it could read, if any. It counts against the rate limit like any
// request.
func (s *Session) HandleMalformed(ref, reason string) {
	s.turn.Lock()
	defer s.turn.Unlock()
	if s.closed || !s.allow(ref, 1, false) {
		return
	}
	s.fail(ref, protocol.CodeBadRequest, reason)
}

// fail queues an Error. A ref over the limit is not echoed: it was never a
// valid ref, whichever check caught the request.
func (s *Session) fail(ref string, code protocol.ErrorCode, msg string) {
	if len(ref) > s.hub.cfg.Limits.RefMax {
		ref = ""
	}
	s.out.Send(protocol.EncodeError(ref, code, msg))
}

// setUsername renames a guest. Names are unique by Skeleton among the
// connected, guests and accounts alike, and a guest may not take a reserved
// name nor one registered to an account (asked of Config.Names under the
// request's deadline). An account's connection keeps its account's name.
func (s *Session) setUsername(conn context.Context, req protocol.Request) {
	name, fold, ok := NormalizeUsername(req.Username, s.hub.cfg.Limits.UsernameMax)
	if !ok {
		s.fail(req.Ref, protocol.CodeInvalidUsername, "a username is 1-"+strconv.Itoa(s.hub.cfg.Limits.UsernameMax)+" characters of A-Z a-z 0-9 _ -")
		return
	}
	if name == s.name {
		s.ack(req.Ref, name, "")
		return
	}
	if s.account {
		s.fail(req.Ref, protocol.CodeNotAllowed, "you are signed in as "+s.name+": an account's name cannot be changed")
		return
	}
	now := s.hub.cfg.Clock.Now()
	if s.renames == nil {
		s.renames = rate.NewLimiter(rate.Every(s.hub.cfg.Limits.RenameEvery), 2)
	}
	if s.renames.TokensAt(now) < 1 {
		s.hub.metrics.rateLimited.Add(1)
		s.fail(req.Ref, protocol.CodeRateLimited, "you can change your name once every "+s.hub.cfg.Limits.RenameEvery.String()+": wait a moment")
		return
	}
	if Reserved(name) {
		s.fail(req.Ref, protocol.CodeInvalidUsername, "the name "+name+" is reserved")
		return
	}
	key := Skeleton(name)
	if key != s.key {
		if _, taken := s.hub.names.Load(key); taken {
			s.fail(req.Ref, protocol.CodeUsernameTaken, "username "+name+" is taken, or too like one that is")
			return
		}
	}
	registry := s.hub.cfg.Names
	if key == s.key {
		registry = nil // the guest already holds this skeleton
	}
	ctx := conn
	if registry != nil || len(s.rooms) > 0 || s.hub.broker != nil {
		var cancel context.CancelFunc
		ctx, cancel = s.deadline(conn)
		defer cancel()
	}
	if registry != nil {
		// I/O (the accounts store): asked here, never inside the names
		// map's Compute. An account registered between this answer and the
		// claim below takes its name back when it connects (ConnectAccount).
		registered, err := registry.Registered(ctx, key)
		if err != nil {
			s.hub.log.Warn("check name", "err", waitErr(ctx, err))
			s.fail(req.Ref, protocol.CodeServerBusy, "could not check the name, try again")
			return
		}
		if registered {
			s.fail(req.Ref, protocol.CodeUsernameTaken, "the name "+name+" belongs to an account, or is too like one that does")
			return
		}
	}
	// Both names are held until the rooms have the new one, so that a
	// rename that fails can go back to the old.
	oldName, oldKey := s.name, s.key
	if key != oldKey {
		if !s.hub.claimName(key, name, s) {
			s.fail(req.Ref, protocol.CodeUsernameTaken, "username "+name+" is taken, or too like one that is")
			return
		}
		if ok, err := s.claimInCluster(ctx, key, name); !ok {
			s.hub.releaseName(key, s)
			if err != nil {
				s.hub.log.Warn("claim a name in the cluster", "err", waitErr(ctx, err))
				s.fail(req.Ref, protocol.CodeServerBusy, "could not check the name, try again")
			} else {
				s.fail(req.Ref, protocol.CodeUsernameTaken, "username "+name+" is taken, or too like one that is")
			}
			return
		}
	} else if !s.hub.respell(key, name, s) { // same skeleton, new spelling
		s.fail(req.Ref, protocol.CodeUsernameTaken, "username "+name+" belongs to an account")
		return
	}
	if !s.renameInRooms(ctx, conn, oldName, name) {
		if key != oldKey {
			s.hub.releaseName(key, s)
			s.releaseInCluster(key)
		} else {
			s.hub.respell(key, oldName, s)
		}
		s.fail(req.Ref, protocol.CodeServerBusy, "a room is busy: username not changed, try again")
		return
	}
	if key != oldKey {
		s.hub.releaseName(oldKey, s)
		s.releaseInCluster(oldKey)
	}
	s.renames.AllowN(now, 1) // turns are one at a time: the token checked above is there
	s.name, s.fold, s.key = name, fold, key
	s.ack(req.Ref, name, "")
}

// renameInRooms tells each of the session's rooms its new name, within the
// request's deadline ctx, and reports whether every room took it. A rename is all
// or nothing: when a room cannot take it in time, the rooms that already
// did are told the old name again (their members see the name change and
// change back). Those renames back are never given up for the deadline,
// only if the connection ends (its rooms are then left anyway): each room
// has just taken a message, and a room's turn never blocks.
func (s *Session) renameInRooms(ctx, conn context.Context, from, to string) bool {
	rooms := s.sortedRooms()
	for i, r := range rooms {
		_, err := r.control(ctx, &roomMsg{kind: msgRename, from: s, name: to})
		if err == nil || errors.Is(err, errRoomStopped) { // stopped: the server is shutting down
			continue
		}
		s.hub.log.Warn("rename", "room", r.name, "err", err)
		for _, renamed := range rooms[:i] {
			_, _ = renamed.control(conn, &roomMsg{kind: msgRename, from: s, name: from})
		}
		return false
	}
	return true
}

func (s *Session) sendMessage(conn context.Context, req protocol.Request) {
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
	if !s.checkSend(req) || s.dedupeResend(conn, req, NonceKey{Room: name, Username: s.fold, Nonce: req.Nonce}) {
		return
	}
	m := &roomMsg{
		kind: msgPost,
		from: s,
		ref:  req.Ref,
		post: &StoredMessage{Content: req.Content, Nonce: req.Nonce, Mentions: s.mentions(conn, req.Content)},
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

// privateMessage sends to the person named req.To (by skeleton): to every
// connection of it, and echoes it to every connection of the sender. An
// account may also write to an account that is not connected: the message
// is stored and acknowledged, and its recipient reads it with History. A
// message between two accounts is kept in both accounts' conversations
// (StoredMessage.Kept); a guest's is delivered live only, and a guest
// may write only to the connected.
func (s *Session) privateMessage(conn context.Context, req protocol.Request) {
	_, _, valid := NormalizeUsername(req.To, s.hub.cfg.Limits.UsernameMax)
	var (
		to    nameOwner
		found bool
	)
	if valid {
		to, found = s.hub.names.Load(Skeleton(req.To))
	}
	if !found && valid && s.account && s.hub.cfg.Names != nil {
		var err error
		if to, found, err = s.offlineAccount(conn, Skeleton(req.To)); err != nil {
			s.fail(req.Ref, protocol.CodeServerBusy, "could not look "+quoteShort(req.To)+" up, try again")
			return
		}
	}
	if !found && valid && s.hub.broker != nil {
		var err error
		if to, found, err = s.remoteRecipient(conn, Skeleton(req.To)); err != nil {
			s.fail(req.Ref, protocol.CodeServerBusy, "could not look "+quoteShort(req.To)+" up, try again")
			return
		}
	}
	if !found && s.account {
		s.fail(req.Ref, protocol.CodeNoSuchUser, "no user "+quoteShort(req.To)+" is connected, and no account has that name")
		return
	}
	if !found {
		s.fail(req.Ref, protocol.CodeNoSuchUser, "no user "+quoteShort(req.To)+" is connected")
		return
	}
	if !s.checkSend(req) || s.dedupeResend(conn, req, NonceKey{Recipient: foldName(to.name), Username: s.fold, Nonce: req.Nonce}) {
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
		Kept:      s.account && to.account,
		Nonce:     req.Nonce,
	}
	frame := protocol.EncodePrivate(rec.wire())
	ref, id := req.Ref, rec.ID
	done := func(err error) { s.acknowledge(ref, id, now, err) }
	if s.hub.broker != nil {
		// The other nodes' connections of both get it once it is stored.
		keys := []string{Skeleton(to.name), s.key}
		done = func(err error) {
			if err == nil {
				s.hub.broker.Private(keys, frame)
			}
			s.acknowledge(ref, id, now, err)
		}
	}
	if nonceKey != "" {
		entry := &nonceEntry{id: id, ts: now}
		s.pmNonces.put(nonceKey, entry)
		ack := done
		done = func(err error) {
			ack(err)
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
	if !s.account {
		s.sent.add(id) // a guest may edit what this connection sent (privateedits.go)
	}
	if !to.account && len(to.sessions) == 1 {
		s.pmGuests.add(id, to.sessions[0].id) // its changes go to that connection
	}
	for _, r := range to.sessions {
		r.out.Send(frame)
	}
	if to.person != s.person { // else the sender's connections just had it
		for _, own := range s.hub.sessionsOf(s) {
			own.out.Send(frame) // the sender's echo
		}
	}
}

// dedupeResend answers a send whose nonce the store already holds from
// this sender, with the first message's id, and reports whether it did. A
// store error (the deadline included) is logged and the send goes ahead:
// the unique index on nonces still keeps a duplicate out of the database.
// Only a send with a nonce reads the store, and makes a deadline for it.
func (s *Session) dedupeResend(conn context.Context, req protocol.Request, key NonceKey) bool {
	if req.Nonce == "" {
		return false
	}
	ctx, cancel := s.deadline(conn)
	defer cancel()
	id, ts, ok, err := s.hub.store.FindNonce(ctx, key)
	if err != nil {
		s.hub.log.Warn("find nonce", "err", waitErr(ctx, err))
		return false
	}
	if ok && req.Ref != "" {
		s.out.Send(protocol.EncodeAckMessage(req.Ref, id, ts))
	}
	return ok
}

// acknowledge is the store's verdict on a message this session sent, told
// to the client: an Ack once it is committed (if the send had a ref),
// server_busy if it failed. It runs on the store's goroutine (it is the
// Append callback) and only sends to the peer.
func (s *Session) acknowledge(ref, id string, ts time.Time, err error) {
	switch {
	case err != nil:
		// The store logged the cause; the client learns only that it failed.
		s.fail(ref, protocol.CodeServerBusy, "message "+id+" was not stored, send it again")
	case ref != "":
		s.out.Send(protocol.EncodeAckMessage(ref, id, ts))
	}
}

func (s *Session) history(conn context.Context, req protocol.Request) {
	if req.With != "" {
		s.conversationHistory(conn, req)
		return
	}
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
	limit := s.pageLimit(req.Limit)
	ctx, cancel := s.deadline(conn)
	defer cancel()
	s.sendHistory(ctx, req.Ref, HistoryQuery{Room: name, Before: req.Before, Limit: limit}, req.Before == "")
}

func (s *Session) roomRule() string {
	return "a room name is 1-" + strconv.Itoa(s.hub.cfg.Limits.RoomMax) + " characters of a-z 0-9 _ -"
}

func (s *Session) ack(ref, username, room string) {
	if ref != "" {
		s.out.Send(protocol.EncodeAck(ref, username, room))
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
// frees its name, unregisters and closes its peer with 1000. The transport
// calls it once, after the last command, when the connection is gone.
func (s *Session) Close() {
	s.turn.Lock()
	defer s.turn.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	// A leave on close is never given up: a room that kept a member whose
	// session is gone would send to a dead peer forever. So it runs under
	// no deadline (the connection's context is done by now), and only the
	// room stopping (Hub.Shutdown) ends the wait.
	for _, r := range s.sortedRooms() {
		_, _ = r.control(context.Background(), &roomMsg{kind: msgLeave, from: s})
	}
	s.rooms = nil
	s.releaseBudgets()
	s.hub.releaseName(s.key, s)
	s.releaseInCluster(s.key)
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

// pageLimit is the number of messages a History or Conversations request
// gets: what it asked for, HistoryPage if it asked for none, at most
// HistoryMax.
func (s *Session) pageLimit(asked int) int {
	if asked <= 0 {
		asked = s.hub.cfg.HistoryPage
	}
	return min(asked, s.hub.cfg.HistoryMax)
}
