//go:build !unix

package transport

import "errors"

// readFD is never called here: without a poller (poller_other.go) reads
// always wait, through the net.Conn.
func readFD(uintptr, []byte) (int, error) {
	return 0, errors.New("no non-blocking reads on this system")
}
