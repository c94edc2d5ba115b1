package transport

import (
	"log/slog"
	"testing"
	"time"
)

// burstTrim returns memory once, when a burst of connections ends; not
// for steady arrivals, not during the burst, and not twice within a minute.
func TestBurstTrimFreesOnceWhenABurstEnds(t *testing.T) {
	frees := 0
	b := &burstTrim{free: func() { frees++ }, log: slog.New(slog.DiscardHandler)}
	now := time.Unix(1e9, 0)
	step := func(open int64, want int, what string) {
		t.Helper()
		now = now.Add(trimTick)
		b.tick(now, open)
		if frees != want {
			t.Fatalf("%s (open %d): got %d trims, want %d", what, open, frees, want)
		}
	}
	step(50, 0, "everyday arrivals")
	step(99, 0, "everyday arrivals")
	step(3000, 0, "a burst begins")
	step(6000, 0, "the burst goes on")
	step(6050, 0, "a slow second within the burst")
	step(9000, 0, "the burst goes on")
	step(9050, 0, "a first quiet second")
	step(9060, 1, "a second quiet second: the burst is over")
	step(9070, 1, "quiet after it")
	step(12000, 1, "a second burst")
	step(12000, 1, "quiet")
	step(12000, 1, "it ends within a minute of the trim")
	now = now.Add(trimEvery)
	step(15000, 1, "a third burst, a minute later")
	step(15010, 1, "quiet")
	step(15010, 2, "it ends")
	step(5000, 2, "many leave")
	step(5000, 2, "quiet")
}
