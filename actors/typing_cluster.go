package actors

import (
	"context"
)

// Typing across a cluster's nodes. A room's typing notice reaches the
// members on the typist's node as before (typing.go), and the room hands
// it to the broker, which relays it to the other nodes' rooms: fire and
// forget, never stored, never ordered with the messages, and dropped
// first when anything is full (the broker's outbound queue to the other
// nodes, the receiving room's inbox, a member's queue), like every typing
// notice.

// TypingBroker is what a Broker implements to relay typing notices to the
// other nodes (internal/cluster does); a Broker without it keeps typing on
// its node.
type TypingBroker interface {
	// Typing hands a UserTyping frame of room, for the typist named
	// username, to the other nodes, which pass it to Hub.DeliverTyping.
	// It never blocks: it drops the notice instead.
	Typing(room, username string, frame []byte)
	// TypingTo hands a UserTyping frame for one person (Typing{with}),
	// the recipient's name's skeleton key, to the other nodes, which pass
	// it to Hub.DeliverTypingTo. It never blocks.
	TypingTo(key string, frame []byte)
}

// relaysTyping reports whether the broker relays typing to other nodes.
func (h *Hub) relaysTyping() bool {
	_, ok := h.broker.(TypingBroker)
	return ok
}

// relayTypingTo hands a typing notice for the person of key to the other
// nodes, if there are some that take it.
func (h *Hub) relayTypingTo(key string, frame []byte) {
	if tb, ok := h.broker.(TypingBroker); ok {
		tb.TypingTo(key, frame)
	}
}

// DeliverTypingTo hands another node's typing notice for the person of
// key (a skeleton) to that person's connections here, each only while its
// queue is under half full.
func (h *Hub) DeliverTypingTo(_ context.Context, key string, frame []byte) {
	o, ok := h.names.Load(key)
	if !ok {
		return
	}
	for _, s := range o.sessions {
		if !s.out.Offer(frame) {
			h.metrics.typingDropped.Add(1)
		}
	}
}

// relayTyping hands this node's typing notice in r to the other nodes.
func (r *Room) relayTyping(username string, frame []byte) {
	if tb, ok := r.hub.broker.(TypingBroker); ok {
		tb.Typing(r.name, username, frame)
	}
}

// DeliverTyping hands another node's typing notice (a UserTyping frame of
// room, for the typist named username) to the room on this node, if it
// runs here, on the terms of this node's own notices: only into an inbox
// under half full, never waited for.
func (h *Hub) DeliverTyping(_ context.Context, room, username string, frame []byte) {
	r, ok := h.rooms.Load(room)
	if !ok {
		return
	}
	if len(r.inbox) > cap(r.inbox)/2 || !r.post(&roomMsg{kind: msgTyping, name: username, frame: frame, size: typingSize}) {
		h.metrics.typingDropped.Add(1)
	}
}

// handleRemoteTyping relays another node's typing notice to the members
// here, but to the typist's own connections (the same name) if any.
func (r *Room) handleRemoteTyping(m *roomMsg) {
	fold := foldName(m.name)
	for _, mem := range r.members {
		if mem.syncing || foldName(mem.who.name) == fold {
			continue
		}
		if !mem.out.Offer(m.frame) {
			r.hub.metrics.typingDropped.Add(1)
		}
	}
}
