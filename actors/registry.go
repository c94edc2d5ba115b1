package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puzpuzpuz/xsync/v3"

	"parley/internal/protocol"
)

// Broker moves room messages between the nodes of a cluster (see
// cluster.go for how the Hub uses it; internal/cluster implements it on
// NATS JetStream). A single node has none (Config.Broker nil): its rooms
// order, store and deliver their messages themselves.
type Broker interface {
	// Publish hands a room message (Room, Username, Content, Timestamp
	// and Nonce set) to the cluster without blocking. It reports false,
	// and never calls done, when its queue is full or the cluster cannot
	// be reached. Otherwise done is called exactly once, from the broker's
	// goroutine and without blocking, with the id the cluster gave the
	// message once it is durable (a resend of a nonce already in the
	// cluster gets the first message's id), or with an error. The message
	// comes back to every node's room through Hub.Deliver.
	Publish(m *StoredMessage, done func(id string, err error)) bool
	// Last returns the id of the newest message of room that the cluster
	// holds, in its stream or its store, and its position in the stream
	// (0 if it has none, as for messages from before the cluster). A room
	// starting on this node asks once it is registered, so that every
	// message after that position reaches it through Deliver.
	Last(ctx context.Context, room string) (id string, pos uint64, err error)
	// Announce hands an edit or a deletion (a MessageEdited or
	// MessageDeleted frame of room), stored already, to the other nodes,
	// which pass it to Hub.DeliverChange. It must not block.
	Announce(room string, frame []byte)

	// Guests' names and private messages across the cluster (an
	// account's name is unique through the store every node shares):
	//
	// ClaimGuest claims a guest's name (key: its Skeleton) across the
	// cluster once this node's names map gave it to the guest; false
	// when a guest on another node holds it.
	ClaimGuest(ctx context.Context, key, name string) (bool, error)
	// ReleaseGuest gives up a name ClaimGuest gave. It waits for NATS at
	// most a few seconds.
	ReleaseGuest(key string)
	// Guest returns the name of the guest holding key on another node.
	Guest(ctx context.Context, key string) (name string, ok bool, err error)
	// Private hands a private message frame, stored already, to the
	// other nodes, which send it to their connections of the names keys
	// (Hub.DeliverPrivate). It must not block.
	Private(keys []string, frame []byte)
	// Presence tells the other nodes' rooms of this node's people in
	// room (they get it through Hub.DeliverPresence). It must not block.
	Presence(room string, p Presence)
}

// DefaultRequestTimeout is Config.RequestTimeout's default: far above what
// a healthy store or room takes (milliseconds), short enough that a client
// whose request cannot be served hears so while it is still looking.
const DefaultRequestTimeout = 10 * time.Second

// Config configures a Hub. Zero values take defaults.
type Config struct {
	Store  Store  // required
	Broker Broker // optional
	// Names tells which names belong to accounts, so that no guest takes
	// one (or one that reads like one). Nil: there are no accounts.
	Names NameRegistry
	// RoomCreation says who may create rooms: anyone (the default, also
	// for ""), accounts, or admins.
	RoomCreation RoomCreation
	Clock        Clock
	Logger       *slog.Logger

	Limits Limits
	Outbox OutboxLimits

	RoomInbox      int           // messages a room's inbox holds (default 1024)
	RoomInboxBytes int64         // bytes of posts a room's inbox holds (default 4 MiB)
	RoomIdle       time.Duration // an empty room's actor stops after this (default 1 min)
	DefaultRooms   []string      // always exist (default general, random, tech)
	// PresenceWindow, when positive, throttles a room's UserJoined and
	// UserLeft: the first after a quiet window goes out at once, those
	// within the window after it are queued without waking the members'
	// writers and go out together at its end. Without it (zero, the
	// default) a room filling up costs one write system call per member per
	// join. docs/performance.md measures the trade-off.
	PresenceWindow time.Duration
	// DeliverAfterCommit (single node only, for measurement: see
	// docs/reliability.md) delivers a room's message to its members once
	// the store committed it, as the cluster does, instead of at once.
	DeliverAfterCommit bool
	// RequestTimeout bounds how long one request may wait (for the store,
	// or for a room to take a control message) before the client gets
	// server_busy and the connection reads on (default 10 s). Requests
	// that never wait (a send without a nonce, ListRooms) get no deadline.
	RequestTimeout time.Duration

	HistoryPage  int // messages in History by default (50)
	HistoryMax   int // messages a History request may ask for (200)
	SinceMax     int // messages a JoinRoom with since returns at most (1000)
	HistoryBytes int // bytes of one History frame at most (512 KiB)
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = SystemClock{}
	}
	if c.RoomCreation == "" {
		c.RoomCreation = RoomCreationAnyone
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.Limits = c.Limits.withDefaults()
	if c.Outbox.Frames <= 0 {
		c.Outbox.Frames = DefaultOutboxLimits.Frames
	}
	if c.Outbox.Bytes <= 0 {
		c.Outbox.Bytes = DefaultOutboxLimits.Bytes
	}
	if c.RoomInbox <= 0 {
		c.RoomInbox = 1024
	}
	if c.RoomInboxBytes <= 0 {
		c.RoomInboxBytes = 4 << 20
	}
	if c.RoomIdle <= 0 {
		c.RoomIdle = time.Minute
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.DefaultRooms == nil {
		c.DefaultRooms = []string{"general", "random", "tech"}
	}
	if c.HistoryPage <= 0 {
		c.HistoryPage = 50
	}
	if c.HistoryMax <= 0 {
		c.HistoryMax = 200
	}
	if c.SinceMax <= 0 {
		c.SinceMax = 1000
	}
	if c.HistoryBytes <= 0 {
		c.HistoryBytes = 512 << 10
	}
	// A History frame must fit in an outbox, or sending it would cut the
	// session off.
	c.HistoryBytes = min(c.HistoryBytes, c.Outbox.Bytes/2)
	return c
}

// Metrics are the Hub's counters, read by the metrics endpoint.
type Metrics struct {
	messagesIn   atomic.Int64 // room messages accepted
	privateIn    atomic.Int64 // private messages accepted
	deliveries   atomic.Int64 // frames fanned out to room members
	busy         atomic.Int64 // sends refused with server_busy
	slow         atomic.Int64 // sessions cut off as slow consumers
	rateLimited  atomic.Int64 // requests refused with rate_limited
	roomsRefused atomic.Int64 // new rooms refused: a creation budget spent, or the cap of running rooms
	// typingDropped counts typing notices dropped: over a connection's
	// rate, a room's inbox full, or a recipient's queue half full.
	typingDropped atomic.Int64
}

// MetricsSnapshot is a copy of the Hub's counters.
type MetricsSnapshot struct {
	Sessions, Rooms                                            int
	Budgets                                                    int // shared budgets kept: clients' and accounts'
	MessagesIn, PrivateIn, Deliveries, Busy, Slow, RateLimited int64
	RoomsRefused                                               int64
	TypingDropped                                              int64
}

// Hub is the registry: sessions by id, names by skeleton (a guest's, or an
// account's with all of its connections), running room actors and known
// rooms, each in a concurrent sharded map. There is no global lock: each map
// shards its own.
type Hub struct {
	cfg    Config
	store  Store
	broker Broker
	log    *slog.Logger

	ctx    context.Context    // parent of every room actor; cancelled by Shutdown
	cancel context.CancelFunc // called by Shutdown
	roomWG sync.WaitGroup     // one per running room actor
	// followers counts the goroutines that spread a join or leave to an
	// account's other connections (Session.spread); Shutdown waits for them.
	followers sync.WaitGroup

	nextID   atomic.Uint64
	sessions *xsync.MapOf[uint64, *Session]
	names    *xsync.MapOf[string, nameOwner] // key: the name's Skeleton
	rooms    *xsync.MapOf[string, *Room]     // running room actors
	running  atomic.Int64                    // running room actors, the default rooms not counted (Limits.MaxRooms)
	catalog  *xsync.MapOf[string, time.Time] // every known room and its creation time
	// sortedNames caches the catalog's names for ListRooms (roomlist.go),
	// valid while namesVersion is the one it was made at.
	sortedNames  atomic.Pointer[roomNames]
	namesVersion atomic.Uint64
	budgets      *xsync.MapOf[string, *budget] // shared by a client's or an account's connections (budget.go)
	budgetSweep  atomic.Int64                  // when budgets was last swept (unix ns; releaseBudget)
	metrics      Metrics
	private      privateLocks // orders the changes of one private message (privateedits.go)
}

// NewHub loads the known rooms from the store, records the default rooms
// and starts their actors.
func NewHub(ctx context.Context, cfg Config) (*Hub, error) {
	if cfg.Store == nil {
		return nil, errors.New("new hub: no store")
	}
	cfg = cfg.withDefaults()
	switch cfg.RoomCreation {
	case RoomCreationAnyone, RoomCreationAccounts, RoomCreationAdmins:
	default:
		return nil, fmt.Errorf("new hub: room creation %q: want anyone, accounts or admins", cfg.RoomCreation)
	}
	h := &Hub{
		cfg:      cfg,
		store:    cfg.Store,
		broker:   cfg.Broker,
		log:      cfg.Logger,
		sessions: xsync.NewMapOf[uint64, *Session](),
		names:    xsync.NewMapOf[string, nameOwner](),
		rooms:    xsync.NewMapOf[string, *Room](),
		catalog:  xsync.NewMapOf[string, time.Time](),
		budgets:  xsync.NewMapOf[string, *budget](),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	recs, err := h.store.Rooms(ctx)
	if err != nil {
		return nil, fmt.Errorf("load rooms: %w", err)
	}
	for _, rec := range recs {
		h.catalog.Store(rec.Name, rec.CreatedAt)
	}
	for _, name := range cfg.DefaultRooms {
		if _, err := h.ensureRoom(ctx, name); err != nil {
			return nil, err
		}
		if _, err := h.room(ctx, name); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// ensureRoom records room in the catalog and the store if it is new. Who
// may create a room, and how many, is the caller's to check (mayCreate).
func (h *Hub) ensureRoom(ctx context.Context, name string) (created bool, err error) {
	if _, ok := h.catalog.Load(name); ok {
		return false, nil
	}
	now := h.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	if err := h.store.CreateRoom(ctx, name, now); err != nil {
		return false, fmt.Errorf("create room %q: %w", name, err)
	}
	_, loaded := h.catalog.LoadOrStore(name, now)
	if !loaded {
		h.namesChanged()
	}
	return !loaded, nil
}

var errRoomCap = errors.New("the server runs as many rooms as it may")

// room returns the running actor of a known room, starting it if needed.
// The store is asked for the room's last id outside the map's Compute (no
// I/O inside it), and the goroutine is started after the map settled on
// which actor won.
func (h *Hub) room(ctx context.Context, name string) (*Room, error) {
	if r, ok := h.rooms.Load(name); ok {
		return r, nil
	}
	var lastID string
	if h.broker == nil {
		// A retired room's last messages may still be on their way to the
		// store: the new actor's ids must follow them, and it must know that
		// the room holds messages (forgettable).
		if err := h.store.Sync(ctx); err != nil {
			return nil, fmt.Errorf("room %q: %w", name, err)
		}
		var err error
		if lastID, err = h.store.LastID(ctx, name); err != nil {
			return nil, fmt.Errorf("room %q last id: %w", name, err)
		}
	}
	permanent := slices.Contains(h.cfg.DefaultRooms, name)
	// The cap is held exactly under any interleaving: a room is counted
	// before its actor may be published, and uncounted if another won.
	if !permanent && !h.countRunning() {
		h.metrics.roomsRefused.Add(1)
		return nil, errRoomCap
	}
	fresh := newRoom(h, name, lastID, permanent)
	r, loaded := h.rooms.LoadOrStore(name, fresh)
	if loaded && !permanent {
		h.running.Add(-1)
	}
	if !loaded && h.broker != nil {
		if err := h.startClusterRoom(ctx, r); err != nil {
			return nil, err
		}
	}
	if !loaded {
		h.roomWG.Add(1)
		// Runs in its own goroutine; exits when the Hub shuts down or the
		// room retires (empty and idle).
		go func() {
			defer h.roomWG.Done()
			r.run(h.ctx)
		}()
	}
	return r, nil
}

// countRunning counts one more running room if the cap allows it.
func (h *Hub) countRunning() bool {
	for {
		n := h.running.Load()
		if n >= int64(h.cfg.Limits.MaxRooms) {
			return false
		}
		if h.running.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// forgetRoom retires r and forgets it was ever created: for a room that
// never held a message, once it is empty, so that rooms made and left
// cost nothing lasting. The store keeps its row, which it does not load
// again (Store.Rooms lists rooms with messages); a join that raced with
// this creates the room anew.
func (h *Hub) forgetRoom(r *Room) bool {
	if !h.retireRoom(r) {
		return false
	}
	h.catalog.Compute(r.name, func(old time.Time, loaded bool) (time.Time, bool) {
		_, running := h.rooms.Load(r.name) // a new actor already: keep the entry
		return old, !loaded || !running
	})
	h.namesChanged()
	return true
}

// retireRoom removes r from the running rooms if it is still the one
// registered. Called by r's own goroutine when it has been empty and idle;
// a join that raced with it sees r.stopped and looks the room up again.
func (h *Hub) retireRoom(r *Room) bool {
	retired := false
	h.rooms.Compute(r.name, func(old *Room, loaded bool) (*Room, bool) {
		if loaded && old == r {
			retired = true
			return nil, true
		}
		return old, !loaded
	})
	if retired && !r.permanent {
		h.running.Add(-1)
	}
	return retired
}

// Connect registers a new guest session, sending to out, with a name it is
// given (guest-NNNNN: reserved, so no client can choose one), and sends its
// Welcome. out should be bounded by OutboxLimits.
//
// client is the client the connection comes from, as the transport keys
// it (an address): the budgets it shares with that client's other
// connections are kept under it.
func (h *Hub) Connect(client string, out Peer) *Session {
	s := newSession(h, h.nextID.Add(1), client, out)
	s.person = s.id
	s.holdBudgets()
	h.sessions.Store(s.id, s)
	refuse := func(reason string) *Session {
		h.sessions.Delete(s.id)
		s.releaseBudgets()
		s.closed = true
		out.Close(protocol.CloseGoingAway, reason)
		return s
	}
	for i := 0; ; i++ {
		name := guestPrefix + strconv.Itoa(10000+rand.IntN(90000))
		if i == 8 {
			// Unique on this node: ids never repeat, and the random names
			// never start with 0 (nor does any digit's skeleton but 0's read
			// "o"). In a cluster another node may hold it.
			name = guestPrefix + "0" + strconv.FormatUint(s.id, 10)
		}
		if key := Skeleton(name); h.claimName(key, name, s) {
			ok, err := h.claimInCluster(key, name)
			if ok {
				s.name, s.fold, s.key = name, foldName(name), key
				break
			}
			h.releaseName(key, s)
			if err != nil {
				h.log.Warn("claim a guest name in the cluster", "err", err)
				return refuse("the cluster cannot be reached, try again")
			}
		}
		if i == 8 {
			// Cannot happen on one node (guest names are reserved to the
			// server), and must not loop: a connection without a name is refused.
			h.log.Error("no guest name free", "name", name)
			return refuse("no guest name is free, try again")
		}
	}
	s.out.Send(protocol.EncodeWelcome(s.name, false))
	return s
}

// ConnectAccount registers a new session of the account name, sending to
// out, and sends its Welcome. name is the account's display name, checked
// and unique among accounts by the caller (the accounts layer); it is
// fixed for the session's life. Every connection of one account is one
// person: they share the name, are one member of each room they are in,
// and all receive the private messages to and from it.
//
// A guest that holds the name (or a look-alike), because it took it before
// the account was registered, loses it: its connection is closed with 1008,
// and the account holds the name from this call on.
//
// client is as for Connect; admin says the account has the admin role.
func (h *Hub) ConnectAccount(client string, out Peer, name string, admin bool) *Session {
	s := newSession(h, h.nextID.Add(1), client, out)
	s.account, s.admin = true, admin
	key := Skeleton(name)
	var evicted []*Session
	h.names.Compute(key, func(old nameOwner, loaded bool) (nameOwner, bool) {
		if loaded && old.account && old.name == name {
			s.person = old.person
			return old.with(s), false
		}
		if loaded {
			evicted = old.sessions
		}
		s.person = s.id // the account's person id while any connection of it is here
		return nameOwner{name: name, person: s.id, account: true, sessions: []*Session{s}}, false
	})
	s.name, s.fold, s.key = name, foldName(name), key
	s.holdBudgets()
	h.sessions.Store(s.id, s)
	for _, g := range evicted {
		h.log.Warn("name taken back by its account", "name", name, "session", g.id)
		g.out.Close(protocol.ClosePolicy, "this name belongs to an account")
	}
	s.out.Send(protocol.EncodeWelcome(name, true))
	return s
}

// CloseAll asks every session's peer to close with code. It does not wait;
// sessions leave their rooms as their connections end.
func (h *Hub) CloseAll(code protocol.CloseCode, reason string) {
	h.sessions.Range(func(_ uint64, s *Session) bool {
		s.out.Close(code, reason)
		return true
	})
}

// Sessions returns how many sessions are connected.
func (h *Hub) Sessions() int { return h.sessions.Size() }

// Shutdown stops every room actor after it has drained its inbox into the
// store, and waits for them or ctx. Close the sessions first (CloseAll, and
// wait for the transport) so that no new posts arrive.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.cancel()
	done := make(chan struct{})
	go func() { // exits when every room actor and every follow has returned
		h.roomWG.Wait()
		h.followers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop rooms: %w", ctx.Err())
	}
}

// Metrics returns a snapshot of the Hub's counters.
func (h *Hub) Metrics() MetricsSnapshot {
	return MetricsSnapshot{
		Sessions:      h.sessions.Size(),
		Rooms:         h.rooms.Size(),
		Budgets:       h.budgets.Size(),
		MessagesIn:    h.metrics.messagesIn.Load(),
		PrivateIn:     h.metrics.privateIn.Load(),
		Deliveries:    h.metrics.deliveries.Load(),
		Busy:          h.metrics.busy.Load(),
		Slow:          h.metrics.slow.Load(),
		RateLimited:   h.metrics.rateLimited.Load(),
		RoomsRefused:  h.metrics.roomsRefused.Load(),
		TypingDropped: h.metrics.typingDropped.Load(),
	}
}

// RoomInboxDepth sums what waits in every room's inbox. It walks the map,
// so call it per metrics scrape, not per message.
func (h *Hub) RoomInboxDepth() int {
	n := 0
	h.rooms.Range(func(_ string, r *Room) bool {
		n += len(r.inbox)
		return true
	})
	return n
}

// OutboxLimits returns the bounds of a session's outbound queue: the
// transport builds each connection's queue with them, and a room holds a
// syncing member's frames within them.
func (h *Hub) OutboxLimits() OutboxLimits { return h.cfg.Outbox }

// MaxRequestBytes is the largest legal request under the hub's limits in
// its longest encoding (Limits.MaxRequestBytes).
func (h *Hub) MaxRequestBytes() int64 { return h.cfg.Limits.MaxRequestBytes() }
