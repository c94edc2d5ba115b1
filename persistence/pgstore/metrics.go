package pgstore

import "github.com/prometheus/client_golang/prometheus"

// Collectors returns Prometheus collectors that read the store's Stats at
// scrape time, under the names package persistence's use for the same
// counters, so that a dashboard reads either engine.
func (s *Store) Collectors() []prometheus.Collector {
	counter := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "parley", Subsystem: "store", Name: name, Help: help},
			func() float64 { return f(s.Stats()) })
	}
	gauge := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "parley", Subsystem: "store", Name: name, Help: help},
			func() float64 { return f(s.Stats()) })
	}
	return []prometheus.Collector{
		counter("batches_total", "Transactions committed.", func(st Stats) float64 { return float64(st.Batches) }),
		counter("rows_total", "Messages committed.", func(st Stats) float64 { return float64(st.Rows) }),
		counter("failed_batches_total", "Transactions that failed.", func(st Stats) float64 { return float64(st.FailedBatches) }),
		counter("failed_rows_total", "Messages not stored: their transaction failed or the row was refused.", func(st Stats) float64 { return float64(st.FailedRows) }),
		counter("rejected_total", "Appends refused because the queue was full.", func(st Stats) float64 { return float64(st.Rejected) }),
		gauge("last_batch_size", "Messages in the last batch.", func(st Stats) float64 { return float64(st.LastBatchSize) }),
		gauge("last_commit_seconds", "Time the last batch took, BEGIN to COMMIT.", func(st Stats) float64 { return st.LastCommit.Seconds() }),
		gauge("queue_messages", "Messages accepted and not yet acknowledged.", func(st Stats) float64 { return float64(st.QueueDepth) }),
		gauge("queue_bytes", "Bytes of messages accepted and not yet acknowledged.", func(st Stats) float64 { return float64(st.QueueBytes) }),
	}
}
