package actors

import "parley/internal/protocol"

// Peer is a session's connection as the core sees it: where the session's
// frames go, and how the core ends it. The transport implements it with
// its outbound queue (transport/outbound), which any goroutine may push to
// and which never blocks; the core never reads from it, never waits on it,
// and never learns how a connection closed.
type Peer interface {
	// Send queues frame for the client and wakes the connection's writer.
	// frame must not be modified afterwards: the same bytes go to every
	// recipient of a broadcast.
	Send(frame []byte) Verdict
	// SendAll queues frames, in order, like that many Sends (all of them
	// or, past the bound, none: Overflow), with one wake of the writer.
	SendAll(frames [][]byte) Verdict
	// Offer queues frame like Send, but only while the queue holds less
	// than half its bounds (frames and bytes), and reports whether it did:
	// a frame nobody misses (UserTyping) is dropped first, and never makes
	// a peer overflow.
	Offer(frame []byte) bool
	// Len reports the frames and bytes queued: a request whose reply may
	// be large is refused while one would not fit (Session.allow).
	Len() (frames, bytes int)
	// Close ends the connection with code: what is queued is still written
	// (unless the peer was cut off as a slow consumer), then the close
	// handshake. The first Close wins.
	Close(code protocol.CloseCode, reason string)
}

// Verdict is what a Peer's Send reports. Send never blocks.
type Verdict uint8

const (
	// Queued: the frame will be written.
	Queued Verdict = iota
	// Overflow: the queue was full (frames or bytes). The peer has closed
	// itself with 1008; the session will be dropped and its user will leave
	// its rooms. Nothing else slows down.
	Overflow
	// Closed: the peer was already closed; the frame was discarded.
	Closed
)

// OutboxLimits bound a session's queue of frames waiting to be written. The
// transport builds each connection's queue with the Hub's (Hub.OutboxLimits);
// a room holds a syncing member's frames within the same bounds.
type OutboxLimits struct {
	Frames int // frames queued at most
	Bytes  int // bytes queued at most
}

// DefaultOutboxLimits hold about a second of a busy room for a client on a
// slow link; a client further behind than that is cut off, not buffered.
var DefaultOutboxLimits = OutboxLimits{Frames: 4096, Bytes: 1 << 20}
