package pgstore

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/pgtest"
	"parley/internal/textsearch"
)

// BenchmarkSearch times Search on 100,000 messages of made-up words drawn
// by a Zipf law (as bench -scenario search does for SQLite), for a word
// in most messages, one in about 1%, and a rare one: that the planner
// takes the newest SearchRecent matches of a common word without ranking
// them all, and that each query is planned for its words (see Search).
// On the 2-vCPU development machine: common 160 ms, rank100 26 ms, rare
// 2.3 ms (the common word walks back through its newest 10,000 matches,
// computing each one's tsvector).
func BenchmarkSearch(b *testing.B) {
	srv := pgtest.Start(b)
	ctx := context.Background()
	w, err := Open(ctx, srv.NewDB(b), Options{QueueMessages: 8192, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	words := make([]string, 5000)
	for i := range words {
		words[i] = fmt.Sprintf("w%dx", i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	z := rand.NewZipf(r, 1.1, 1, uint64(len(words)-1))
	base := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	const n = 100000
	done := make(chan error, 8192)
	for i := range n {
		var sb strings.Builder
		for j := range 4 + r.IntN(27) {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(words[z.Uint64()])
		}
		m := &actors.StoredMessage{ID: fmt.Sprintf("01JC%022d", i), Room: fmt.Sprint("r", i%10), Username: "u", Content: sb.String(), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		if i >= 8000 {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		if !w.Append(m, func(err error) { done <- err }) {
			b.Fatalf("Append(%d) = false", i)
		}
	}
	for range min(n, 8000) {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	if _, err := w.db.ExecContext(ctx, "ANALYZE messages"); err != nil {
		b.Fatal(err)
	}
	rooms := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"}
	for _, tc := range []struct{ name, word string }{{"common", words[0]}, {"rank100", words[100]}, {"rare", words[3000]}} {
		b.Run(tc.name, func(b *testing.B) {
			terms, _ := textsearch.Parse(tc.word)
			for b.Loop() {
				if _, _, err := w.Search(ctx, actors.SearchQuery{Terms: terms, Rooms: rooms, Limit: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
