package actors

import "parley/internal/protocol"

// ChargeFrames charges n frames that are no request by themselves (control
// frames, and the fragments of a message after its first: the transport
// counts them as it reads) to the session's rate limit, one request each,
// so that pings and fragments are not free. Past the limit they spend the
// abuse budget, and then the connection is closed with 1008, as for
// requests; there is no request to answer with rate_limited. It reports
// whether the connection may go on. Safe from the transport's reader while
// no frame of the session is being handled.
func (s *Session) ChargeFrames(n int) bool {
	now := s.hub.cfg.Clock.Now()
	for range n {
		if s.bucket.AllowN(now, 1) {
			continue
		}
		s.hub.metrics.rateLimited.Add(1)
		if !s.abuse.AllowN(now, 1) {
			s.out.Close(protocol.ClosePolicy, "rate limit exceeded")
			return false
		}
	}
	return true
}
