// Package pgstore stores parley's messages, rooms, accounts and what they
// keep in PostgreSQL. A [Store] satisfies actors.Store and accounts.Store
// with the promises of package persistence's SQLite store, and the two pass
// one conformance suite (persistence/storetest).
//
// Messages take the same road as in SQLite: Append puts them in a bounded
// queue (in messages and bytes) without blocking, and says false when it is
// full or the store closed; one writer goroutine takes whatever is waiting
// (up to Options.BatchMax items, or Options.BatchDelay after the first) and
// writes it in one transaction: all its messages in one INSERT of arrays
// (unnest), sent with its rooms in one round trip. Only once that transaction committed is each message
// acknowledged through its done callback, on the writer's goroutine, in
// queue order. PostgreSQL's own synchronous_commit decides what a commit
// promises (on by default: flushed to its WAL); the store adds no sync.
//
// A row refused as a duplicate (its id, or its sender's nonce to the same
// room or recipient) fails alone, with an error wrapping
// actors.ErrDuplicate: a clash within the batch is found before it is sent,
// and a clash with a stored row inserts nothing (ON CONFLICT DO NOTHING),
// which RETURNING tells, without aborting the transaction.
//
// Everything else (reads, account and marker writes) goes straight to the
// connection pool: PostgreSQL runs them concurrently with the writer, so
// they need no turn in its queue. Reads go through database/sql (pgx's
// stdlib driver) with sqlx; the writer uses pgx directly for its pipeline.
//
// The files: store.go (Options, Open, Close, Stats), schema.go (the schema,
// migrations versioned in a table), writer.go (the queue and the writer's
// batch loop), reads.go, markers.go, accounts.go.
package pgstore
