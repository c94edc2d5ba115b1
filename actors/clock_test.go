package actors_test

import (
	"sync"
	"time"

	"parley/actors"
)

// manualClock is a Clock that moves only when the test says so.
type manualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
}

func newManualClock() *manualClock {
	return &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) NewTimer(d time.Duration) actors.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	c.timers = append(c.timers, t)
	return t
}

func (c *manualClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &manualTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t.Stop
}

// afterFuncs counts the AfterFunc timers neither fired nor stopped: the
// deadlines of requests in flight.
func (c *manualClock) afterFuncs() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if t.f != nil && !t.stopped() {
			n++
		}
	}
	return n
}

// Advance moves time forward and fires the timers that are due. The
// functions of AfterFunc timers run on the caller's goroutine, after the
// clock's lock is released.
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	var due []func()
	for _, t := range c.timers {
		if t.stopped() {
			continue
		}
		if !t.at.After(c.now) {
			if f := t.fire(c.now); f != nil {
				due = append(due, f)
			}
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

type manualTimer struct {
	mu   sync.Mutex
	at   time.Time
	c    chan time.Time // NewTimer's; nil for AfterFunc's
	f    func()         // AfterFunc's; nil for NewTimer's
	done bool
}

func (t *manualTimer) C() <-chan time.Time { return t.c }

func (t *manualTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

func (t *manualTimer) stopped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}

// fire fires t if it was not stopped: a NewTimer's sends now on its
// channel; an AfterFunc's returns its function for the caller to run.
func (t *manualTimer) fire(now time.Time) func() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	t.done = true
	if t.f != nil {
		return t.f
	}
	t.c <- now
	return nil
}
