package actors_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"parley/actors"
	"parley/internal/protocol"
	"parley/internal/server"
	"parley/internal/testkit"
	"parley/persistence"
	"parley/transport/outbound"
)

// BenchmarkBroadcast measures a room message from post to every member's
// outbox: id, encoding once, the store's Append, and the fan-out. Its
// allocations per message must not grow with the room's size (the same
// encoded bytes go to every member). The store is the real SQLite writer
// (synchronous=OFF, so that fsync does not pace the room); every 32
// messages the benchmark waits for them in every queue and takes them out,
// as writers would.
func BenchmarkBroadcast(b *testing.B) {
	for _, members := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			srv := testkit.NewServer(b, server.Config{
				Store: persistence.Options{Synchronous: "OFF"},
				Hub: actors.Config{
					Limits: actors.Limits{RatePerSec: 1e12, RateBurst: 1 << 30},
					Outbox: actors.OutboxLimits{Frames: 1 << 16, Bytes: 1 << 28},
				},
			})
			hub, store, ctx := srv.Hub(), srv.Store(), context.Background()
			sessions := make([]*actors.Session, members)
			queues := make([]*outbound.Queue, members)
			for i := range sessions {
				queues[i] = outbound.New(hub.OutboxLimits())
				sessions[i] = hub.Connect("bench", queues[i])
				sessions[i].Handle(ctx, protocol.Request{Type: "JoinRoom", Room: "bench"})
			}
			var bufs [][]byte
			const batch = 32
			drain := func(want int) {
				for _, q := range queues {
					for n, _ := q.Len(); n < want; n, _ = q.Len() {
						runtime.Gosched() // the room is still fanning out
					}
					bufs = q.Take(bufs)
				}
			}
			drain(0) // the join replies: joins are synchronous, all queued by now
			content := strings.Repeat("x", 128)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				sessions[i%members].Handle(ctx, protocol.Request{Type: "SendMessage", Room: "bench", Content: content})
				if i%batch == batch-1 {
					drain(batch)
					if i%4096 == 4095 {
						_ = store.Sync(ctx) // keep the store's queue short
					}
				}
			}
			drain(b.N % batch)
			b.StopTimer()
			if m := hub.Metrics(); m.Busy > 0 {
				b.Fatalf("%d sends refused as busy: the measurement is off", m.Busy)
			}
			b.ReportMetric(float64(b.N*members)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
