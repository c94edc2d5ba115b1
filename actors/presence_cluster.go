package actors

import (
	"context"
	"slices"

	"parley/internal/protocol"
)

// Presence across a cluster. Each node's room actor knows the people
// connected to it; it tells the other nodes' actors of the same room when
// one arrives, leaves or renames, and its whole list when a room starts
// elsewhere (hello), periodically (Hub.PresenceTick), so that a lost
// message heals. A node that stops beating is gone: its people leave every
// room (Hub.NodeGone). Each actor keeps every name present on any node in
// roster, with the number of places (this node; each other node) it is
// present in: UserJoined goes out when a name's first place appears,
// UserLeft when its last goes, so an account connected to two nodes
// arrives once and leaves once. Members and the member count are the
// roster's.

// PresenceOp is what a Presence says.
type PresenceOp string

const (
	PresenceOn     PresenceOp = "on"     // Name arrived on Node
	PresenceOff    PresenceOp = "off"    // Name left Node
	PresenceRename PresenceOp = "rename" // Old is now Name on Node
	PresenceFull   PresenceOp = "full"   // Names are everyone on Node
	PresenceHello  PresenceOp = "hello"  // the room started on Node (nobody is in it there yet): send your Full
)

// Presence is one node's news of its people in a room. The broker sets
// Node when it sends one.
type Presence struct {
	Node  string     `json:"node"`
	Op    PresenceOp `json:"op"`
	Name  string     `json:"name,omitempty"`
	Old   string     `json:"old,omitempty"`
	Names []string   `json:"names,omitempty"`
}

// arrive records this node's new person in the roster and tells the other
// nodes; it reports whether the name is new to the room (announce it).
func (r *Room) arrive(name string) bool {
	if r.roster == nil {
		r.memberNames.add(name)
		return true
	}
	r.hub.broker.Presence(r.name, Presence{Op: PresenceOn, Name: name})
	return r.place(name)
}

// depart is arrive's reverse: whether the name left the room (announce it).
func (r *Room) depart(name string) bool {
	if r.roster == nil {
		r.memberNames.remove(name)
		return true
	}
	r.hub.broker.Presence(r.name, Presence{Op: PresenceOff, Name: name})
	return r.unplace(name)
}

// renamed records a local guest's rename (the caller announces it).
func (r *Room) renamed(old, name string) {
	if r.roster == nil {
		r.memberNames.remove(old)
		r.memberNames.add(name)
		return
	}
	r.hub.broker.Presence(r.name, Presence{Op: PresenceRename, Old: old, Name: name})
	r.unplace(old)
	r.place(name)
}

func (r *Room) place(name string) bool {
	if r.roster[name]++; r.roster[name] > 1 {
		return false
	}
	r.memberNames.add(name)
	return true
}

func (r *Room) unplace(name string) bool {
	if r.roster[name]--; r.roster[name] > 0 {
		return false
	}
	delete(r.roster, name)
	r.memberNames.remove(name)
	return true
}

// localNames are this node's people in the room.
func (r *Room) localNames() []string {
	names := make([]string, 0, len(r.people))
	for _, p := range r.people {
		names = append(names, p.name)
	}
	return names
}

// handlePresence applies another node's news, or, for a tick, sends this
// node's whole list.
func (r *Room) handlePresence(m *roomMsg) {
	if r.roster == nil {
		return
	}
	ev := m.event
	if ev == nil || ev.Op == PresenceHello {
		if len(r.people) > 0 {
			r.hub.broker.Presence(r.name, Presence{Op: PresenceFull, Names: r.localNames()})
		}
		if ev == nil {
			return
		}
		// The room just started on ev.Node, so nobody is in it there yet:
		// what this room still has of that node is from its earlier life.
		ev = &Presence{Node: ev.Node, Op: PresenceFull}
	}
	there := r.remote[ev.Node]
	if there == nil {
		there = make(map[string]struct{})
		r.remote[ev.Node] = there
	}
	switch ev.Op {
	case PresenceOn:
		r.remoteOn(there, ev.Name)
	case PresenceOff:
		r.remoteOff(there, ev.Name)
	case PresenceRename:
		if _, ok := there[ev.Old]; ok {
			delete(there, ev.Old)
			r.unplace(ev.Old)
			there[ev.Name] = struct{}{}
			r.place(ev.Name)
			r.broadcast(protocol.EncodeSystem(r.name, ev.Old+" is now known as "+ev.Name))
			r.broadcast(protocol.EncodeUserRenamed(r.name, ev.Old, ev.Name))
		}
	case PresenceFull:
		for name := range there {
			if !slices.Contains(ev.Names, name) {
				r.remoteOff(there, name)
			}
		}
		for _, name := range ev.Names {
			r.remoteOn(there, name)
		}
	}
	if len(there) == 0 {
		delete(r.remote, ev.Node)
	}
}

func (r *Room) remoteOn(there map[string]struct{}, name string) {
	if _, ok := there[name]; ok {
		return
	}
	there[name] = struct{}{}
	if r.place(name) {
		r.presence(protocol.EncodeUserJoined(name, r.name))
	}
}

func (r *Room) remoteOff(there map[string]struct{}, name string) {
	if _, ok := there[name]; !ok {
		return
	}
	delete(there, name)
	if r.unplace(name) {
		r.presence(protocol.EncodeUserLeft(name, r.name))
	}
}

// DeliverPresence hands another node's presence news to the room on this
// node, if it runs here, waiting while its inbox is full until the room
// stops or ctx ends.
func (h *Hub) DeliverPresence(ctx context.Context, room string, p Presence) {
	if r, ok := h.rooms.Load(room); ok {
		r.enqueue(ctx, &roomMsg{kind: msgPresence, event: &p})
	}
}

// NodeGone makes the people of a node that stopped beating leave every
// room on this node.
func (h *Hub) NodeGone(ctx context.Context, node string) {
	h.rooms.Range(func(_ string, r *Room) bool {
		r.enqueue(ctx, &roomMsg{kind: msgPresence, event: &Presence{Node: node, Op: PresenceFull}})
		return true
	})
}

// PresenceTick asks every room on this node to send its whole list to the
// other nodes. A room whose inbox is full skips this tick.
func (h *Hub) PresenceTick() {
	h.rooms.Range(func(_ string, r *Room) bool {
		select {
		case r.inbox <- &roomMsg{kind: msgPresence}:
		default:
		}
		return true
	})
}

// enqueue hands m to the room, waiting while its inbox is full, until the
// room stops, the Hub shuts down or ctx ends.
func (r *Room) enqueue(ctx context.Context, m *roomMsg) {
	select {
	case r.inbox <- m:
	case <-r.stopped:
	case <-r.hub.ctx.Done():
	case <-ctx.Done():
	}
}
