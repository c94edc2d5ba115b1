package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The stream's retention. The stream has to keep a message only until the
// store writers committed it (History reads the stream only past their
// acknowledgement floor) and every running node delivered it (a node's
// ordered consumer that found its next message gone would skip to the
// first one left, and its members would miss what was skipped). Its limits
// (MaxAge, MaxBytes, DiscardNew) are there for the store being away; kept
// full for a day, they would refuse every send once a day's traffic passed
// MaxBytes (1 GiB is 3.7M messages). So each node, every TrimInterval,
// purges the stream below the least of the writers' floor and every live
// node's delivered position, which each node publishes with its heartbeat
// (the value of its key in the nodes bucket: a decimal position).
//
// A node whose key holds no position (one of an older build) stops the
// trimming, which then waits for it; a dead node's key expires with its
// heartbeat, and the node no longer holds the stream back. Purging does not
// touch the stream's memory of message ids, so a resend is still
// recognised (Duplicates) after its message was trimmed.

// trimStream purges what no node and no writer needs any longer (see
// above). Called by watchWriter every TrimInterval; a failure is logged and
// the next round tries again.
func (c *Cluster) trimStream(ctx context.Context) {
	upTo, err := c.trimPoint(ctx)
	if err != nil {
		c.log.Warn("stream trim: no point to trim to", "err", err)
		return
	}
	if upTo <= c.trimmed.Load() {
		return
	}
	// Every message before upTo+1 goes.
	if err := c.stream.Purge(ctx, jetstream.WithPurgeSequence(upTo+1)); err != nil {
		c.log.Warn("stream trim", "through", upTo, "err", err)
		return
	}
	c.trimmed.Store(upTo)
}

// errNoPosition: a live node's key holds no delivered position.
var errNoPosition = errors.New("a node reports no delivered position")

// trimPoint is the last stream position that every live node delivered
// and the writers stored.
func (c *Cluster) trimPoint(ctx context.Context) (uint64, error) {
	upTo := min(c.stored.Load(), c.recent.deliveredPos())
	keys, err := c.names.nodes.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("list nodes: %w", err)
	}
	defer keys.Stop()
	for key := range keys.Keys() {
		e, err := c.names.nodes.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired since it was listed: a dead node
		}
		if err != nil {
			return 0, fmt.Errorf("node %s: %w", key, err)
		}
		pos, err := strconv.ParseUint(string(e.Value()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("node %s: %w", key, errNoPosition)
		}
		upTo = min(upTo, pos)
	}
	return upTo, nil
}

// position is the value of this node's key in the nodes bucket: how far
// it has delivered.
func (c *Cluster) position() []byte {
	return strconv.AppendUint(nil, c.recent.deliveredPos(), 10)
}

// trimDue reports whether a trim is due at now, and if so starts the next
// interval.
func (c *Cluster) trimDue(now time.Time) bool {
	if now.Before(c.nextTrim) {
		return false
	}
	c.nextTrim = now.Add(c.cfg.TrimInterval)
	return true
}
