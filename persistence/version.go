package persistence

// SchemaVersion is the SQLite schema version this build migrates to (PRAGMA
// user_version after Open): what a tool that reads a database without
// opening a Store on it (parley migrate-store, which must not write its
// source) compares the file's version with.
func SchemaVersion() int { return len(migrations) }
