package cluster_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"parley/internal/cluster"
)

// The stream keeps only what a node or the store still needs: once every
// node delivered a room's messages and the store has them, a trim purges
// them from the stream, and History (now from PostgreSQL alone) and
// delivery go on as before.
func TestStreamIsTrimmed(t *testing.T) {
	tc := startCluster(t, 2, func(_ int, c *cluster.Config) { c.TrimInterval = 100 * time.Millisecond })
	sender, member := acrossTwoNodes(t, tc)
	ids := sendSeen(t, sender, member, "to be trimmed", 10)

	nc, err := nats.Connect(tc.nats.URLs())
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), frameLimit)
	defer cancel()
	var info *jetstream.StreamInfo
	for {
		s, err := js.Stream(ctx, "PARLEY")
		if err == nil {
			info, err = s.Info(ctx)
		}
		if err == nil && info.State.Msgs == 0 && info.State.LastSeq >= uint64(len(ids)) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the stream after every node delivered and the store stored: got %+v (err %v), want no message left", info, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	// Each node trims too (the later ones find nothing left to purge).
	for n, node := range tc.nodes {
		for {
			got, want := metricValue(t, node, "parley_cluster_trimmed_position"), float64(len(ids))
			if got >= want {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("node %d: parley_cluster_trimmed_position %v, want at least %v", n+1, got, want)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	late := dial(t, tc.addrs[1])
	if h := late.join("general", "").ids(); !slices.Equal(h[len(h)-len(ids):], ids) {
		t.Errorf("History after the trim: got %v, want it to end with %v", h, ids)
	}
	id, _ := sendUntilAcked(t, sender, "general", "after the trim")
	if got := nextMessage(member).str("id"); got != id {
		t.Errorf("after the trim, the member got %s, want %s", got, id)
	}
}
