package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"parley/actors"
)

// payload is a room message as the stream carries it: what its id and room
// (the position and the subject) do not already say.
type payload struct {
	Username  string `json:"u"`
	Content   string `json:"c"`
	Timestamp int64  `json:"t"` // Unix milliseconds, from the publishing node's clock
	Nonce     string `json:"n,omitempty"`
}

func encodePayload(m *actors.StoredMessage) ([]byte, error) {
	return json.Marshal(payload{Username: m.Username, Content: m.Content, Timestamp: m.Timestamp.UnixMilli(), Nonce: m.Nonce})
}

// decode turns a stream message back into a room message with its id.
func (c *Cluster) decode(subj string, pos uint64, data []byte) (*actors.StoredMessage, error) {
	room, ok := roomOf(subj)
	if !ok {
		return nil, fmt.Errorf("stream message %d: subject %q is not a room's", pos, subj)
	}
	var p payload
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("stream message %d: %w", pos, err)
	}
	return &actors.StoredMessage{
		ID: c.id(pos), Room: room, Username: p.Username, Content: p.Content,
		Timestamp: time.UnixMilli(p.Timestamp).UTC(), Nonce: p.Nonce,
	}, nil
}

var seqs atomic.Uint64 // this process's publishes without a nonce

// msgID is the stream's deduplication id of a message: with a nonce, the
// same for a resend from any node (the stream answers it with the first
// message's position, so the sender gets the first id); without one,
// unique to this node and publish.
func (c *Cluster) msgID(m *actors.StoredMessage) string {
	if m.Nonce == "" {
		return c.cfg.NodeID + "-" + strconv.FormatUint(seqs.Add(1), 36)
	}
	h := sha256.New()
	h.Write([]byte(m.Room))
	h.Write([]byte{0})
	h.Write([]byte(actors.Skeleton(m.Username)))
	h.Write([]byte{0})
	h.Write([]byte(m.Nonce))
	return "n-" + hex.EncodeToString(h.Sum(nil)[:16])
}

var errUnreachable = errors.New("NATS is not connected")

// Publish implements actors.Broker. It never blocks: a slot for the
// acknowledgement is taken first, or the message is refused.
func (c *Cluster) Publish(m *actors.StoredMessage, done func(id string, err error)) bool {
	if c.nc.Status() != nats.CONNECTED || c.storeAway.Load() {
		return false // an outage: fail fast rather than wait for a reconnect
	}
	data, err := encodePayload(m)
	if err != nil {
		return false
	}
	select {
	case c.slots <- struct{}{}:
	default:
		return false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		<-c.slots
		return false
	}
	msg := &nats.Msg{Subject: subject(m.Room), Data: data, Header: nats.Header{}}
	// No stall wait: the slots already bound what is in flight.
	fut, err := c.js.PublishMsgAsync(msg, jetstream.WithMsgID(c.msgID(m)), jetstream.WithExpectStream(c.cfg.Stream), jetstream.WithStallWait(time.Millisecond))
	if err != nil {
		<-c.slots
		c.log.Warn("publish", "room", m.Room, "err", err)
		return false
	}
	c.acks <- pending{fut: fut, done: done} // never blocks: a slot was free
	return true
}

// ackLoop settles each publish in order: the id made from the position the
// stream stored it at (or, for a duplicate, had stored the first at), or
// the error. Started by Open; returns when Close closed acks and every
// future settled (each one does within PublishTimeout).
func (c *Cluster) ackLoop() {
	for p := range c.acks {
		select {
		case pa := <-p.fut.Ok():
			p.done(c.id(pa.Sequence), nil)
		case err := <-p.fut.Err():
			c.publishFailures.Add(1)
			c.log.Warn("publish not acknowledged", "err", err)
			p.done("", fmt.Errorf("publish: %w", err))
		}
		<-c.slots
	}
}

// Last implements actors.Broker: the stream's last message of room, else
// the store's. The stream is asked first: a message leaves it only once
// the store has it, so the store, asked after, has whatever left meanwhile.
func (c *Cluster) Last(ctx context.Context, room string) (string, uint64, error) {
	var (
		id  string
		pos uint64
	)
	raw, err := c.stream.GetLastMsgForSubject(ctx, subject(room))
	switch {
	case err == nil:
		pos = raw.Sequence
		id = c.id(pos)
	case errors.Is(err, jetstream.ErrMsgNotFound):
	default:
		return "", 0, err
	}
	stored, err := c.cfg.Store.LastID(ctx, room)
	if err != nil {
		return "", 0, err
	}
	if stored > id {
		id, pos = stored, c.pos(stored)
	}
	return id, pos, nil
}

const (
	changePrefix = "parley.change." // + the room's subject token: edits and deletions, node to node
	nodeHeader   = "Parley-Node"    // who announced a change: it does not take its own back
)

// Announce implements actors.Broker with a plain NATS publish: an edit
// is stored before it is announced, so a node that misses it (it was cut
// off from NATS) still has it in History and in a rejoin's catch-up.
func (c *Cluster) Announce(room string, frame []byte) {
	msg := &nats.Msg{Subject: changePrefix + subject(room)[len(subjectPrefix):], Data: frame, Header: nats.Header{}}
	msg.Header.Set(nodeHeader, c.cfg.NodeID)
	if err := c.nc.PublishMsg(msg); err != nil {
		c.log.Warn("announce change", "room", room, "err", err)
	}
}
