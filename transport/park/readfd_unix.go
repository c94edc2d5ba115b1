//go:build unix

package park

import "syscall"

// readFD is one read system call on a socket's descriptor (non-blocking: Go
// opens sockets that way), for Conn.readAhead.
func readFD(fd uintptr, p []byte) (int, error) {
	return syscall.Read(int(fd), p)
}
