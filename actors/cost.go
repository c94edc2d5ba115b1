package actors

import (
	"time"

	"golang.org/x/time/rate"

	"parley/internal/protocol"
)

// What a request costs. Every request spends a token of its connection's
// bucket (Limits.RatePerSec, RateBurst) and one of its client's, which the
// client's connections share (ClientRatePerSec, ClientBurst). A reply read
// from the store (a History page, a join's history, Conversations) then
// spends one more of each per ReplyUnit bytes it sends, after the fact:
// the buckets go into debt, and the requests that follow wait until it is
// repaid. So a 40-byte History that returns 512 KiB costs what 16 messages
// do, and one client, however many connections it opens, reads at most
// ClientRatePerSec × ReplyUnit bytes of history a second.
//
// And a request whose reply may be as large as a History frame is refused
// while the connection's queue could not take one more: a client that asks
// faster than it reads gets rate_limited, not cut off by its own replies.

// ReplyUnit is the reply size that costs one more token.
const ReplyUnit = 32 << 10

// changeCost is what an EditMessage or DeleteMessage spends: it reads the
// message and waits for a synced write, where a send joins a batch.
const changeCost = 5

// searchCost is what a Search spends: a full-text query reads an index
// and ranks up to actors.SearchRecent matches, 1 to 22 ms at p50 on a
// million messages (docs/performance.md), where a History page reads a
// range of one index.
const searchCost = 5

// cost is the tokens a request spends up front.
func cost(typ string) int {
	switch typ {
	case protocol.TypeEditMessage, protocol.TypeDeleteMessage:
		return changeCost
	case protocol.TypeReact:
		return reactCost
	case protocol.TypeSearch:
		return searchCost
	}
	return 1
}

// heavy reports whether a request's reply may be as large as a History
// frame.
func heavy(typ string) bool {
	switch typ {
	case protocol.TypeJoinRoom, protocol.TypeHistory, protocol.TypeConversations, protocol.TypeSearch:
		return true
	}
	return false
}

// allow spends a request's n tokens, from the connection's bucket and its
// client's, or refuses the request: rate_limited, or, for a client that
// keeps sending past the limit, a close with 1008 once its abuse budget is
// spent. A heavy request is also refused while its reply could not be
// queued.
func (s *Session) allow(ref string, n int, isHeavy bool) bool {
	now := s.hub.cfg.Clock.Now()
	own := s.bucket.ReserveN(now, n)
	if own.OK() && own.DelayFrom(now) == 0 {
		if s.clientBudget == nil || s.clientBudget.requests.AllowN(now, n) {
			if !isHeavy || s.roomForReply() {
				return true
			}
			s.hub.metrics.rateLimited.Add(1)
			s.fail(ref, protocol.CodeRateLimited, "your last replies are not read yet: read them before asking for more")
			return false
		}
	}
	own.CancelAt(now)
	s.hub.metrics.rateLimited.Add(1)
	if !s.abuse.AllowN(now, 1) {
		s.out.Close(protocol.ClosePolicy, "rate limit exceeded")
		return false
	}
	s.fail(ref, protocol.CodeRateLimited, "too many requests: slow down")
	return false
}

// roomForReply reports whether the connection's queue can take a History
// frame as large as one may be, beside what it holds.
func (s *Session) roomForReply() bool {
	_, queued := s.out.Len()
	return queued+s.hub.cfg.HistoryBytes <= s.hub.cfg.Outbox.Bytes
}

// reply queues a frame read from the store and charges its size.
func (s *Session) reply(frame []byte) {
	s.out.Send(frame)
	n := len(frame) / ReplyUnit
	if n == 0 {
		return
	}
	now := s.hub.cfg.Clock.Now()
	debt(s.bucket, now, n)
	if s.clientBudget != nil {
		debt(s.clientBudget.requests, now, n)
	}
}

// debt takes n tokens from l now, into debt if need be.
func debt(l *rate.Limiter, now time.Time, n int) {
	_ = l.ReserveN(now, min(n, l.Burst())) // a reservation never cancelled: the tokens are spent
}
