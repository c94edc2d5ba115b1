package transport

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller watches parked connections with one epoll instance, so that an idle
// connection needs no goroutine waiting in a read. Each parked socket is in
// the set with EPOLLONESHOT: the first event disarms it, the reader started
// for it owns the socket until it parks it again (arm), and level triggering
// reports at once what arrived between the reader's last read and the arm.
// Events carry the session id, not the file descriptor, which the kernel
// may hand to a new connection as soon as the old one is closed.
type poller struct {
	kick func(id uint64) // called by run for every event; must not block

	mu      sync.RWMutex // held for reading by arm, for writing by stop: epfd is not closed under an arm
	stopped bool
	epfd    int
	wakefd  int           // an eventfd in the set: stop writes to it to end run
	done    chan struct{} // closed by run when it returns; awaited by stop
}

// wakeID marks the eventfd's events; session ids count up from 1.
const wakeID = ^uint64(0)

var errPollerStopped = errors.New("poller stopped")

func newPoller(kick func(id uint64)) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, wakeID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl eventfd: %w", err)
	}
	p := &poller{kick: kick, epfd: epfd, wakefd: wakefd, done: make(chan struct{})}
	go p.run() // runs in its own goroutine (and OS thread, in epoll_wait); returns when stop wakes it
	return p, nil
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	// Fd and Pad together are epoll_data, 64 bits on every architecture.
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// run waits for events and kicks their connections' readers.
func (p *poller) run() {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			// Not expected with a valid epfd and buffer. Parked
			// connections stay parked until their sockets close.
			return
		}
		for i := range events[:n] {
			id := eventID(&events[i])
			if id == wakeID {
				return
			}
			p.kick(id)
		}
	}
}

// arm puts the socket behind raw into the set for one event, as id: added
// the first time, re-armed after. It fails with net.ErrClosed (from Control)
// if the socket is closed, and with errPollerStopped after stop.
func (p *poller) arm(raw syscall.RawConn, id uint64, add bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.stopped {
		return errPollerStopped
	}
	op := unix.EPOLL_CTL_MOD
	if add {
		op = unix.EPOLL_CTL_ADD
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT}
	setEventID(&ev, id)
	var err error
	// Control holds the descriptor open while it runs, so it cannot be
	// closed and reused by another connection in between.
	if cerr := raw.Control(func(fd uintptr) {
		err = unix.EpollCtl(p.epfd, op, int(fd), &ev)
	}); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// stop ends run and closes the epoll instance. A closed socket leaves the set
// by itself, so stop has nothing to remove.
func (p *poller) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	var one = [8]byte{1}
	_, _ = unix.Write(p.wakefd, one[:]) // little-endian 1 on the machines Go runs on; any non-zero count wakes
	p.mu.Unlock()
	<-p.done
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
}
