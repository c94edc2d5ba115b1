package actors

import "time"

// tokenBucket is a classic token bucket on an injected clock. It is owned by
// one session (its requests run one at a time) and not safe for concurrent use.
type tokenBucket struct {
	rate   float64 // tokens added per second
	burst  float64 // capacity
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

// take removes one token if there is one and reports whether it did.
func (b *tokenBucket) take(now time.Time) bool {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens += dt * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
