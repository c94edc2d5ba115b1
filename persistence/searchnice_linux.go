package persistence

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// indexerThread gives the calling goroutine (the indexer) an OS thread of
// its own at the lowest CPU priority (nice 19): its cgo calls, which are
// nearly all of its work, run on that thread. Indexing is what may wait,
// and on a machine whose cores are all busy it takes only what the writer,
// the rooms and the connections leave (the index falls behind, which
// Stats.SearchBehind shows), instead of a share of the writer's time; on
// a machine with a core to spare it runs at full speed. The goroutine
// never unlocks the thread, so Go ends the thread with it rather than hand
// a lowered thread to other goroutines. A failure only leaves the priority
// as it was.
func indexerThread() error {
	runtime.LockOSThread()
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
}
