package park

import (
	"errors"
	"fmt"
	"net"
)

// errStopped is what arm returns once Stop ran (and, without epoll,
// always): the connection then reads with a goroutine of its own.
var errStopped = errors.New("poller stopped")

// Park hands c to the poller as id, after c's Read returned ErrWouldBlock,
// and reports whether it did: the calling reader must then exit, and the
// poller kicks id when bytes or a hang-up arrive. When it did not (the
// socket is closed, or the poller failed or was stopped), the caller keeps
// reading: a closed socket shows up as a read error, and a poller that
// cannot take c turns parking off on c for good. err says why the poller
// failed, for the caller's log; it is nil when the socket was closed or the
// poller stopped.
func (p *Poller) Park(c *Conn, id uint64) (ok bool, err error) {
	// Everything the reader writes must come before the Store: a reader
	// started by the poller may run as soon as arm is done. (On failure
	// registered no longer matters: the connection never parks again.)
	add := !c.registered
	c.registered = true
	c.state.Store(parked)
	err = p.arm(c.raw, id, add)
	if err == nil {
		return true, nil
	}
	switch {
	case errors.Is(err, net.ErrClosed):
		err = nil
	case errors.Is(err, errStopped):
		err = nil
		c.parking.Store(false)
	default:
		err = fmt.Errorf("park connection %d: %w", id, err)
		c.parking.Store(false)
	}
	// Take the read side back, unless Kick (from Close) already did and
	// started another reader.
	return !c.state.CompareAndSwap(parked, running), err
}
