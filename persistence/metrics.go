package persistence

import "github.com/prometheus/client_golang/prometheus"

// Collectors returns Prometheus collectors that read the writer's Stats at
// scrape time, so metrics add nothing to the write path.
func (w *Writer) Collectors() []prometheus.Collector {
	counter := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "parley", Subsystem: "store", Name: name, Help: help},
			func() float64 { return f(w.Stats()) })
	}
	gauge := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "parley", Subsystem: "store", Name: name, Help: help},
			func() float64 { return f(w.Stats()) })
	}
	return []prometheus.Collector{
		counter("batches_total", "Transactions committed.", func(s Stats) float64 { return float64(s.Batches) }),
		counter("rows_total", "Messages committed.", func(s Stats) float64 { return float64(s.Rows) }),
		counter("failed_batches_total", "Transactions that failed.", func(s Stats) float64 { return float64(s.FailedBatches) }),
		counter("failed_rows_total", "Messages not stored: their transaction failed or the row was refused.", func(s Stats) float64 { return float64(s.FailedRows) }),
		counter("rejected_total", "Appends refused because the queue was full.", func(s Stats) float64 { return float64(s.Rejected) }),
		counter("wal_syncs_total", "Syncs of the WAL before acknowledging (synchronous=FULL); one covers every batch committed meanwhile.", func(s Stats) float64 { return float64(s.Syncs) }),
		counter("failed_wal_syncs_total", "WAL syncs that failed; the messages they covered were not acknowledged.", func(s Stats) float64 { return float64(s.FailedSyncs) }),
		counter("checkpoints_total", "Background WAL checkpoints.", func(s Stats) float64 { return float64(s.Checkpoints) }),
		counter("wal_restarts_total", "Checkpoints that restarted the WAL, holding the writer up briefly.", func(s Stats) float64 { return float64(s.WALRestarts) }),
		gauge("last_batch_size", "Messages in the last batch.", func(s Stats) float64 { return float64(s.LastBatchSize) }),
		gauge("last_commit_seconds", "Time the last batch took, BEGIN to COMMIT.", func(s Stats) float64 { return s.LastCommit.Seconds() }),
		gauge("queue_messages", "Messages accepted and not yet acknowledged.", func(s Stats) float64 { return float64(s.QueueDepth) }),
		gauge("queue_bytes", "Bytes of messages accepted and not yet acknowledged.", func(s Stats) float64 { return float64(s.QueueBytes) }),
	}
}
