package persistence

import "github.com/prometheus/client_golang/prometheus"

// Collectors returns Prometheus collectors that read the store's Stats at
// scrape time, so metrics add nothing to the write path: the writer's, as
// every store exports them (WriterCollectors), and SQLite's own.
func (s *Store) Collectors() []prometheus.Collector {
	counter := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "parley", Subsystem: "store", Name: name, Help: help},
			func() float64 { return f(s.Stats()) })
	}
	return append(WriterCollectors(func() WriterStats { return s.Stats().WriterStats }),
		counter("wal_syncs_total", "Syncs of the WAL before acknowledging (synchronous=FULL); one covers every batch committed meanwhile.", func(st Stats) float64 { return float64(st.Syncs) }),
		counter("failed_wal_syncs_total", "WAL syncs that failed; the messages they covered were not acknowledged.", func(st Stats) float64 { return float64(st.FailedSyncs) }),
		counter("checkpoints_total", "Background WAL checkpoints.", func(st Stats) float64 { return float64(st.Checkpoints) }),
		counter("wal_restarts_total", "Checkpoints that restarted the WAL, holding the writer up briefly.", func(st Stats) float64 { return float64(st.WALRestarts) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "parley", Subsystem: "store", Name: "search_behind",
			Help: "Search feed rows (batches, edits, rooms deleted) committed and not yet indexed: how far search is behind the writer."},
			func() float64 { return float64(s.Stats().SearchBehind) }),
	)
}

// WriterCollectors returns the collectors of a store's batching writer,
// reading stats at scrape time: one set of names, whichever the engine, so
// that a dashboard reads either.
func WriterCollectors(stats func() WriterStats) []prometheus.Collector {
	counter := func(name, help string, f func(WriterStats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "parley", Subsystem: "store", Name: name, Help: help},
			func() float64 { return f(stats()) })
	}
	gauge := func(name, help string, f func(WriterStats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "parley", Subsystem: "store", Name: name, Help: help},
			func() float64 { return f(stats()) })
	}
	return []prometheus.Collector{
		counter("batches_total", "Transactions committed.", func(st WriterStats) float64 { return float64(st.Batches) }),
		counter("rows_total", "Messages committed.", func(st WriterStats) float64 { return float64(st.Rows) }),
		counter("failed_batches_total", "Transactions that failed.", func(st WriterStats) float64 { return float64(st.FailedBatches) }),
		counter("failed_rows_total", "Messages not stored: their transaction failed or the row was refused.", func(st WriterStats) float64 { return float64(st.FailedRows) }),
		counter("rejected_total", "Appends refused because the queue was full.", func(st WriterStats) float64 { return float64(st.Rejected) }),
		gauge("last_batch_size", "Messages in the last batch.", func(st WriterStats) float64 { return float64(st.LastBatchSize) }),
		gauge("last_commit_seconds", "Time the last batch took, BEGIN to COMMIT.", func(st WriterStats) float64 { return st.LastCommit.Seconds() }),
		gauge("queue_messages", "Messages accepted and not yet acknowledged.", func(st WriterStats) float64 { return float64(st.QueueDepth) }),
		gauge("queue_bytes", "Bytes of messages accepted and not yet acknowledged.", func(st WriterStats) float64 { return float64(st.QueueBytes) }),
	}
}
