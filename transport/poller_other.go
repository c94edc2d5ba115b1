//go:build !linux

package transport

import (
	"errors"
	"syscall"
)

// poller is Linux-only (epoll); elsewhere every connection keeps a reader
// goroutine, and newPoller says so.
type poller struct{}

func newPoller(func(id uint64)) (*poller, error) {
	return nil, errors.New("no epoll on this system")
}

func (*poller) arm(syscall.RawConn, uint64, bool) error { return errPollerStopped }

func (*poller) stop() {}
