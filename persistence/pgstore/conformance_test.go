package pgstore

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"parley/internal/pgtest"
	"parley/persistence/storetest"
)

// The conformance suite (persistence/storetest), against a real
// PostgreSQL: one server for the suite, a database of its own per case.
func TestConformance(t *testing.T) {
	srv := pgtest.Start(t)
	storetest.Run(t, storetest.Engine{
		NewDB: func(t *testing.T) func(*testing.T, storetest.Options) storetest.Store {
			dsn := srv.NewDB(t)
			return func(t *testing.T, o storetest.Options) storetest.Store {
				return openTest(t, dsn, Options{QueueMessages: o.QueueMessages, QueueBytes: o.QueueBytes,
					BatchMax: o.BatchMax, BatchDelay: o.BatchDelay})
			}
		},
		ErrClosed:   ErrClosed,
		MessageSize: messageSize,
	})
}

// openTest opens a store on dsn and closes it when the test ends.
func openTest(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}
