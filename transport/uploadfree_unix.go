//go:build unix

package transport

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// freeBytes is the space left to unprivileged users on the filesystem that
// holds dir (or, before dir exists, its nearest existing parent); ok false
// if it cannot be read.
func freeBytes(dir string) (free uint64, ok bool) {
	for p := dir; ; p = filepath.Dir(p) {
		var st unix.Statfs_t
		if err := unix.Statfs(p, &st); err == nil {
			return st.Bavail * uint64(st.Bsize), true
		}
		if next := filepath.Dir(p); next == p {
			return 0, false
		}
	}
}
