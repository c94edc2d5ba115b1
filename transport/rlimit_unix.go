//go:build unix

package transport

import "syscall"

// fileLimit is the process's limit on open descriptors, after raising its
// soft limit to the hard one if it was lower (Go's runtime already does so
// at start on most systems; this says so in the log if it did not). from
// is the soft limit found, ok false if it could not be read.
func fileLimit() (limit, from uint64, ok bool) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, false
	}
	from = rl.Cur
	if rl.Cur < rl.Max {
		up := rl
		up.Cur = rl.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			rl = up
		}
	}
	return rl.Cur, from, true
}
