//go:build !linux

package park

import (
	"errors"
	"syscall"
)

// Poller is Linux-only (epoll); elsewhere every connection keeps a reader
// goroutine, and NewPoller says so.
type Poller struct{}

// NewPoller fails here: there is no epoll.
func NewPoller(func(id uint64), func(error)) (*Poller, error) {
	return nil, errors.New("no epoll on this system")
}

func (*Poller) arm(syscall.RawConn, uint64, bool) error { return errStopped }

// Stop does nothing: there is nothing to stop.
func (*Poller) Stop() {}
