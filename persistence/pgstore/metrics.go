package pgstore

import (
	"github.com/prometheus/client_golang/prometheus"

	"parley/persistence"
)

// Collectors returns Prometheus collectors that read the store's Stats at
// scrape time, under the names package persistence uses for the same
// counters (persistence.WriterCollectors), so that a dashboard reads either
// engine.
func (s *Store) Collectors() []prometheus.Collector {
	return persistence.WriterCollectors(s.Stats)
}
