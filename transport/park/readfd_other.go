//go:build !unix

package park

import "errors"

// readFD is never called here: without a Poller (poller_other.go) nothing
// parks, and reads always wait, through the net.Conn.
func readFD(uintptr, []byte) (int, error) {
	return 0, errors.New("no non-blocking reads on this system")
}
