package persistence

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// indexerThread gives the calling goroutine (the indexer) an OS thread of
// its own at a low CPU priority (nice 10): its cgo calls, which are nearly
// all of its work, run on that thread. Indexing is what may wait: on a
// machine whose cores are all busy it gets about a tenth of what a thread
// of the writer, the rooms or the connections gets (the index falls
// behind, which Stats.SearchBehind shows), instead of an equal share; on a
// machine with a core to spare it runs at full speed. Not 19, which would
// all but stop it under load, and with it what a search waits for. The goroutine
// never unlocks the thread, so Go ends the thread with it rather than hand
// a lowered thread to other goroutines. A failure only leaves the priority
// as it was.
const indexerNice = 10

func indexerThread() error {
	runtime.LockOSThread()
	return unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), indexerNice)
}
