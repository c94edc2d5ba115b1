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
