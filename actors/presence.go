package actors

// Presence gathering. Each UserJoined and UserLeft goes to every member of
// the room; when a room fills up (a reconnect storm: everyone comes back
// at once) that is one write per member per join, quadratic in the room's
// size. So a room announces a join or leave at once only when none went
// out within the last PresenceWindow; the ones that follow within the
// window are gathered in the room, encoded once, and go out together at
// its end (or ahead of the next frame the room broadcasts, which keeps the
// order): one wake of each member's writer, and one write, per window.
// They wait in the room, not in the members' queues, so that a storm
// leaves nothing queued per connection.

// maxPendingPresence bounds the announcements a room gathers: at this many
// they go out before the window ends.
const maxPendingPresence = 256

// presence announces a UserJoined or UserLeft (see above).
func (r *Room) presence(frame []byte) {
	w := r.hub.cfg.PresenceWindow
	now := r.hub.cfg.Clock.Now()
	since := now.Sub(r.presenceAt)
	if w <= 0 || (r.presenceTimer == nil && (since >= w || since < 0)) {
		r.presenceAt = now
		r.broadcast(frame)
		return
	}
	r.pendingPresence = append(r.pendingPresence, frame)
	if len(r.pendingPresence) >= maxPendingPresence {
		r.flushPresence()
		return
	}
	if r.presenceTimer == nil {
		r.presenceTimer = r.hub.cfg.Clock.NewTimer(w - since)
	}
}

// flushPresence sends the gathered presence: to each member, what was
// gathered since it joined, in one push.
func (r *Room) flushPresence() {
	if r.presenceTimer != nil {
		r.presenceTimer.Stop()
		r.presenceTimer = nil
	}
	r.presenceAt = r.hub.cfg.Clock.Now()
	pending := r.pendingPresence
	r.pendingPresence = nil
	n := 0
	for s, mem := range r.members {
		from := mem.presenceFrom
		mem.presenceFrom = 0
		if from < len(pending) {
			r.deliverAll(s, mem, pending[from:])
			n += len(pending) - from
		}
	}
	r.hub.metrics.deliveries.Add(int64(n))
}

// deliverAll is deliver for several frames, in order, queued for a member
// with one wake of its writer.
func (r *Room) deliverAll(s *Session, mem *member, frames [][]byte) {
	if mem.syncing {
		for _, f := range frames {
			if !r.deliver(s, mem, f) {
				return
			}
		}
		return
	}
	if mem.out.SendAll(frames) == Overflow {
		r.dropped = append(r.dropped, s)
		r.hub.metrics.slow.Add(1)
	}
}
