package park

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Poller watches parked connections with one epoll instance, so that an idle
// connection needs no goroutine waiting in a read. Each parked socket is in
// the set with EPOLLONESHOT: the first event disarms it, the reader started
// for it owns the socket until it parks it again (arm), and level triggering
// reports at once what arrived between the reader's last read and the arm.
// Events carry the session id, not the file descriptor, which the kernel
// may hand to a new connection as soon as the old one is closed.
//
// The epoll descriptor itself is waited on through Go's own network poller
// (it is readable while events are pending), never in a blocking
// epoll_wait: a goroutine in a blocking system call keeps its P until the
// runtime's monitor takes it back, which with one P stalls every goroutine
// for up to 10 ms at each wait.
type Poller struct {
	kick   func(id uint64) // called by run for every event; must not block
	failed func(error)     // called by run, once, if epoll_wait fails for good; run has stopped

	mu      sync.RWMutex // held for reading by arm, for writing by Stop: epfd is not closed under an arm
	stopped bool
	epfd    int
	file    *os.File      // epfd, registered with Go's poller; closing it (Stop) ends run
	done    chan struct{} // closed by run when it returns; awaited by Stop
}

// NewPoller starts a poller that calls kick with the id a connection was
// parked as (Park) when bytes or a hang-up arrive on it. kick runs on the
// poller's goroutine and must not block. Stop ends it. If epoll_wait fails
// with anything but an interruption, the poller stops by itself (Park
// refuses from then on) and calls failed: its owner must then wake every
// connection it parked, whose readers read on without parking.
func NewPoller(kick func(id uint64), failed func(error)) (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with the runtime's
	// poller; a file that is not there cannot take a deadline.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll descriptor: %w", err)
	}
	file := os.NewFile(uintptr(epfd), "parley-epoll")
	rc, err := file.SyscallConn()
	if err == nil {
		err = file.SetReadDeadline(time.Time{})
	}
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("epoll descriptor not pollable by the runtime: %w", err)
	}
	p := &Poller{kick: kick, failed: failed, epfd: epfd, file: file, done: make(chan struct{})}
	go p.run(rc) // runs in its own goroutine; returns when Stop closes the file
	return p, nil
}

func setEventID(ev *unix.EpollEvent, id uint64) {
	// Fd and Pad together are epoll_data, 64 bits on every architecture.
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// run takes the pending events without waiting in the kernel, and kicks
// their connections' readers; when there are none, rc.Read parks it in Go's
// poller until the epoll descriptor is readable again.
func (p *Poller) run(rc syscall.RawConn) {
	defer close(p.done)
	events := make([]unix.EpollEvent, 256)
	for {
		var (
			n    int
			werr error
		)
		err := rc.Read(func(fd uintptr) bool {
			n, werr = unix.EpollWait(int(fd), events, 0)
			switch {
			case werr == unix.EINTR || werr == unix.EAGAIN:
				n, werr = 0, nil // look again when the descriptor is readable
				return false
			case werr != nil:
				return true // for good: not "no events", or the parked would sleep forever
			}
			return n > 0
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// A deadline only ever wakes it to look again (a test makes
			// the runtime give up a wait it cannot end otherwise).
			_ = p.file.SetReadDeadline(time.Time{})
			continue
		}
		if err != nil {
			return // Stop closed the file
		}
		if werr != nil {
			p.fail(fmt.Errorf("epoll_wait: %w", werr))
			return
		}
		for i := range events[:n] {
			p.kick(eventID(&events[i]))
		}
	}
}

// fail stops the poller after epoll_wait failed for good, and tells its
// owner. Park refuses from then on.
func (p *Poller) fail(err error) {
	p.mu.Lock()
	already := p.stopped
	p.stopped = true
	p.mu.Unlock()
	if !already {
		p.file.Close()
		p.failed(err)
	}
}

// arm puts the socket behind raw into the set for one event, as id: added
// the first time, re-armed after. It fails with net.ErrClosed (from Control)
// if the socket is closed, and with errStopped after Stop.
func (p *Poller) arm(raw syscall.RawConn, id uint64, add bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.stopped {
		return errStopped
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

// Stop ends run and closes the epoll instance. A closed socket leaves the set
// by itself, so Stop has nothing to remove. Connections still parked then
// are only woken by their sockets closing.
func (p *Poller) Stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.file.Close() // wakes run's Read with an error; the descriptor closes once it has returned
	p.mu.Unlock()
	<-p.done
}
