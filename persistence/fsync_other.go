//go:build !linux

package persistence

import "os"

// fdatasync falls back to File.Sync (fsync, or F_FULLFSYNC on macOS) where
// there is no fdatasync.
func fdatasync(f *os.File) error { return f.Sync() }

// syncDir is a no-op where a directory cannot be opened for syncing
// portably; SQLite syncs the WAL's directory entry itself when it first
// syncs the WAL header.
func syncDir(string) error { return nil }
