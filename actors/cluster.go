package actors

import (
	"context"
	"fmt"
	"slices"
	"time"

	"parley/internal/protocol"
)

// Cluster mode: with a Broker, a room no longer orders, stores and
// delivers its own messages. Its actor still owns its members and checks
// each post (membership, the nonce cache), then publishes it to the
// cluster; the cluster orders every room's messages in one stream, makes
// them durable, gives each its id from its stream position, and hands
// them back to each node's running room through Hub.Deliver, in stream
// order. The room delivers to its members only what came back that way,
// so that what a member has seen is durable and every member on every
// node sees one order. docs/scaling.md has the design.

// publish hands a post to the broker. The sender's Ack (and the answer to
// any resend that waited on its nonce) comes with the id the cluster gave it.
func (r *Room) publish(m *roomMsg, mem *member, nonceKey string) {
	rec := m.post
	rec.Room = r.name
	rec.Username = mem.who.name
	rec.Timestamp = r.hub.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	sender, ref, ts := m.from, m.ref, rec.Timestamp
	var entry *nonceEntry
	if nonceKey != "" {
		entry = &nonceEntry{ts: ts}
		r.nonces.put(nonceKey, entry)
	}
	done := func(id string, err error) {
		if err == nil && !sender.account {
			sender.sent.add(id) // a guest may edit what this connection sent
		}
		sender.acknowledge(ref, id, ts, err)
		if entry != nil {
			entry.mu.Lock()
			entry.id = id
			entry.mu.Unlock()
			entry.settle(err)
		}
	}
	if !r.hub.broker.Publish(rec, done) {
		if entry != nil {
			r.nonces.put(nonceKey, &nonceEntry{state: nonceFailed}) // nothing was published
		}
		r.hub.metrics.busy.Add(1)
		sender.out.Send(protocol.EncodeError(ref, protocol.CodeServerBusy, "server busy: message not sent, try again"))
		return
	}
	r.hub.metrics.messagesIn.Add(1)
}

// handleRemote delivers a message the cluster ordered. A position at or
// before the room's own is one the room already counts in lastID (it asked
// the cluster for its last message after it was registered, and a join's
// History reads through lastID): skipped, so that none is delivered twice.
func (r *Room) handleRemote(m *roomMsg) {
	if m.pos <= r.pos {
		return
	}
	r.pos = m.pos
	r.lastID = m.post.ID
	r.broadcast(m.frame)
}

// startClusterRoom asks the cluster for the last message of a room whose
// actor was just registered (and not yet started): from then on, Deliver
// hands it every later one. On error the actor is withdrawn, and whoever
// found it in the meantime sees it stopped and looks again.
func (h *Hub) startClusterRoom(ctx context.Context, r *Room) error {
	id, pos, err := h.broker.Last(ctx, r.name)
	if err != nil {
		h.retireRoom(r)
		close(r.stopped)
		return fmt.Errorf("room %q last message in the cluster: %w", r.name, err)
	}
	r.lastID, r.pos = id, pos
	r.remote, r.roster = make(map[string]map[string]struct{}), make(map[string]int)
	h.broker.Presence(r.name, Presence{Op: PresenceHello}) // the others answer with their people
	return nil
}

// Deliver hands a message the cluster ordered (ID set from pos, its
// stream position) to the room on this node, if it runs here: a room that
// does not has no member here, and asks for its last message when it
// starts. It is called by the broker's one delivery goroutine, in stream
// order, and waits while the room's inbox is full (the stream holds what
// follows, so nothing is lost: the node falls behind instead), until the
// room stops or ctx ends. It reports false only when ctx ended first.
func (h *Hub) Deliver(ctx context.Context, pos uint64, m *StoredMessage) bool {
	r, ok := h.rooms.Load(m.Room)
	if !ok {
		return true
	}
	msg := &roomMsg{kind: msgRemote, pos: pos, post: m, frame: protocol.EncodeMessage(m.wire())}
	select {
	case r.inbox <- msg:
		return true
	case <-r.stopped:
		return true
	case <-h.ctx.Done():
		return true
	case <-ctx.Done():
		return false
	}
}

// DeliverChange hands another node's edit or deletion (a MessageEdited or
// MessageDeleted frame, stored already) to the room on this node, if it
// runs here, waiting while its inbox is full, until the room stops or ctx
// ends.
func (h *Hub) DeliverChange(ctx context.Context, room string, frame []byte) {
	if r, ok := h.rooms.Load(room); ok {
		r.enqueue(ctx, &roomMsg{kind: msgChange, frame: frame})
	}
}

// claimInCluster claims a guest's name across the cluster, if there is one.
func (h *Hub) claimInCluster(key, name string) (bool, error) {
	if h.broker == nil {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.RequestTimeout)
	defer cancel()
	return h.broker.ClaimGuest(ctx, key, name)
}

// HoldsGuest reports whether a guest on this node holds the name with
// skeleton key (another node asks before taking over a claim).
func (h *Hub) HoldsGuest(key string) bool {
	o, ok := h.names.Load(key)
	return ok && !o.account
}

// DeliverPrivate sends another node's private message frame to this
// node's connections of the names keys (skeletons), each person once.
func (h *Hub) DeliverPrivate(keys []string, frame []byte) {
	var seen []uint64
	for _, key := range keys {
		o, ok := h.names.Load(key)
		if !ok || slices.Contains(seen, o.person) {
			continue
		}
		seen = append(seen, o.person)
		for _, s := range o.sessions {
			s.out.Send(frame)
		}
	}
}

// claimInCluster claims the guest's new name across the cluster, if there
// is one, under the request's deadline.
func (s *Session) claimInCluster(ctx context.Context, key, name string) (bool, error) {
	if s.hub.broker == nil {
		return true, nil
	}
	return s.hub.broker.ClaimGuest(ctx, key, name)
}

// releaseInCluster gives up a guest's name across the cluster, if there is one.
func (s *Session) releaseInCluster(key string) {
	if s.hub.broker != nil && !s.account {
		s.hub.broker.ReleaseGuest(key)
	}
}

// remoteRecipient finds the recipient of a private message on another
// node: a guest holding the name there, or, for a guest sender, an
// account (which may be connected on another node; an account sender
// found it already through offlineAccount).
func (s *Session) remoteRecipient(conn context.Context, key string) (nameOwner, bool, error) {
	ctx, cancel := s.deadline(conn)
	defer cancel()
	name, ok, err := s.hub.broker.Guest(ctx, key)
	if err != nil {
		s.hub.log.Warn("look up a guest in the cluster", "err", waitErr(ctx, err))
		return nameOwner{}, false, err
	}
	if ok {
		return nameOwner{name: name}, true, nil
	}
	if !s.account && s.hub.cfg.Names != nil {
		return s.offlineAccount(conn, key)
	}
	return nameOwner{}, false, nil
}
