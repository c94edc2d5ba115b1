// Package cluster lets several parley nodes serve the same rooms: it
// implements the Hub's Broker on NATS JetStream, with PostgreSQL as the
// store every node shares.
//
// Every room message goes into one JetStream stream (subject
// parley.room.<hex of the room's name>), replicated over the NATS cluster.
// The stream's sequence is the one order of every room; a message's id is
// made from its position (ids.go), so ids sort in that order on every
// node. Each node reads the whole stream from where it started with an
// ordered consumer and hands each message to its running room
// (Hub.Deliver), which delivers it to the members on this node. The nodes
// share one durable consumer that writes the stream into PostgreSQL in
// batches and acknowledges what committed; the stream keeps a message
// until that consumer and every node's delivery consumer had it
// (interest retention), so a message is always in the stream, in the
// store, or both. History reads the store, then the stream for what the
// store does not have yet (history.go). docs/scaling.md has the design and
// the failure cases.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"parley/actors"
)

// Config configures a node's part of the cluster.
type Config struct {
	// URLs are the NATS servers, comma-separated (nats://h1:4222,...).
	URLs string
	// NodeID names this node in logs, in NATS and in its messages'
	// deduplication ids (default: generated, and logged).
	NodeID string
	// Replicas is the stream's replication factor (default 3): a message is
	// acknowledged once that many NATS servers' majority stored it.
	Replicas int
	// Stream is the JetStream stream's name (default PARLEY).
	Stream string
	// MaxBytes bounds the stream (default 1 GiB). When it is full, as when
	// PostgreSQL has been away long enough, new messages are refused
	// (server_busy) and nothing stored is discarded.
	MaxBytes int64
	// MaxAge is how long the stream keeps a message (default 24 h): how
	// long the store may be away before new messages are refused
	// (watchWriter refuses them after a quarter of it).
	MaxAge time.Duration
	// TrimInterval is how often the node purges the stream of what every
	// node delivered and the store has (default 1 min; retention.go).
	TrimInterval time.Duration
	// PublishQueue bounds the messages this node has published and not yet
	// had acknowledged (default 4096); past it, sends get server_busy.
	PublishQueue int
	// PublishTimeout bounds how long a publish waits for its
	// acknowledgement before the sender gets server_busy (default 5 s).
	PublishTimeout time.Duration
	// NoWriter keeps this node from writing the stream into the store
	// (the other nodes do it). Tests use it to make the store lag.
	NoWriter bool
	// WriterBatch is how many messages the writer takes at once (default 512).
	WriterBatch int
	// NodeTimeout is how long a node may go unheard before the others
	// take it for dead: its people leave their rooms, its guests' names
	// are free (default 15 s; it beats every third of it).
	NodeTimeout time.Duration
	// Store is the store every node shares (PostgreSQL). Required.
	Store  actors.Store
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.NodeID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		c.NodeID = "node-" + hex.EncodeToString(b[:])
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.Stream == "" {
		c.Stream = "PARLEY"
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = 1 << 30
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 24 * time.Hour
	}
	if c.TrimInterval <= 0 {
		c.TrimInterval = time.Minute
	}
	if c.PublishQueue <= 0 {
		c.PublishQueue = 4096
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 5 * time.Second
	}
	if c.NodeTimeout <= 0 {
		c.NodeTimeout = 15 * time.Second
	}
	if c.WriterBatch <= 0 {
		c.WriterBatch = 512
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// writerAckWait is how long a batch a store writer took may go
// unacknowledged before it is given to another writer: a writer that died
// holds the acknowledgement floor (and so History's stream reads, and the
// stream's retention) back this long. A commit that takes longer is
// written twice, the second time as duplicates, which are acknowledged.
const writerAckWait = 5 * time.Second

// setUpLimit bounds how long Open waits for JetStream to answer.
const setUpLimit = 30 * time.Second

const (
	subjectPrefix = "parley.room."
	writerName    = "store-writer" // the durable consumer every node's writer shares
)

// Cluster is one node's connection to the cluster. Open it, hand it to the
// Hub as its Broker (and Store(…) as its store), Start it with the Hub,
// Close it after the Hub has shut down.
type Cluster struct {
	cfg    Config
	log    *slog.Logger
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	// epoch is the stream's creation time in Unix milliseconds: the time
	// part of every id the cluster gives (ids.go).
	epoch uint64
	// startPos is the stream's last position when Open looked: this
	// node's delivery starts after it, and every room started here asks
	// for its last message after that (Hub.Deliver).
	startPos uint64

	// slots bounds the publishes awaiting their acknowledgement: Publish
	// takes one without blocking (or refuses the message), ackLoop gives
	// it back.
	slots chan struct{}
	// acks carries each publish's future to ackLoop, in publish order.
	// Written by Publish, under mu (never blocking: a slot was taken);
	// read by ackLoop; closed by Close, under mu.
	acks   chan pending
	mu     sync.RWMutex
	closed bool
	// storeAway is set by watchWriter while the store writers have not
	// acknowledged anything for a quarter of MaxAge with messages waiting:
	// Publish refuses new messages then.
	storeAway atomic.Bool
	// publishFailures counts publishes JetStream did not acknowledge
	// (ackLoop; read by the metrics).
	publishFailures atomic.Int64
	// typingDropped counts typing notices not relayed to the other
	// nodes (typing.go).
	typingDropped atomic.Int64
	// behind is how many stream messages were past the last one the
	// delivery loop handed over, when it did (written by deliverLoop, read
	// by the metrics): the node's delivery lag.
	behind atomic.Uint64
	// stored is the stream position through which the store has every
	// message: the store writers' acknowledgement floor, as Open and then
	// watchWriter last read it (it only rises, so an old value is a safe
	// one). History reads the stream after it.
	stored atomic.Uint64
	// recent is what this node delivered past stored (recent.go).
	recent *recent
	// trimmed is the stream position through which this node last purged
	// the stream (retention.go); written by watchWriter, read by metrics.
	trimmed atomic.Uint64
	// nextTrim is when watchWriter trims the stream next; owned by it.
	nextTrim time.Time

	ctx    context.Context           // ends the delivery and writer loops
	cancel context.CancelFunc        // called by Close
	wg     sync.WaitGroup            // the loops started by Start, and ackLoop
	iter   jetstream.MessagesContext // the delivery consumer's: stopped by Close
	// subs are the plain NATS subscriptions: other nodes' edits and
	// deletions, private messages, and questions about names. Made by
	// Start, unsubscribed by Close.
	subs  []*nats.Subscription
	names *names
	// seen is when each other node was last heard (its alive beat):
	// written by the alive subscription's handler, read by beat, which
	// declares the ones unheard for NodeTimeout gone.
	seenMu sync.Mutex
	seen   map[string]time.Time
}

// pending is a published message awaiting its acknowledgement.
type pending struct {
	fut  jetstream.PubAckFuture
	done func(id string, err error)
}

// Open connects to NATS, makes sure the stream and the store writer's
// consumer exist, and starts acknowledging publishes. Nothing is delivered
// before Start.
func Open(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if cfg.Store == nil {
		return nil, errors.New("cluster: no store")
	}
	if strings.TrimSpace(cfg.URLs) == "" {
		return nil, errors.New("cluster: no NATS URL")
	}
	log := cfg.Logger.With("node", cfg.NodeID)
	nc, err := nats.Connect(cfg.URLs,
		nats.Name("parley "+cfg.NodeID),
		nats.MaxReconnects(-1), // a node outlives NATS outages: it recovers by itself
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: Close
				log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS reconnected", "server", nc.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to NATS at %s: %w", cfg.URLs, err)
	}
	c := &Cluster{cfg: cfg, log: log, nc: nc,
		slots: make(chan struct{}, cfg.PublishQueue),
		acks:  make(chan pending, cfg.PublishQueue),
	}
	// A NATS cluster that is starting (or electing leaders after losing a
	// server) refuses JetStream requests for a few seconds: try for a while.
	for deadline := time.Now().Add(setUpLimit); ; {
		err := c.setUp(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			nc.Close()
			return nil, err
		}
		log.Warn("JetStream not ready, trying again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go func() { // stops when Close closes acks and the last future settled
		defer c.wg.Done()
		c.ackLoop()
	}()
	log.Info("cluster node joined", "nats", nc.ConnectedUrlRedacted(), "stream", cfg.Stream, "replicas", cfg.Replicas, "from", c.startPos)
	return c, nil
}

func (c *Cluster) setUp(ctx context.Context) error {
	js, err := jetstream.New(c.nc,
		jetstream.WithPublishAsyncMaxPending(c.cfg.PublishQueue),
		jetstream.WithPublishAsyncTimeout(c.cfg.PublishTimeout))
	if err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	c.js = js
	c.stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     c.cfg.Stream,
		Subjects: []string{subjectPrefix + ">"},
		// Limits: a message stays for MaxAge, far longer than the store
		// writer takes (milliseconds); watchWriter refuses new messages
		// long before a writer that cannot write would let one expire.
		// (Interest retention would say it directly, but it takes only
		// replicated consumers, and each node's delivery consumer is an
		// ordered, unreplicated one.)
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      c.cfg.MaxAge,
		Discard:     jetstream.DiscardNew, // full: refuse new messages, never drop stored ones
		MaxBytes:    c.cfg.MaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    c.cfg.Replicas,
		Duplicates:  2 * time.Minute, // how long a resend with the same nonce is recognised by the stream
		AllowDirect: true,            // History reads the stream's tail with direct gets, from any replica
	})
	if err != nil {
		return fmt.Errorf("cluster: stream %s with %d replicas (fewer NATS servers than -nats-replicas?): %w", c.cfg.Stream, c.cfg.Replicas, err)
	}
	writer, err := c.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       writerName,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       writerAckWait,
		MaxAckPending: 8 * c.cfg.WriterBatch,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("cluster: store writer's consumer: %w", err)
	}
	winfo, err := writer.Info(ctx)
	if err != nil {
		return fmt.Errorf("cluster: store writer's consumer: %w", err)
	}
	c.stored.Store(winfo.AckFloor.Stream)
	info, err := c.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("cluster: stream info: %w", err)
	}
	c.epoch = uint64(info.Created.UnixMilli())
	c.startPos = info.State.LastSeq
	c.recent = newRecent(max(c.startPos, c.stored.Load()))
	return c.setUpNames(ctx)
}

// Store returns the store a node's Hub uses: st (the shared store), whose
// History also reads what the stream holds and st does not have yet.
func (c *Cluster) Store(st actors.Store) actors.Store { return &historyStore{Store: st, c: c} }

// NodeID returns the node's name.
func (c *Cluster) NodeID() string { return c.cfg.NodeID }

// Deliverer is what Start hands each message, each other node's change
// and private message to, and asks whether it holds a guest's name: the Hub.
type Deliverer interface {
	Deliver(ctx context.Context, pos uint64, m *actors.StoredMessage) bool
	DeliverChange(ctx context.Context, room string, frame []byte)
	DeliverPrivate(keys []string, frame []byte)
	HoldsGuest(key string) bool
	DeliverPresence(ctx context.Context, room string, p actors.Presence)
	NodeGone(ctx context.Context, node string)
	PresenceTick()
}

// Start begins delivering the stream to hub, from after the position Open
// saw, and, unless NoWriter, writing it into the store.
func (c *Cluster) Start(ctx context.Context, hub Deliverer) error {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{subjectPrefix + ">"},
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       c.startPos + 1,
		InactiveThreshold: 30 * time.Second, // a dead node's consumer stops holding messages back after this
	}
	cons, err := c.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cluster: delivery consumer: %w", err)
	}
	// The server sends a heartbeat while it has nothing to deliver; two
	// missed ones make the iterator recreate the consumer after the last
	// message it gave. The library's 5 s default would leave a node that
	// lost its consumer (a stream leader moving, a NATS server dying)
	// delivering nothing for over 10 s; a second costs one tiny message a
	// second per node.
	it, err := cons.Messages(jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return fmt.Errorf("cluster: delivery consumer: %w", err)
	}
	c.iter = it
	sub, err := c.nc.Subscribe(changePrefix+">", func(msg *nats.Msg) {
		if msg.Header.Get(nodeHeader) == c.cfg.NodeID {
			return
		}
		if room, ok := roomOf(subjectPrefix + msg.Subject[len(changePrefix):]); ok {
			hub.DeliverChange(c.ctx, room, msg.Data)
		}
	})
	if err != nil {
		it.Stop()
		return fmt.Errorf("cluster: subscribe to changes: %w", err)
	}
	c.subs = append(c.subs, sub)
	for subj, h := range map[string]nats.MsgHandler{
		privateSubj:                         c.receivePrivate(hub),
		holdsPrefix + nodeKey(c.cfg.NodeID): c.answerHolds(hub),
		presencePrefix + ">":                c.receivePresence(hub),
		typingPrefix + ">":                  c.receiveTyping(hub),
		typingToSubj:                        c.receiveTypingTo(hub),
		aliveSubj:                           c.receiveAlive,
	} {
		sub, err := c.nc.Subscribe(subj, h)
		if err != nil {
			it.Stop()
			return fmt.Errorf("cluster: subscribe to %s: %w", subj, err)
		}
		c.subs = append(c.subs, sub)
	}
	c.wg.Add(2)
	go func() { // stops when Close cancels c.ctx
		defer c.wg.Done()
		c.beat(hub)
	}()
	go func() { // stops when Close stops the iterator
		defer c.wg.Done()
		c.deliverLoop(it, hub)
	}()
	writer, err := c.stream.Consumer(ctx, writerName)
	if err != nil {
		return fmt.Errorf("cluster: store writer's consumer: %w", err)
	}
	c.wg.Add(1)
	go func() { // stops when Close cancels c.ctx
		defer c.wg.Done()
		c.watchWriter(writer)
	}()
	if !c.cfg.NoWriter {
		c.wg.Add(1)
		go func() { // stops when Close cancels c.ctx
			defer c.wg.Done()
			c.writeLoop(writer)
		}()
	}
	return nil
}

// Close stops delivering and writing, waits for the acknowledgements of
// what was published, and disconnects. Call it after the Hub's Shutdown:
// nothing may Publish from then on.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.acks)
	c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
	if c.iter != nil {
		c.iter.Stop()
	}
	for _, sub := range c.subs {
		_ = sub.Unsubscribe()
	}
	// Gone: the names this node's guests held are free at once.
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.PublishTimeout)
	_ = c.names.nodes.Delete(ctx, nodeKey(c.cfg.NodeID))
	cancel()
	c.wg.Wait()
	c.nc.Close()
	return nil
}
