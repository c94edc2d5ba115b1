package accounts

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a token bucket: Burst events at once, then one per Every.
type Limit struct {
	Burst int
	Every time.Duration
}

func (l Limit) orDefault(d Limit) Limit {
	if l.Burst <= 0 {
		l.Burst = d.Burst
	}
	if l.Every <= 0 {
		l.Every = d.Every
	}
	return l
}

// keyedLimiter is a token bucket per key (an account's skeleton, an IP
// address), in memory: a restart forgets it (docs/security.md says why that
// is acceptable). It holds at most max keys: when full, the buckets that
// have refilled (which remember nothing) are dropped, and if none has, an
// arbitrary one is, so an attacker spreading over many keys can make the
// limiter forget some of them but never grow it; the other limiter (per IP
// for a spread over accounts, per account for one over addresses) still
// holds.
type keyedLimiter struct {
	limit Limit
	max   int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter // guarded by mu
}

func newKeyedLimiter(l Limit, max int) *keyedLimiter {
	return &keyedLimiter{limit: l, max: max, buckets: make(map[string]*rate.Limiter)}
}

// wait returns how long key must wait before its next event is allowed: 0
// if it may go now. It takes nothing.
func (k *keyedLimiter) wait(key string, now time.Time) time.Duration {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.buckets[key]
	if !ok {
		return 0
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration(math.Ceil((1 - tokens) * float64(k.limit.Every)))
}

// take counts an event for key.
func (k *keyedLimiter) take(key string, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.buckets[key]
	if !ok {
		if len(k.buckets) >= k.max {
			k.evictLocked(now)
		}
		b = rate.NewLimiter(rate.Every(k.limit.Every), k.limit.Burst)
		k.buckets[key] = b
	}
	// An empty bucket stays empty: callers ask wait first, so an event
	// beyond the limit is one that raced past it, within the hashing limit.
	b.AllowN(now, 1)
}

// evictLocked makes room for one key.
func (k *keyedLimiter) evictLocked(now time.Time) {
	full := float64(k.limit.Burst)
	for key, b := range k.buckets {
		if b.TokensAt(now) >= full {
			delete(k.buckets, key)
		}
	}
	if len(k.buckets) < k.max {
		return
	}
	for key := range k.buckets { // map order: an arbitrary one
		delete(k.buckets, key)
		return
	}
}

// size is the number of keys held.
func (k *keyedLimiter) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}
