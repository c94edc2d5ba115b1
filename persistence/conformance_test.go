package persistence

import (
	"testing"

	"parley/persistence/storetest"
)

// The conformance suite (persistence/storetest), against SQLite: the
// promises every store keeps, tested once for every engine.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Engine{
		NewDB: func(t *testing.T) func(*testing.T, storetest.Options) storetest.Store {
			path := tempDB(t)
			return func(t *testing.T, o storetest.Options) storetest.Store {
				return openTest(t, path, Options{QueueMessages: o.QueueMessages, QueueBytes: o.QueueBytes,
					BatchMax: o.BatchMax, BatchDelay: o.BatchDelay})
			}
		},
		ErrClosed:   ErrClosed,
		MessageSize: messageSize,
	})
}
