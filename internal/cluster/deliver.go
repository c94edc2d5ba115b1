package cluster

import (
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"parley/actors"
)

// deliverLoop hands every message of the stream, in order, to the Hub.
// The ordered consumer recreates itself after a gap or a NATS outage and
// resumes after the last message it gave, so no message is skipped or
// given twice. Started by Start; returns when Close stops the iterator.
func (c *Cluster) deliverLoop(it jetstream.MessagesContext, hub Deliverer) {
	for {
		msg, err := it.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			c.log.Warn("delivery consumer", "err", err)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		meta, err := msg.Metadata()
		if err != nil {
			c.log.Error("delivery: no metadata", "subject", msg.Subject(), "err", err)
			continue
		}
		m, err := c.decode(msg.Subject(), meta.Sequence.Stream, msg.Data())
		if err != nil {
			c.log.Error("delivery: undecodable message skipped", "err", err)
			continue
		}
		c.behind.Store(meta.NumPending)       // what the stream holds past this one: the node's delivery lag
		c.recent.add(meta.Sequence.Stream, m) // before the room has it: History may read through it then
		if !hub.Deliver(c.ctx, meta.Sequence.Stream, m) {
			return
		}
	}
}

// writeLoop writes the stream into the store in batches, sharing the
// durable consumer with the other nodes' writers: each batch goes to one of
// them. A message is acknowledged once its transaction committed (or the
// store already had it: a redelivery after a writer died between commit
// and acknowledgement), and is redelivered later if it failed. Started by
// Start; returns when Close cancels c.ctx.
func (c *Cluster) writeLoop(cons jetstream.Consumer) {
	for c.ctx.Err() == nil {
		batch, err := cons.Fetch(c.cfg.WriterBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			c.log.Warn("store writer: fetch", "err", err)
			select {
			case <-c.ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		var msgs []jetstream.Msg
		for msg := range batch.Messages() {
			msgs = append(msgs, msg)
		}
		if len(msgs) > 0 {
			c.write(msgs)
		}
	}
}

// errStoreFull stands for a message the store's queue refused: redelivered.
var errStoreFull = errors.New("store queue full")

// write appends one batch to the store and settles each message with the
// stream once the store has settled it.
func (c *Cluster) write(msgs []jetstream.Msg) {
	errs := make([]error, len(msgs))
	stored := make([]bool, len(msgs)) // handed to the store (not terminated)
	var wg sync.WaitGroup
	for i, msg := range msgs {
		meta, err := msg.Metadata()
		var m *actors.StoredMessage
		if err == nil {
			m, err = c.decode(msg.Subject(), meta.Sequence.Stream, msg.Data())
		}
		if err != nil {
			// Never storable: terminated, so that it does not hold the
			// stream back for ever; logged as the loss it is.
			c.log.Error("store writer: undecodable message dropped", "err", err)
			_ = msg.Term()
			continue
		}
		stored[i] = true
		wg.Add(1)
		if !c.cfg.Store.Append(m, func(err error) { errs[i] = err; wg.Done() }) {
			errs[i] = errStoreFull
			wg.Done()
		}
	}
	wg.Wait()
	failed := 0
	for i, msg := range msgs {
		switch {
		case !stored[i]:
		case errs[i] == nil || errors.Is(errs[i], actors.ErrDuplicate):
			// Duplicate: a writer died between its commit and its
			// acknowledgement, and this is the redelivery.
			_ = msg.Ack()
		default:
			failed++
			_ = msg.NakWithDelay(time.Second)
		}
	}
	if failed > 0 {
		c.log.Warn("store writer: messages not stored, to be redelivered", "failed", failed, "batch", len(msgs), "err", errs[0])
	}
}

// watchWriter keeps storeAway: set while messages wait for the store and
// the writers (of every node) acknowledged none for a quarter of MaxAge,
// so that no message is accepted that could expire from the stream before
// the store has it; and every TrimInterval it trims the stream
// (retention.go). Started by Start; returns when Close cancels c.ctx.
func (c *Cluster) watchWriter(cons jetstream.Consumer) {
	// Four times a second: the fresher the floor, the less of the stream
	// a History reads.
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		}
		info, err := cons.Info(c.ctx)
		if err != nil {
			continue // NATS is away: Publish refuses by itself then
		}
		c.stored.Store(max(c.stored.Load(), info.AckFloor.Stream))
		c.recent.prune(c.stored.Load())
		if c.trimDue(time.Now()) {
			c.trimStream(c.ctx)
		}
		waiting := info.NumPending+uint64(info.NumAckPending) > 0
		last := info.Created
		if info.AckFloor.Last != nil {
			last = *info.AckFloor.Last
		}
		away := waiting && time.Since(last) > c.cfg.MaxAge/4
		if c.storeAway.Swap(away) != away {
			c.log.Warn("the store writers are behind: new messages refused until they catch up", "away", away, "waiting", info.NumPending+uint64(info.NumAckPending))
		}
	}
}
