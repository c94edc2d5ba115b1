package actors

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"parley/internal/protocol"
)

// roomMsgKind tells what a roomMsg asks of the room.
type roomMsgKind uint8

const (
	// msgPost is data: a chat message. Sessions enqueue it without blocking
	// and it is refused (server_busy) when the inbox is full.
	msgPost roomMsgKind = iota
	// The control messages below are never dropped by the room: sessions
	// send them blocking, then wait for the reply. A sender may withdraw
	// one that the room has not taken yet (see control).
	msgJoin   // add (or resync) a member; reply with the last id and the members
	msgReady  // the member's join reply is out: release the frames held for it
	msgLeave  // remove a member (LeaveRoom or disconnect)
	msgRename // a member changed its name
	msgDelete // the room is deleted (Hub.DeleteRoom): its members are sent out, and it stops
	msgChange // a stored edit or deletion of a message: announce it (see edits.go)
	// msgRemote is a message the cluster ordered (cluster.go): deliver it.
	// Hub.Deliver hands it over blocking, like a control message, and it
	// is never dropped; it has no reply.
	msgRemote
	// msgPresence is another node's presence in the room, or a tick to
	// send this node's (presence_cluster.go). Handed over like msgRemote.
	msgPresence
	msgTyping // data, like msgPost: a member is typing (typing.go); dropped when the inbox is full
	// msgCommitted is a message the store committed, to deliver now
	// (Config.DeliverAfterCommit, aftercommit.go). Handed over like msgRemote.
	msgCommitted
)

// roomMsg is one item of a room's inbox.
type roomMsg struct {
	kind roomMsgKind
	// claim decides, for a control message, who has it: the room when it
	// takes it (claimPending to claimTaken, in handle) or the sender when
	// it gives up waiting (claimPending to claimWithdrawn, in control). The
	// CAS makes the two exclusive: a withdrawn message is skipped, a taken
	// one is replied to within the room's turn.
	claim atomic.Uint32
	from  *Session
	name  string         // msgJoin, msgRename: the member's display name
	ref   string         // msgPost: the request's ref, for the Ack
	post  *StoredMessage // msgPost: content and nonce set by the session; the room sets the rest
	size  int64          // msgPost: bytes counted against the inbox byte budget
	frame []byte         // msgChange: the MessageEdited or MessageDeleted to broadcast; msgRemote: the Message
	pos   uint64         // msgRemote: the message's position in the cluster's stream
	event *Presence      // msgPresence: another node's; nil for this node's tick
	reply chan roomReply // control: capacity 1; written once by run; read by the sender
}

const (
	claimPending uint32 = iota
	claimTaken
	claimWithdrawn
)

// roomReply answers a control message.
type roomReply struct {
	lastID  string   // msgJoin: the id of the last message the member will not get live
	members []string // msgJoin: member names, sorted
	// joined is msgJoin's UserJoined of the joiner, for the joiner itself,
	// sent by its session after Members (in the same write as its join
	// reply, where the room's held frames would cost one more); nil on a
	// re-join.
	joined []byte
}

// member is a room's view of one session (one connection) in it. Frames
// go to every member; presence and Members count people (see person).
type member struct {
	who *person // the person this connection is of, and so its name
	out Peer
	// While syncing, the member's join reply (Ack, History, Members) is being
	// sent by its session, and frames for it are held here, bounded by the
	// Hub's OutboxLimits, so that History always comes before live traffic.
	syncing      bool
	held         [][]byte
	heldBytes    int
	heldOverflow bool
	// presenceFrom: the room's gathered presence before this index was
	// announced before the member joined (its Members list has it); it
	// gets only what follows. Reset to 0 when the gathered presence goes out.
	presenceFrom int
}

// person is one member of the room as the others see it: a guest's one
// connection, or all of an account's connections in the room. It arrives
// (UserJoined) with its first connection and leaves (UserLeft) with its last.
type person struct {
	name  string
	conns int // the person's connections in the room
}

// Room is a room actor: one goroutine (run) that owns the room's member set,
// fed by a bounded inbox. It assigns each message its id and timestamp, hands
// it to the Store, and fans the encoded frame out to the members' peers
// without ever blocking on one of them.
type Room struct {
	name      string
	hub       *Hub
	permanent bool // a default room: never retired for being idle

	// inbox is written by sessions (posts without blocking, control blocking)
	// and read by run. It is never closed: stopped tells senders that run is gone.
	inbox      chan *roomMsg
	inboxBytes atomic.Int64 // bytes of posts waiting in inbox; added by post, subtracted by run
	// stopped is closed by run when it returns.
	stopped chan struct{}
	// memberCount (people, not connections) is written by run and read by RoomList.
	memberCount atomic.Int32
	// changes is held by a session from storing an edit or deletion to the
	// room's taking its announcement, so that changes are announced in the
	// order they were stored (see edits.go).
	changes sync.Mutex

	// Owned by run.
	deleted   bool                 // msgDelete was handled: run stops after this turn
	forgotten bool                 // empty, never written to, and forgotten (Hub.forgetRoom): run stops after this turn
	members   map[*Session]*member // every connection in the room: the fan-out's set
	people    map[uint64]*person   // by Session.person: who is in the room
	ids       *idSource
	lastID    string
	pos       uint64 // cluster mode: the stream position of lastID (see cluster.go)
	// Cluster mode (presence_cluster.go): the people on other nodes, by
	// node, and every name present on any node with how many places
	// (this node, other nodes) it is present in. nil on a single node.
	remote map[string]map[string]struct{}
	roster map[string]int
	// memberNames: the people's names (the roster's, in cluster mode),
	// sorted, for Members; changed by arrive, depart, renamed, place and
	// unplace.
	memberNames memberList
	dropped     []*Session // members whose peer overflowed during a fan-out
	nonces      nonceCache // recent messages sent with a nonce, by sender and nonce
	idle        Timer      // running while the room is empty; nil otherwise
	// Presence gathering (presence.go): when presence last went out, the
	// announcements gathered since (encoded once, for every member; at most
	// maxPendingPresence), the timer that sends them, when the last was
	// gathered, and whether the window is a storm's (stretched).
	presenceAt      time.Time
	pendingPresence [][]byte
	presenceTimer   Timer // running while gathered presence waits; nil otherwise
	presenceLast    time.Time
	presenceStorm   bool // the window gathered busyPresence: it is stretched (window)
}

func newRoom(h *Hub, name, lastID string, permanent bool) *Room {
	return &Room{
		name:      name,
		hub:       h,
		permanent: permanent,
		inbox:     make(chan *roomMsg, h.cfg.RoomInbox),
		stopped:   make(chan struct{}),
		members:   make(map[*Session]*member),
		people:    make(map[uint64]*person),
		ids:       newIDSource(lastID),
		lastID:    lastID,
	}
}

// Name returns the room's name.
func (r *Room) Name() string { return r.name }

// Members returns how many people are in the room (an account's
// connections count once).
func (r *Room) Members() int { return int(r.memberCount.Load()) }

// run is the room's goroutine. The Hub starts it when the room is first
// needed; it exits when ctx is done or when the room has been empty for the
// idle timeout (default rooms excepted), and closes stopped on its way out.
func (r *Room) run(ctx context.Context) {
	defer close(r.stopped)
	if !r.permanent {
		r.startIdle()
	}
	for {
		var idleC, presenceC <-chan time.Time
		if r.idle != nil {
			idleC = r.idle.C()
		}
		if r.presenceTimer != nil {
			presenceC = r.presenceTimer.C()
		}
		select {
		case m := <-r.inbox:
			r.handle(m)
			if r.deleted {
				r.stopIdle()
				r.drainDeleted()
				return
			}
			if r.forgotten {
				r.stopIdle()
				return
			}
		case <-presenceC:
			r.presenceTimer = nil
			r.presenceTimerFired()
		case <-idleC:
			r.idle = nil
			if r.forgettable() && r.hub.forgetRoom(r) {
				return
			}
			if len(r.members) == 0 && r.hub.retireRoom(r) {
				return
			}
		case <-ctx.Done():
			// Drain what is already queued, so that posts accepted before
			// shutdown reach the store and waiting sessions get their replies.
			for {
				select {
				case m := <-r.inbox:
					r.handle(m)
				default:
					return
				}
			}
		}
	}
}

// handle runs one inbox message. A control message's reply is sent last,
// after the turn's bookkeeping (reaping, the member count, the idle timer),
// so that whoever waits on it sees the room as the turn left it.
func (r *Room) handle(m *roomMsg) {
	if m.reply != nil && !m.claim.CompareAndSwap(claimPending, claimTaken) {
		return // withdrawn by its sender before the room got to it: as if never sent
	}
	var rep roomReply
	switch m.kind {
	case msgPost:
		r.inboxBytes.Add(-m.size)
		r.handlePost(m)
	case msgJoin:
		rep = r.handleJoin(m)
	case msgReady:
		r.handleReady(m)
	case msgLeave:
		r.handleLeave(m)
	case msgRename:
		r.handleRename(m)
	case msgDelete:
		r.handleDelete()
	case msgChange:
		r.handleChange(m)
	case msgRemote:
		r.handleRemote(m)
	case msgPresence:
		r.handlePresence(m)
	case msgTyping:
		r.handleTyping(m)
	case msgCommitted:
		r.handleCommitted(m)
	}
	r.reap()
	if r.roster != nil {
		r.memberCount.Store(int32(len(r.roster)))
	} else {
		r.memberCount.Store(int32(len(r.people)))
	}
	// Forgotten within the turn, before its reply: once the last member's
	// leave is acknowledged, the room is gone from the list.
	if !r.deleted && r.forgettable() {
		r.forgotten = r.hub.forgetRoom(r)
	}
	if len(r.members) == 0 && r.idle == nil && !r.permanent && !r.forgotten && !r.deleted {
		r.startIdle()
	}
	if m.reply != nil {
		m.reply <- rep
	}
}

// forgettable: the room is empty and never held a message (nor is it a
// default room), so nothing is lost by forgetting it was created.
func (r *Room) forgettable() bool {
	return !r.permanent && len(r.members) == 0 && r.lastID == ""
}

func (r *Room) startIdle() { r.idle = r.hub.cfg.Clock.NewTimer(r.hub.cfg.RoomIdle) }

func (r *Room) stopIdle() {
	if r.idle != nil {
		r.idle.Stop()
		r.idle = nil
	}
}

func (r *Room) handlePost(m *roomMsg) {
	mem := r.members[m.from]
	if mem == nil {
		m.from.out.Send(protocol.EncodeError(m.ref, protocol.CodeNotInRoom, "you are not in room "+r.name))
		return
	}
	var nonceKey string
	if m.post.Nonce != "" {
		nonceKey = foldName(mem.who.name) + "\x00" + m.post.Nonce
		if e := r.nonces.get(nonceKey); e != nil && e.dedupe(m.from, m.ref) {
			return // a resend: answered with the first message's id
		}
	}
	if r.hub.broker != nil {
		r.publish(m, mem, nonceKey)
		return
	}
	now := r.hub.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	rec := m.post
	rec.ID = r.ids.next(now)
	rec.Room = r.name
	rec.Username = mem.who.name
	rec.Timestamp = now
	// Encode before handing rec to the store, which owns it from then on.
	frame := protocol.EncodeMessage(rec.wire())
	sender, ref, id := m.from, m.ref, rec.ID
	var done func(error)
	if nonceKey == "" {
		done = func(err error) { sender.acknowledge(ref, id, now, err) }
	} else {
		entry := &nonceEntry{id: id, ts: now}
		r.nonces.put(nonceKey, entry)
		done = func(err error) {
			sender.acknowledge(ref, id, now, err)
			entry.settle(err)
		}
	}
	if r.hub.cfg.DeliverAfterCommit {
		done = r.deliverAfterCommit(done, id, frame)
	}
	if !r.hub.store.Append(rec, done) {
		if nonceKey != "" {
			r.nonces.put(nonceKey, &nonceEntry{state: nonceFailed}) // nothing was stored
		}
		// Nothing was stored, so nothing is delivered: the sender may retry.
		r.hub.metrics.busy.Add(1)
		sender.out.Send(protocol.EncodeError(ref, protocol.CodeServerBusy, "server busy: message not sent, try again"))
		return
	}
	if !sender.account {
		sender.sent.add(id) // a guest may edit what this connection sent
	}
	r.hub.metrics.messagesIn.Add(1)
	if r.hub.cfg.DeliverAfterCommit {
		return // delivered by handleCommitted
	}
	r.lastID = id
	r.broadcast(frame)
}

// handleJoin adds a connection. The others see UserJoined only when it is
// its person's first connection in the room; the joining connection always
// gets its own (roomReply.joined), after its History and Members, as every
// joiner does.
func (r *Room) handleJoin(m *roomMsg) roomReply {
	mem := r.members[m.from]
	if mem != nil {
		mem.syncing = true // a re-join resends History: hold live frames again
		return roomReply{lastID: r.lastID, members: r.names()}
	}
	r.stopIdle()
	joined := protocol.EncodeUserJoined(m.name, r.name)
	p := r.people[m.from.person]
	if p == nil {
		p = &person{name: m.name}
		r.people[m.from.person] = p
		if r.arrive(m.name) {
			r.presence(joined)
		}
	}
	p.conns++
	// presenceFrom: what was gathered before the join is in Members already.
	r.members[m.from] = &member{who: p, out: m.from.out, syncing: true, presenceFrom: len(r.pendingPresence)}
	return roomReply{lastID: r.lastID, members: r.names(), joined: joined}
}

func (r *Room) handleReady(m *roomMsg) {
	if mem := r.members[m.from]; mem != nil && mem.syncing {
		mem.syncing = false
		held := mem.held
		mem.held, mem.heldBytes = nil, 0
		if mem.heldOverflow {
			mem.out.Close(protocol.ClosePolicy, "slow consumer: outbound queue full")
			r.dropped = append(r.dropped, m.from)
		} else {
			for _, f := range held {
				if !r.deliver(m.from, mem, f) {
					break
				}
			}
		}
	}
}

func (r *Room) handleLeave(m *roomMsg) {
	if _, ok := r.members[m.from]; ok {
		r.remove(m.from)
	}
}

func (r *Room) handleRename(m *roomMsg) {
	// Only guests rename, and a guest is one connection: its person is its own.
	if mem := r.members[m.from]; mem != nil && mem.who.name != m.name {
		old := mem.who.name
		mem.who.name = m.name
		r.renamed(old, m.name)
		// Two small frames, whatever the room's size: the seed's notice,
		// and the event a client updates its member list from (a full
		// Members per rename cost each member the whole list).
		r.broadcast(protocol.EncodeSystem(r.name, old+" is now known as "+m.name))
		r.broadcast(protocol.EncodeUserRenamed(r.name, old, m.name))
	}
}

// remove takes a connection out; when it was its person's last, the others
// are told the person left.
func (r *Room) remove(s *Session) {
	mem := r.members[s]
	delete(r.members, s)
	if mem.who.conns--; mem.who.conns == 0 {
		delete(r.people, s.person)
		if r.depart(mem.who.name) {
			r.presence(protocol.EncodeUserLeft(mem.who.name, r.name))
		}
	}
}

// broadcast hands the same frame to every member without blocking, after
// the presence gathered so far (in one wake of each member's writer), so
// that members see the room's events in the order it had them. Members
// whose peer overflowed are collected in r.dropped for reap.
func (r *Room) broadcast(frame []byte) {
	if len(r.pendingPresence) > 0 {
		r.pendingPresence = append(r.pendingPresence, frame)
		r.flushPresence()
		return
	}
	for s, mem := range r.members {
		r.deliver(s, mem, frame)
	}
	r.hub.metrics.deliveries.Add(int64(len(r.members)))
}

// deliver queues frame for one member, or holds it while the member
// syncs. It reports false, and records the member in r.dropped, if the
// member's queue overflowed.
func (r *Room) deliver(s *Session, mem *member, frame []byte) bool {
	if mem.syncing {
		if mem.heldOverflow {
			return false
		}
		lim := r.hub.cfg.Outbox
		if len(mem.held)+1 > lim.Frames || mem.heldBytes+len(frame) > lim.Bytes {
			mem.heldOverflow = true
			mem.held, mem.heldBytes = nil, 0
			return false
		}
		mem.held = append(mem.held, frame)
		mem.heldBytes += len(frame)
		return true
	}
	if mem.out.Send(frame) == Overflow {
		r.dropped = append(r.dropped, s)
		r.hub.metrics.slow.Add(1)
		return false
	}
	return true
}

// reap removes the members whose peer overflowed. Their sessions are being
// closed with 1008; removing them here keeps the room from queueing for a
// dead consumer until its session's leave arrives.
func (r *Room) reap() {
	for len(r.dropped) > 0 {
		s := r.dropped[len(r.dropped)-1]
		r.dropped = r.dropped[:len(r.dropped)-1]
		if _, ok := r.members[s]; ok {
			r.remove(s) // may append to r.dropped
		}
	}
}

// names lists the people in the room (on every node), sorted. The slice is
// shared: read it, do not change it.
func (r *Room) names() []string { return r.memberNames.list() }

// post enqueues a chat message without blocking. It reports false when the
// inbox is full (in messages or bytes) or the room has stopped.
func (r *Room) post(m *roomMsg) bool {
	if r.inboxBytes.Add(m.size) > r.hub.cfg.RoomInboxBytes {
		r.inboxBytes.Add(-m.size)
		return false
	}
	select {
	case r.inbox <- m:
		return true
	default:
		r.inboxBytes.Add(-m.size)
		return false
	}
}

// errRoomStopped is control's error when the room stopped before taking the
// message: it retired (a joiner looks the room up again) or the Hub shut
// down. A room with members never retires.
var errRoomStopped = errors.New("room stopped")

// control hands a control message to the room and waits for its reply.
// Control messages are never dropped: the hand-off waits while the inbox is
// full. ctx bounds the wait, with one guarantee: either the room handles
// the message, and control returns its reply, or it never will, and control
// returns an error. When ctx ends before the hand-off, nothing was sent.
// When it ends after, control withdraws the message if the room has not
// taken it yet (it will skip it); if the room has, the reply is on its way
// within the room's current turn, which never blocks, and control waits for
// it. Callers that must not give up (a leave on close) pass a ctx that is
// never done: then only the room stopping ends the wait.
func (r *Room) control(ctx context.Context, m *roomMsg) (roomReply, error) {
	m.reply = make(chan roomReply, 1)
	select {
	case r.inbox <- m: // a free slot wins over a ctx that is already done
	default:
		select {
		case r.inbox <- m:
		case <-r.stopped:
			return roomReply{}, errRoomStopped
		case <-ctx.Done():
			return roomReply{}, context.Cause(ctx)
		}
	}
	select {
	case rep := <-m.reply:
		return rep, nil
	case <-ctx.Done():
		if m.claim.CompareAndSwap(claimPending, claimWithdrawn) {
			return roomReply{}, context.Cause(ctx)
		}
		// Taken: the reply comes at the end of the room's turn.
		select {
		case rep := <-m.reply:
			return rep, nil
		case <-r.stopped:
			return r.lastReply(m)
		}
	case <-r.stopped:
		return r.lastReply(m)
	}
}

// lastReply is control's answer once the room has stopped: run may have
// replied just before stopping; if not, it never took the message.
func (r *Room) lastReply(m *roomMsg) (roomReply, error) {
	select {
	case rep := <-m.reply:
		return rep, nil
	default:
		return roomReply{}, errRoomStopped
	}
}
