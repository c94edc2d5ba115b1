// Package actors is parley's chat core: a lock-free, sharded actor system.
//
// Each room is a Room actor: one goroutine that owns the room's member set and
// is fed by its own bounded inbox. Each connection is a Session: its commands
// run one at a time, in the order the connection read them, and everything sent to it goes
// through its Peer, the connection's bounded outbound queue, which the
// transport drains with a writer goroutine (transport/outbound).
// The Hub registers sessions (by id and by case-folded name) and running rooms
// in concurrent sharded maps; there is no global lock around chat state.
//
// Persistence is reached through the Store interface declared here and
// satisfied by package persistence. The transport decodes frames into
// protocol.Requests, hands them to Session.Handle, and writes what is sent
// to the session's Peer; it holds no chat logic. The actors encode what they send with
// package protocol, once per frame whatever the number of recipients.
// docs/architecture.md has the whole concurrency design.
package actors
