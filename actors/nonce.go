package actors

import (
	"sync"
	"time"

	"parley/internal/protocol"
)

// Idempotent sends: a client may attach a nonce to SendMessage and
// PrivateMessage and send the same message again after a reconnect. A resend
// is not stored again; its Ack carries the first message's id. Messages
// already committed are found in the store (Store.FindNonce); the ones still
// on their way there are found in a nonceCache kept by the room (or, for
// private messages, by the sending session).

// nonceState is where the first message with a nonce stands.
type nonceState uint8

const (
	noncePending nonceState = iota // handed to the store, not yet committed
	nonceStored                    // committed
	nonceFailed                    // the store failed it: a resend is stored anew
)

// nonceWaiter is a resend waiting for the first message to commit.
type nonceWaiter struct {
	s   *Session
	ref string
}

// nonceEntry remembers one message sent with a nonce.
type nonceEntry struct {
	id string
	ts time.Time

	mu      sync.Mutex // guards state and waiters: read by the owner's goroutine, settled by the store's callback
	state   nonceState
	waiters []nonceWaiter
}

// dedupe answers a resend from s and reports true, or reports false if the
// first message failed and the resend must be stored as a new one.
func (e *nonceEntry) dedupe(s *Session, ref string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case nonceStored:
		if ref != "" {
			s.out.Send(protocol.EncodeAckMessage(ref, e.id, e.ts))
		}
		return true
	case noncePending:
		e.waiters = append(e.waiters, nonceWaiter{s: s, ref: ref})
		return true
	}
	return false
}

// settle records the store's verdict on the first message and answers the
// resends that waited for it. It runs on the store's goroutine.
func (e *nonceEntry) settle(err error) {
	e.mu.Lock()
	if err == nil {
		e.state = nonceStored
	} else {
		e.state = nonceFailed
	}
	waiters := e.waiters
	e.waiters = nil
	e.mu.Unlock()
	for _, w := range waiters {
		w.s.acknowledge(w.ref, e.id, e.ts, err)
	}
}

// nonceCache holds the most recent nonce entries of one owner, evicting the
// oldest first. Not safe for concurrent use: its owner's goroutine alone
// touches it. Entries evicted are long committed in practice, and the store
// finds those.
type nonceCache struct {
	entries map[string]*nonceEntry
	order   []string // keys, oldest at next once full
	next    int
}

const nonceCacheSize = 1024

func (c *nonceCache) get(key string) *nonceEntry {
	if c.entries == nil {
		return nil
	}
	return c.entries[key]
}

func (c *nonceCache) put(key string, e *nonceEntry) {
	if c.entries == nil {
		c.entries = make(map[string]*nonceEntry)
	}
	if _, ok := c.entries[key]; !ok {
		if len(c.order) < nonceCacheSize {
			c.order = append(c.order, key)
		} else {
			delete(c.entries, c.order[c.next])
			c.order[c.next] = key
			c.next = (c.next + 1) % nonceCacheSize
		}
	}
	c.entries[key] = e
}
