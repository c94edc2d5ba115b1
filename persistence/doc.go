// Package persistence stores parley's messages and rooms in SQLite.
//
// A [Store] is the persistence actor: Open starts one goroutine that owns the
// only write connection and takes messages from a bounded queue, writing
// whatever is waiting (up to Options.BatchMax items, or Options.BatchDelay
// after the first) in one transaction. Only after that transaction commits,
// and the commit is on disk, is each message acknowledged through its done
// callback, so a sender is never told "stored" about a message that is not
// on disk. Appending never blocks:
// when the queue is full, in messages or in bytes, Append says so and the
// caller answers server_busy.
//
// Durability is Options.Synchronous, FULL by default: an acknowledged message
// survives power loss. The writer's goroutine does no fsync for it: it
// commits in WAL mode at SQLite's synchronous=NORMAL and hands each committed
// batch to an acker goroutine, which fdatasyncs the WAL (one sync covering
// every batch committed meanwhile) and only then calls the done callbacks, in
// queue order. A checkpointer goroutine copies the WAL into the database
// file on a connection of its own, and restarts the WAL when it passes
// Options.WALLimit. durable.go says why this is as durable as SQLite's FULL.
// Batching is what makes it affordable: a few syncs per batch of hundreds
// instead of one per message (on the development machine, ~5k rows/s with
// one autocommit per row against several hundred thousand with batches).
//
// Reads (History, Rooms, LastID, FindNonce) use a separate read-only pool of
// connections; WAL lets them run while the writer commits.
//
// The tables keep the seed project's names and columns, so the seed's
//
//	sqlite3 chat.db "SELECT * FROM messages ORDER BY timestamp DESC LIMIT 10;"
//
// works. See schema.go for the schema and its migrations.
package persistence
