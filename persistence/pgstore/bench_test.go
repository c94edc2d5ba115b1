package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/pgtest"
)

// BenchmarkAppend measures messages committed per second through Append and
// done, as persistence's BenchmarkAppend does for SQLite, against the
// throwaway server of internal/pgtest (which runs with fsync off: this is
// the writer's cost, not a disk's).
func BenchmarkAppend(b *testing.B) {
	srv := pgtest.Start(b)
	content := strings.Repeat("x", 100)
	base := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, batch := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			const queue = 8192
			w, err := Open(context.Background(), srv.NewDB(b), Options{BatchMax: batch, QueueMessages: queue, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			tokens := make(chan struct{}, queue)
			var failed atomic.Int64
			done := func(err error) {
				if err != nil {
					failed.Add(1)
				}
				<-tokens
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				tokens <- struct{}{}
				m := &actors.StoredMessage{ID: fmt.Sprintf("%020d", i), Room: "general", Username: "alice", Content: content, Timestamp: base}
				if !w.Append(m, done) {
					b.Fatalf("Append(%d) = false", i)
				}
			}
			if err := w.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d messages failed", n)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
