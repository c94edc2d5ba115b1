package cluster

import (
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"

	"parley/actors"
)

const (
	presencePrefix = "parley.presence." // + the room's subject token
	aliveSubj      = "parley.alive"     // each node's beat, its id as the payload
)

// Presence implements actors.Broker with a plain NATS publish: a lost one
// is healed by the rooms' periodic whole lists.
func (c *Cluster) Presence(room string, p actors.Presence) {
	p.Node = c.cfg.NodeID
	b, _ := json.Marshal(p)
	if err := c.nc.Publish(presencePrefix+subject(room)[len(subjectPrefix):], b); err != nil {
		c.log.Warn("presence to other nodes", "room", room, "err", err)
	}
}

func (c *Cluster) receivePresence(hub Deliverer) nats.MsgHandler {
	return func(m *nats.Msg) {
		var p actors.Presence
		if json.Unmarshal(m.Data, &p) != nil || p.Node == c.cfg.NodeID || p.Node == "" {
			return
		}
		room, ok := roomOf(subjectPrefix + m.Subject[len(presencePrefix):])
		if !ok {
			return
		}
		c.heard(p.Node)
		hub.DeliverPresence(c.ctx, room, p)
	}
}

func (c *Cluster) receiveAlive(m *nats.Msg) {
	if node := string(m.Data); node != c.cfg.NodeID {
		c.heard(node)
	}
}

func (c *Cluster) heard(node string) {
	c.seenMu.Lock()
	if c.seen == nil {
		c.seen = make(map[string]time.Time)
	}
	c.seen[node] = time.Now()
	c.seenMu.Unlock()
}

// unheard returns, and forgets, the nodes not heard for NodeTimeout.
func (c *Cluster) unheard() []string {
	c.seenMu.Lock()
	defer c.seenMu.Unlock()
	var gone []string
	for node, at := range c.seen {
		if time.Since(at) > c.cfg.NodeTimeout {
			gone = append(gone, node)
			delete(c.seen, node)
		}
	}
	return gone
}
