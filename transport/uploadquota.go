package transport

// The upload quota: bytes a day and uploads an hour, per account and per
// client address (clientKey), counted in memory. Each key has two fixed
// windows that start at its first upload in them. The map is bounded: at
// its size, windows that have ended are swept, and if none has, an upload
// from a new key is refused (fail closed: 429) rather than the map grown;
// it is also swept once a minute as uploads come. A restart forgets the
// counts: the quota is a brake on abuse, not an accounting.

import (
	"sync"
	"time"
)

type quotaUse struct {
	dayStart  time.Time
	bytes     int64 // read, and reserved by uploads in progress, this day
	hourStart time.Time
	count     int // uploads begun this hour
}

type uploadQuota struct {
	bytesPerDay int64
	perHour     int
	maxKeys     int

	mu        sync.Mutex
	use       map[string]*quotaUse
	lastSweep time.Time
}

func newUploadQuota(bytesPerDay int64, perHour, maxKeys int) *uploadQuota {
	return &uploadQuota{bytesPerDay: bytesPerDay, perHour: perHour, maxKeys: maxKeys, use: make(map[string]*quotaUse)}
}

// reserve begins an upload of at most want bytes by every key: it counts
// one upload for each and reserves bytes for it, as many as want or as the
// key with the least left has, whichever is less. ok is false, and nothing
// is counted, if a key has no upload or no byte left; retry says when it
// will have. settle returns what the upload did not read.
func (q *uploadQuota) reserve(now time.Time, want int64, keys ...string) (granted int64, retry time.Duration, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Sub(q.lastSweep) >= time.Minute {
		q.sweep(now)
	}
	granted = want
	uses := make([]*quotaUse, len(keys))
	for i, k := range keys {
		u := q.use[k]
		if u == nil {
			if len(q.use) >= q.maxKeys {
				q.sweep(now)
			}
			if len(q.use) >= q.maxKeys {
				return 0, time.Minute, false
			}
			u = &quotaUse{dayStart: now, hourStart: now}
			q.use[k] = u
		}
		if now.Sub(u.dayStart) >= 24*time.Hour {
			u.dayStart, u.bytes = now, 0
		}
		if now.Sub(u.hourStart) >= time.Hour {
			u.hourStart, u.count = now, 0
		}
		if u.count >= q.perHour {
			return 0, u.hourStart.Add(time.Hour).Sub(now), false
		}
		left := q.bytesPerDay - u.bytes
		if left <= 0 {
			return 0, u.dayStart.Add(24 * time.Hour).Sub(now), false
		}
		granted = min(granted, left)
		uses[i] = u
	}
	for _, u := range uses {
		u.count++
		u.bytes += granted
	}
	return granted, 0, true
}

// settle gives back the part of a reservation an upload did not read.
func (q *uploadQuota) settle(reserved, used int64, keys ...string) {
	if used >= reserved {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, k := range keys {
		if u := q.use[k]; u != nil {
			u.bytes = max(0, u.bytes-(reserved-used))
		}
	}
}

// sweep forgets the keys whose windows have both ended: their next upload
// starts from nothing either way.
func (q *uploadQuota) sweep(now time.Time) {
	q.lastSweep = now
	for k, u := range q.use {
		if now.Sub(u.dayStart) >= 24*time.Hour && now.Sub(u.hourStart) >= time.Hour {
			delete(q.use, k)
		}
	}
}

// dayEnds is how long until every key's day of bytes has ended: when an
// upload that did not fit in what was left may be tried again whole.
func (q *uploadQuota) dayEnds(now time.Time, keys ...string) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		if u := q.use[k]; u != nil {
			d = max(d, u.dayStart.Add(24*time.Hour).Sub(now))
		}
	}
	return d
}
