package cluster

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collectors are the node's cluster metrics, for the admin listener's
// /metrics: what NATS's own monitoring does not say about this node.
func (c *Cluster) Collectors() []prometheus.Collector {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "parley", Subsystem: "cluster", Name: name, Help: help}, f)
	}
	return []prometheus.Collector{
		gauge("publish_pending", "Messages this node published and awaits JetStream's acknowledgement of (bounded by the publish queue).",
			func() float64 { return float64(len(c.slots)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "parley", Subsystem: "cluster", Name: "publish_failures_total",
			Help: "Publishes JetStream did not acknowledge (the sender got server_busy)."},
			func() float64 { return float64(c.publishFailures.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "parley", Subsystem: "cluster", Name: "typing_dropped_total",
			Help: "Typing notices not relayed to the other nodes: NATS was not connected or its outbound buffer was half full."},
			func() float64 { return float64(c.typingDropped.Load()) }),
		gauge("delivered_position", "The stream position this node has delivered to its rooms through.",
			func() float64 { return float64(c.recent.deliveredPos()) }),
		gauge("delivery_behind", "Stream messages past the last one this node delivered, when it delivered it: its delivery lag (0 when it keeps up).",
			func() float64 { return float64(c.behind.Load()) }),
		gauge("store_floor", "The stream position through which the store has every message (the writers' acknowledgement floor, as last read).",
			func() float64 { return float64(c.stored.Load()) }),
		gauge("trimmed_position", "The stream position through which this node last purged the stream (what every node delivered and the store has).",
			func() float64 { return float64(c.trimmed.Load()) }),
		gauge("store_away", "1 while new messages are refused because the store writers are behind.",
			func() float64 {
				if c.storeAway.Load() {
					return 1
				}
				return 0
			}),
		gauge("nodes_heard", "Other nodes heard from within the node timeout.",
			func() float64 {
				c.seenMu.Lock()
				defer c.seenMu.Unlock()
				return float64(len(c.seen))
			}),
	}
}
