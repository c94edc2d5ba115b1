//go:build !linux

package persistence

// indexerThread is a no-op where a thread's priority cannot be set alone
// (see searchnice_linux.go).
func indexerThread() error { return nil }
