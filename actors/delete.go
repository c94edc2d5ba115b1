package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"parley/internal/protocol"
)

// Deleting a room (an operator's act: `parley room delete`, through the
// admin listener): its members are sent out of it, it is forgotten, and
// its messages, and what accounts kept of it, are deleted from the store.

// ErrDefaultRoom is DeleteRoom's error for a default room, which always
// exists.
var ErrDefaultRoom = errors.New("a default room cannot be deleted")

// ErrNoRoom is DeleteRoom's error for a room the server does not know.
var ErrNoRoom = errors.New("no such room")

// DeleteRoom deletes the room name: every connection in it is told Left
// (and why), the room is forgotten, and the store deletes its messages.
// A join racing with it may create an empty room of the same name anew.
func (h *Hub) DeleteRoom(ctx context.Context, name string) error {
	name, ok := NormalizeRoom(name, h.cfg.Limits.RoomMax)
	if !ok {
		return fmt.Errorf("delete room %q: %w", name, ErrNoRoom)
	}
	if slices.Contains(h.cfg.DefaultRooms, name) {
		return fmt.Errorf("delete room %q: %w", name, ErrDefaultRoom)
	}
	if _, known := h.catalog.Load(name); !known {
		return fmt.Errorf("delete room %q: %w", name, ErrNoRoom)
	}
	if r, running := h.rooms.Load(name); running {
		if _, err := r.control(ctx, &roomMsg{kind: msgDelete}); err != nil && !errors.Is(err, errRoomStopped) {
			return fmt.Errorf("delete room %q: %w", name, err)
		}
	}
	h.catalog.Delete(name)
	h.namesChanged()
	// What the room handed to the store before it stopped is written
	// first, so that nothing of it is written after the delete.
	if err := h.store.Sync(ctx); err != nil {
		return fmt.Errorf("delete room %q: %w", name, err)
	}
	if err := h.store.DeleteRoom(ctx, name); err != nil {
		return fmt.Errorf("delete room %q: %w", name, err)
	}
	h.log.Info("room deleted", "room", name)
	return nil
}

// handleDelete sends every member out (evicted, in its session's turn),
// and marks the room deleted: run stops after this turn.
func (r *Room) handleDelete() {
	for s := range r.members {
		r.hub.followers.Add(1)
		// Runs in its own goroutine; exits when the session has left.
		go func() {
			defer r.hub.followers.Done()
			s.evicted(r)
		}()
	}
	clear(r.members)
	clear(r.people)
	r.deleted = true
	r.hub.retireRoom(r)
}

// drainDeleted answers what waits in a deleted room's inbox: posts get an
// Error, control messages their (empty) reply. Nothing is stored.
func (r *Room) drainDeleted() {
	for {
		select {
		case m := <-r.inbox:
			if m.kind == msgPost {
				r.inboxBytes.Add(-m.size)
				m.from.out.Send(protocol.EncodeError(m.ref, protocol.CodeNotInRoom, "room "+r.name+" was deleted"))
				continue
			}
			if m.claim.CompareAndSwap(claimPending, claimTaken) {
				m.reply <- roomReply{}
			}
		default:
			return
		}
	}
}

// evicted takes the session out of the deleted room r, in a turn of its
// own, and tells its client.
func (s *Session) evicted(r *Room) {
	s.turn.Lock()
	defer s.turn.Unlock()
	if s.closed || s.rooms[r.name] != r {
		return
	}
	delete(s.rooms, r.name)
	if s.current == r.name {
		s.current = ""
	}
	s.out.Send(protocol.EncodeSystem(r.name, "room "+r.name+" was deleted by an operator"))
	s.out.Send(protocol.EncodeLeft(r.name))
}
