// Package persistence stores parley's messages and rooms in SQLite.
//
// A [Store] satisfies actors.Store. Open starts its writer, one goroutine that
// owns the only write connection and takes messages from a bounded queue,
// writing whatever is waiting (up to Options.BatchMax items, or
// Options.BatchDelay after the first) in one transaction. Only after that
// transaction commits, and the commit is on disk, is each message
// acknowledged through its done callback, so a sender is never told "stored"
// about a message that is not on disk. Appending never blocks: when the queue
// is full, in messages or in bytes, Append says so and the caller answers
// server_busy.
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
// instead of one per message (docs/performance.md compares the two).
//
// Reads (History, Rooms, LastID, FindNonce, Conversation, Conversations) use a
// separate read-only pool of connections; WAL lets them run while the writer commits.
//
// The files, by concern: options.go (Options and their defaults), open.go
// (Open's steps and closing the connections), store.go (the Store, its
// goroutines' channels, Stats, Close), writer.go (the queue and the writer's
// batch loop), batch.go (one batch's transaction and its refused rows),
// stmt.go (the writer's prepared driver statements), durable.go (the acker
// and the checkpointer), reads.go, conversations.go (the reads of the
// private messages kept between accounts), accounts.go, schema.go (the schema and its migrations),
// search.go and searchindex.go (full-text search, and the indexer that keeps
// its index in a file of its own after the writer's commits),
// metrics.go.
//
// The tables keep the names and columns of the original Rust chat's (the
// small server that parley is a port of, see README.md), so its README's
//
//	sqlite3 chat.db "SELECT * FROM messages ORDER BY timestamp DESC LIMIT 10;"
//
// works. See schema.go for the schema and its migrations.
package persistence
