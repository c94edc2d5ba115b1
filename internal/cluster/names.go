package cluster

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Guests' names across the cluster. An account's name is unique through
// the accounts table every node shares; a guest's name lives only as long
// as its connection, so it is claimed in a JetStream key-value bucket
// (names: one key per skeleton, the holder's node and name as value), after
// the node's own names map gave it. A node releases a claim when its guest
// leaves or renames. A claim left behind (its node died, or could not
// reach NATS to release it) is taken over by the next claimant once the
// node it names is not alive (its key in the nodes bucket, refreshed every
// nodeBeat, expired after nodeTTL) or, if alive, says it does not hold the
// name (a request to it).

const (
	namesBucket = "parley_names"
	nodesBucket = "parley_nodes"
	holdsPrefix = "parley.holds." // + node id: "do you hold this name?"
	privateSubj = "parley.private"
)

type nameClaim struct {
	Node string `json:"node"`
	Name string `json:"name"`
}

// names is the node's part of the names bucket.
type names struct {
	kv    jetstream.KeyValue
	nodes jetstream.KeyValue
	mu    sync.Mutex
	revs  map[string]uint64 // the revision of each claim this node holds, by key; guarded by mu
}

func (c *Cluster) setUpNames(ctx context.Context) error {
	kv, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: namesBucket, Storage: jetstream.FileStorage, Replicas: c.cfg.Replicas, History: 1,
	})
	if err != nil {
		return fmt.Errorf("cluster: names bucket: %w", err)
	}
	nodes, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: nodesBucket, Storage: jetstream.FileStorage, Replicas: c.cfg.Replicas, History: 1, TTL: c.cfg.NodeTimeout,
	})
	if err != nil {
		return fmt.Errorf("cluster: nodes bucket: %w", err)
	}
	c.names = &names{kv: kv, nodes: nodes, revs: make(map[string]uint64)}
	if _, err := nodes.Put(ctx, nodeKey(c.cfg.NodeID), c.position()); err != nil {
		return fmt.Errorf("cluster: announce node: %w", err)
	}
	return nil
}

// nodeKey is a node's key in the nodes bucket (ids may hold characters keys may not).
func nodeKey(id string) string { return "n" + hex.EncodeToString([]byte(id)) }

// nameKey is a skeleton's key in the names bucket.
func nameKey(skeleton string) string { return "s" + hex.EncodeToString([]byte(skeleton)) }

// beat keeps the node alive: its key in the nodes bucket (for names; its
// value is how far the node delivered, for trimStream) and
// its alive message (for presence), every third of NodeTimeout; declares
// the nodes unheard for NodeTimeout gone; and every tenth beat asks the
// rooms to send their whole lists of people. Started by Start; returns
// when Close cancels c.ctx.
func (c *Cluster) beat(hub Deliverer) {
	every := c.cfg.NodeTimeout / 3
	tick := time.NewTicker(every)
	defer tick.Stop()
	for n := 1; ; n++ {
		ctx, cancel := context.WithTimeout(c.ctx, every)
		if _, err := c.names.nodes.Put(ctx, nodeKey(c.cfg.NodeID), c.position()); err != nil && c.ctx.Err() == nil {
			c.log.Warn("node heartbeat", "err", err)
		}
		cancel()
		_ = c.nc.Publish(aliveSubj, []byte(c.cfg.NodeID))
		for _, node := range c.unheard() {
			c.log.Warn("node gone: its people leave their rooms here", "gone", node)
			hub.NodeGone(c.ctx, node)
		}
		if n%10 == 0 {
			hub.PresenceTick()
		}
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// holds answers another node's "do you hold this name?": the Hub does
// if its names map has a guest under the skeleton.
func (c *Cluster) answerHolds(hub Deliverer) func(*nats.Msg) {
	return func(m *nats.Msg) {
		answer := []byte("no")
		if hub.HoldsGuest(string(m.Data)) {
			answer = []byte("yes")
		}
		_ = m.Respond(answer)
	}
}

// ClaimGuest implements actors.Broker.
func (c *Cluster) ClaimGuest(ctx context.Context, key, name string) (bool, error) {
	val, _ := json.Marshal(nameClaim{Node: c.cfg.NodeID, Name: name})
	k := nameKey(key)
	rev, err := c.names.kv.Create(ctx, k, val)
	if errors.Is(err, jetstream.ErrKeyExists) {
		var stale bool
		var entry jetstream.KeyValueEntry
		if entry, stale, err = c.staleClaim(ctx, k, key); err != nil || !stale {
			return false, err
		}
		rev, err = c.names.kv.Update(ctx, k, val, entry.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) { // another claimant took it over first
			return false, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("claim name: %w", err)
	}
	c.names.mu.Lock()
	c.names.revs[key] = rev
	c.names.mu.Unlock()
	return true, nil
}

// staleClaim reads the claim on k and reports whether it is stale: made by
// this node in an earlier life (this node does not hold the name: its
// names map gave it), by a node that is no longer alive, or by one that
// says it does not hold the name.
func (c *Cluster) staleClaim(ctx context.Context, k, key string) (jetstream.KeyValueEntry, bool, error) {
	entry, err := c.names.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, false, nil // released meanwhile: the caller's Create lost a race; say taken, the client retries
	}
	if err != nil {
		return nil, false, fmt.Errorf("read name claim: %w", err)
	}
	var claim nameClaim
	if json.Unmarshal(entry.Value(), &claim) != nil || claim.Node == c.cfg.NodeID {
		return entry, true, nil
	}
	if _, err := c.names.nodes.Get(ctx, nodeKey(claim.Node)); errors.Is(err, jetstream.ErrKeyNotFound) {
		return entry, true, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("read node: %w", err)
	}
	reply, err := c.nc.RequestWithContext(ctx, holdsPrefix+nodeKey(claim.Node), []byte(key))
	if err != nil {
		return nil, false, nil // alive but not answering: the name stays taken
	}
	return entry, string(reply.Data) == "no", nil
}

// ReleaseGuest implements actors.Broker: it deletes this node's claim, if
// it still is this node's (by revision). Failing (NATS away), the claim is
// left to be taken over as stale.
func (c *Cluster) ReleaseGuest(key string) {
	c.names.mu.Lock()
	rev, ok := c.names.revs[key]
	delete(c.names.revs, key)
	c.names.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.PublishTimeout)
	defer cancel()
	if err := c.names.kv.Delete(ctx, nameKey(key), jetstream.LastRevision(rev)); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		c.log.Warn("release name", "err", err)
	}
}

// Guest implements actors.Broker: the name of the guest another node holds
// under key, if its node is alive.
func (c *Cluster) Guest(ctx context.Context, key string) (string, bool, error) {
	entry, err := c.names.kv.Get(ctx, nameKey(key))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read name claim: %w", err)
	}
	var claim nameClaim
	if json.Unmarshal(entry.Value(), &claim) != nil || claim.Node == c.cfg.NodeID {
		return "", false, nil
	}
	if _, err := c.names.nodes.Get(ctx, nodeKey(claim.Node)); errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", false, nil
	} else if err != nil {
		return "", false, fmt.Errorf("read node: %w", err)
	}
	return claim.Name, true, nil
}

// privateMsg is a private message frame on its way to the other nodes:
// each delivers it to its connections of the names in Keys.
type privateMsg struct {
	Node  string   `json:"node"`
	Keys  []string `json:"keys"`
	Frame []byte   `json:"frame"`
}

// Private implements actors.Broker with a plain NATS publish: the message
// is stored before it is sent on (an account reads it in History if it
// was not delivered).
func (c *Cluster) Private(keys []string, frame []byte) {
	b, _ := json.Marshal(privateMsg{Node: c.cfg.NodeID, Keys: keys, Frame: frame})
	if err := c.nc.Publish(privateSubj, b); err != nil {
		c.log.Warn("private message to other nodes", "err", err)
	}
}

func (c *Cluster) receivePrivate(hub Deliverer) func(*nats.Msg) {
	return func(m *nats.Msg) {
		var p privateMsg
		if json.Unmarshal(m.Data, &p) != nil || p.Node == c.cfg.NodeID {
			return
		}
		hub.DeliverPrivate(p.Keys, p.Frame)
	}
}
