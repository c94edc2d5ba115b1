package actors

import "time"

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
//
// A window that gathers busyPresence announcements is a storm: it
// stretches at once to maxPresenceStretch times PresenceWindow, so that
// each member is written the storm's presence about once in all rather
// than once a window (a write per member each time, and in a reconnect
// storm, a mass of them in the middle of the joins: presence is what can
// wait, the joins are what people are waiting for). A stretched window
// also ends once presenceQuiet passes without an announcement: the end of
// the storm, whose announcements then go out at once rather than seconds
// later, when the memory the storm took has been returned
// (transport/trim.go, a second or two after the storm) and every member's
// writer would start again. The first announcement after a quiet window
// goes out at once and sets the window back to PresenceWindow.
// docs/performance.md has the figures.

const (
	// maxPendingPresence bounds the announcements a room gathers: at this
	// many they go out before the window ends.
	maxPendingPresence = 256
	busyPresence       = 16
	maxPresenceStretch = 8
	// presenceQuiet is long enough that a server saturated by the storm,
	// which can go 200 ms without taking a join in some room, does not end
	// windows in the middle of it (each false end is a write per member).
	presenceQuiet = 500 * time.Millisecond
)

// presence announces a UserJoined or UserLeft (see above).
func (r *Room) presence(frame []byte) {
	now := r.hub.cfg.Clock.Now()
	since := now.Sub(r.presenceAt)
	if r.hub.cfg.PresenceWindow <= 0 || (r.presenceTimer == nil && (since >= r.window() || since < 0)) {
		r.presenceAt = now
		r.presenceStorm = false
		r.broadcast(frame)
		return
	}
	r.pendingPresence = append(r.pendingPresence, frame)
	r.presenceLast = now
	if len(r.pendingPresence) >= busyPresence {
		r.presenceStorm = true // the timer set below, or already, finds the new due time when it fires
	}
	if len(r.pendingPresence) >= maxPendingPresence {
		r.flushPresence()
		return
	}
	if r.presenceTimer == nil {
		r.presenceTimer = r.hub.cfg.Clock.NewTimer(r.presenceDue().Sub(now))
	}
}

// window is the room's presence window now: PresenceWindow, or
// maxPresenceStretch times it in a storm.
func (r *Room) window() time.Duration {
	if r.presenceStorm {
		return maxPresenceStretch * r.hub.cfg.PresenceWindow
	}
	return r.hub.cfg.PresenceWindow
}

// presenceDue is when the gathered presence goes out: at the window's end,
// or, in a stretched window, presenceQuiet after the last announcement if
// that is sooner.
func (r *Room) presenceDue() time.Time {
	end := r.presenceAt.Add(r.window())
	if quiet := r.presenceLast.Add(presenceQuiet); r.presenceStorm && quiet.Before(end) {
		return quiet
	}
	return end
}

// presenceTimerFired sends the gathered presence if it is due; otherwise
// (announcements came after the timer was set, putting off the quiet end)
// it sets the timer again.
func (r *Room) presenceTimerFired() {
	now := r.hub.cfg.Clock.Now()
	if due := r.presenceDue(); now.Before(due) {
		r.presenceTimer = r.hub.cfg.Clock.NewTimer(due.Sub(now))
		return
	}
	r.flushPresence()
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
