package transport

import (
	"log/slog"
	"runtime/debug"
	"time"
)

// After a burst of new connections (a reconnect storm: every client of a
// restarted server comes back at once) the heap holds what the handshakes,
// joins and presence of the burst left, and the runtime keeps those pages
// until the heap grows back to its goal, which idle connections take many
// minutes to do: the process stays at its peak RSS long after the storm.
// burstTrim notices the end of a burst and then returns that memory to the
// system once (debug.FreeOSMemory: a collection and a scavenge, tens of
// milliseconds at 20,000 connections). docs/performance.md has the figures.
type burstTrim struct {
	free     func() // debug.FreeOSMemory; tests count calls
	log      *slog.Logger
	prev     int64 // connections open at the last tick
	inBurst  bool
	quiet    int // ticks in a row, since the burst, that opened fewer than burstOver
	lastFree time.Time
}

const (
	// burstGrowth: connections opened (net) within one tick that make a
	// burst; with ticks of a second, far above everyday arrivals.
	burstGrowth = 1000
	// burstOver: burstQuiet ticks in a row that each open fewer than this
	// end the burst. One is not enough: a storm on a busy machine has
	// seconds that open few, and a trim within the storm is wasted.
	burstOver  = 100
	burstQuiet = 2
	// trimEvery: at most one trim per this long, whatever the bursts.
	trimEvery = time.Minute
	// trimTick is how often tick is called (Heartbeat).
	trimTick = time.Second
)

func newBurstTrim(log *slog.Logger) *burstTrim {
	return &burstTrim{free: debug.FreeOSMemory, log: log}
}

// tick takes the number of connections open now and trims when a burst
// has just ended. Called by Heartbeat's goroutine every trimTick.
func (b *burstTrim) tick(now time.Time, open int64) {
	grew := open - b.prev
	b.prev = open
	switch {
	case grew >= burstGrowth:
		b.inBurst, b.quiet = true, 0
	case !b.inBurst:
	case grew >= burstOver:
		b.quiet = 0
	case b.quiet+1 < burstQuiet:
		b.quiet++
	default:
		b.inBurst, b.quiet = false, 0
		if b.lastFree.IsZero() || now.Sub(b.lastFree) >= trimEvery {
			b.lastFree = now
			start := time.Now()
			b.free()
			b.log.Info("connection burst over: its memory returned to the system", "open", open, "took", time.Since(start))
		}
	}
}
