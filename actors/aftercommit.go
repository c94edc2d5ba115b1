package actors

import "context"

// Delivery after the commit on a single node (Config.DeliverAfterCommit):
// a measurement of what it would cost (docs/reliability.md), not the
// default. By default a room delivers a message to its members as soon as
// it has given it an id, and the sender's Ack waits for the commit; a
// kill -9 between the two can show members a message that History never
// has. With DeliverAfterCommit the store's done callback, called by its
// writer in commit order once the batch holding the message committed,
// acknowledges the sender and hands the message back to the room, which
// delivers it then, in that order, and only then counts it in lastID (a
// join in between reads History up to the message before, and gets this
// one live).

// deliverAfterCommit wraps a post's done: after it, a committed message
// goes back to the room to be delivered.
func (r *Room) deliverAfterCommit(done func(error), id string, frame []byte) func(error) {
	return func(err error) {
		done(err)
		if err != nil {
			return // not stored: never shown
		}
		// Waits while the inbox is full, like the cluster's Hub.Deliver:
		// the store's writer, which calls this, then waits too, and the
		// store's queue fills, and senders get server_busy. The room never
		// waits for the writer, so this cannot deadlock.
		r.enqueue(context.Background(), &roomMsg{kind: msgCommitted, frame: frame, name: id})
	}
}

// handleCommitted delivers a message the store committed.
func (r *Room) handleCommitted(m *roomMsg) {
	if m.name > r.lastID {
		r.lastID = m.name
	}
	r.broadcast(m.frame)
}
