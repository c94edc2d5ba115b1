package park

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// An epoll_wait that fails for good is not taken for "no events", which
// would leave every parked connection asleep: the poller stops, says so
// once, and refuses to park from then on. The fault is real: the epoll
// descriptor is replaced by a pipe's (dup2), which epoll_wait refuses with
// EINVAL, and the pipe made readable so that the poller looks.
func TestPollerFailureIsReported(t *testing.T) {
	failed := make(chan error, 2)
	p, err := NewPoller(func(uint64) {}, func(err error) { failed <- err })
	if err != nil {
		t.Fatalf("poller: %v", err)
	}
	t.Cleanup(p.Stop)
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if err := unix.Dup2(fds[0], p.epfd); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fds[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	// If the poller was already waiting, it waits on the epoll instance
	// dup2 just closed, which the runtime forgot: nothing would wake it.
	// A deadline does, and it looks again, on the pipe now in its place.
	_ = p.file.SetReadDeadline(time.Now())
	select {
	case err := <-failed:
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("failed: got %v, want epoll_wait's EINVAL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the poller did not report its failure")
	}
	if err := p.arm(nil, 1, true); !errors.Is(err, errStopped) {
		t.Errorf("arm after the failure: got %v, want errStopped", err)
	}
	select {
	case err := <-failed:
		t.Errorf("failed called twice: %v", err)
	default:
	}
}
