package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"parley/actors"
)

// historyStore is the shared store as a node's Hub sees it: its History
// also holds the messages the stream has and the store does not have yet
// (the writer is behind, or the store is away), so that a page through the
// last message a member was sent has every message before it.
type historyStore struct {
	actors.Store
	c *Cluster
}

// tailMax bounds how many stream messages of a room one History reads past
// what the store has: a store that far behind makes History fail
// (server_busy) rather than cost a node an unbounded read.
const tailMax = 4096

var errStoreBehind = errors.New("the store is too far behind the stream to read this page")

// History reads the store, then the stream after the position through
// which the store has every message (the writers' acknowledgement floor:
// batches commit out of order, so the store's newest message says nothing
// about the ones before it), and merges the two by id (the store's copy
// first: it has the edits). The newest Limit of the merge are the page: a
// message of the range that neither read returned is in the store and
// older than the store's whole page.
func (h *historyStore) History(ctx context.Context, q actors.HistoryQuery) ([]actors.StoredMessage, bool, error) {
	msgs, more, err := h.Store.History(ctx, q)
	if err != nil {
		return nil, false, err
	}
	hi, err := h.upper(ctx, q)
	if err != nil || hi == 0 {
		return msgs, more, err
	}
	from := max(h.c.stored.Load(), h.c.pos(q.After)) + 1
	if from > hi {
		return msgs, more, nil // the store has the whole range
	}
	tail, err := h.c.tailOf(ctx, q.Room, from, hi)
	if err != nil {
		return nil, false, err
	}
	all := mergeByID(msgs, tail)
	all = slices.DeleteFunc(all, func(m actors.StoredMessage) bool { return !inRange(q, m.ID) })
	return page(all, q, more)
}

// upper is the position of the last message q may return: the one before
// Before, or Through, or the room's last in the stream. 0: the range holds
// nothing the cluster made.
func (h *historyStore) upper(ctx context.Context, q actors.HistoryQuery) (uint64, error) {
	hi := uint64(0)
	switch {
	case q.Through != "":
		hi = h.c.pos(q.Through)
	case q.Before == "":
		raw, err := h.c.stream.GetLastMsgForSubject(ctx, subject(q.Room))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("history of %q: the stream's last message: %w", q.Room, err)
		}
		hi = raw.Sequence
	}
	if q.Before != "" {
		if p := h.c.pos(q.Before); p > 0 && (hi == 0 || p-1 < hi) {
			hi = p - 1
		}
	}
	return hi, nil
}

// tailOf returns the room's messages at positions from..hi: what this
// node delivered and keeps (recent), and from the stream what it does not
// (what came before the node started, or before what it had to drop, and
// what its delivery has not reached yet).
func (c *Cluster) tailOf(ctx context.Context, room string, from, hi uint64) ([]actors.StoredMessage, error) {
	kept, first, known := c.recent.get(room, from, hi)
	var head, rest []actors.StoredMessage
	var err error
	if from < first {
		if head, err = c.tail(ctx, room, from, first-1); err != nil {
			return nil, err
		}
	}
	if known < hi {
		if rest, err = c.tail(ctx, room, max(known+1, first), hi); err != nil {
			return nil, err
		}
	}
	return slices.Concat(head, kept, rest), nil
}

// tail reads the stream's messages of room at positions from..hi, one
// direct get each.
func (c *Cluster) tail(ctx context.Context, room string, from, hi uint64) ([]actors.StoredMessage, error) {
	subj := subject(room)
	var out []actors.StoredMessage
	for pos := from; pos <= hi; {
		raw, err := c.getMsg(ctx, pos, subj)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("history of %q: the stream at %d: %w", room, pos, err)
		}
		if raw.Sequence > hi {
			break
		}
		m, err := c.decode(raw.Subject, raw.Sequence, raw.Data)
		if err != nil {
			return nil, err
		}
		out = append(out, *m)
		if len(out) > tailMax {
			return nil, fmt.Errorf("history of %q: %w", room, errStoreBehind)
		}
		pos = raw.Sequence + 1
	}
	return out, nil
}

// getTry bounds one direct get: a get sent to a NATS server as it dies is
// never answered, and waiting for the request's whole deadline would fail
// the History; another try goes to a live server.
const getTry = 2 * time.Second

// getMsg is the stream's first message of subj at or after pos, tried
// again (up to three times, within ctx) when a try is not answered.
func (c *Cluster) getMsg(ctx context.Context, pos uint64, subj string) (*jetstream.RawStreamMsg, error) {
	var err error
	for range 3 {
		try, cancel := context.WithTimeout(ctx, getTry)
		var raw *jetstream.RawStreamMsg
		raw, err = c.stream.GetMsg(try, pos, jetstream.WithGetMsgSubject(subj))
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return raw, err
		}
	}
	return nil, err
}

func inRange(q actors.HistoryQuery, id string) bool {
	return (q.After == "" || id > q.After) && (q.Before == "" || id < q.Before) && (q.Through == "" || id <= q.Through)
}

// mergeByID returns the messages of every list, once each, sorted by id.
func mergeByID(lists ...[]actors.StoredMessage) []actors.StoredMessage {
	var all []actors.StoredMessage
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.SortStableFunc(all, func(a, b actors.StoredMessage) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(all, func(a, b actors.StoredMessage) bool { return a.ID == b.ID })
}

// page keeps the newest q.Limit of all (sorted) that fit q.MaxBytes, as a
// store's History does; more also says whether older ones were left out.
func page(all []actors.StoredMessage, q actors.HistoryQuery, more bool) ([]actors.StoredMessage, bool, error) {
	start := 0
	if q.Limit > 0 && len(all) > q.Limit {
		start, more = len(all)-q.Limit, true
	}
	if q.MaxBytes > 0 {
		size := 0
		for i := len(all) - 1; i >= start; i-- {
			size += actors.MessageSize(&all[i])
			if size > q.MaxBytes {
				start, more = i+1, true
				break
			}
		}
	}
	return all[start:], more, nil
}
