package cluster

import (
	"context"

	"github.com/nats-io/nats.go"
)

// Typing notices between nodes: a plain NATS publish (core NATS, not the
// stream), like presence and changes, but weaker still: a notice is
// dropped rather than queued whenever the connection to NATS is not
// plainly free, so that it never takes room from messages.

const (
	typingPrefix = "parley.typing." // + the room's subject token
	typistHeader = "Parley-Typist"  // the typist's name: the receiving room skips the typist's own connections
	typingToSubj = "parley.typing-to"
	toHeader     = "Parley-To" // Typing{with}: the recipient's skeleton key
)

// typingBufferedMax is how many bytes may wait in the NATS connection's
// outbound buffer (32 KiB in nats.go) for a typing notice still to be
// added: past it the buffer is filling faster than it drains, a publish
// could wait for a flush, and the rest of the buffer is kept for what
// must not be dropped.
const typingBufferedMax = 16 << 10

// Typing implements actors.TypingBroker: it never blocks, and drops the
// notice (counted in parley_cluster_typing_dropped_total) while NATS is
// not connected (a reconnect's buffer is for messages) or the outbound
// buffer is half full.
func (c *Cluster) Typing(room, username string, frame []byte) {
	msg := &nats.Msg{Subject: typingPrefix + subject(room)[len(subjectPrefix):], Data: frame, Header: nats.Header{}}
	msg.Header.Set(typistHeader, username)
	c.publishTyping(msg)
}

// TypingTo implements actors.TypingBroker for Typing{with}, on the terms
// of Typing.
func (c *Cluster) TypingTo(key string, frame []byte) {
	msg := &nats.Msg{Subject: typingToSubj, Data: frame, Header: nats.Header{}}
	msg.Header.Set(toHeader, key)
	c.publishTyping(msg)
}

func (c *Cluster) publishTyping(msg *nats.Msg) {
	if c.nc.Status() != nats.CONNECTED {
		c.typingDropped.Add(1)
		return
	}
	if n, err := c.nc.Buffered(); err != nil || n > typingBufferedMax {
		c.typingDropped.Add(1)
		return
	}
	msg.Header.Set(nodeHeader, c.cfg.NodeID)
	if err := c.nc.PublishMsg(msg); err != nil {
		c.typingDropped.Add(1)
	}
}

// TypingDeliverer is what a Deliverer implements to take the other nodes'
// typing notices (actors.Hub does).
type TypingDeliverer interface {
	DeliverTyping(ctx context.Context, room, username string, frame []byte)
	DeliverTypingTo(ctx context.Context, key string, frame []byte)
}

func (c *Cluster) receiveTyping(hub Deliverer) nats.MsgHandler {
	td, ok := hub.(TypingDeliverer)
	return func(m *nats.Msg) {
		if !ok || m.Header.Get(nodeHeader) == c.cfg.NodeID {
			return
		}
		if room, ok := roomOf(subjectPrefix + m.Subject[len(typingPrefix):]); ok {
			td.DeliverTyping(c.ctx, room, m.Header.Get(typistHeader), m.Data)
		}
	}
}

func (c *Cluster) receiveTypingTo(hub Deliverer) nats.MsgHandler {
	td, ok := hub.(TypingDeliverer)
	return func(m *nats.Msg) {
		if !ok || m.Header.Get(nodeHeader) == c.cfg.NodeID {
			return
		}
		td.DeliverTypingTo(c.ctx, m.Header.Get(toHeader), m.Data)
	}
}
