package abuse

import (
	"os"
	"testing"

	"parley/internal/server"
	"parley/internal/testkit"
)

// full reports whether the suite runs in its full form (make abuse).
func full() bool { return os.Getenv("PARLEY_ABUSE") == "full" }

// scale is short in make test's form, long in make abuse's.
func scale(short, long int) int {
	if full() {
		return long
	}
	return short
}

// fullOnly skips a test, or the part of one, that asserts a timing: those
// run only in the full form, where the machine is expected to be quiet.
func fullOnly(t *testing.T, what string) {
	t.Helper()
	if !full() {
		t.Skipf("%s: a timing, asserted only by make abuse (PARLEY_ABUSE=full)", what)
	}
}

// start runs a real server on 127.0.0.1 with cfg (a SQLite file in
// t.TempDir()), stopped when the test ends, and returns it with its
// host:port.
func start(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	s := testkit.NewServer(t, cfg)
	return s, testkit.Listen(t, s)
}
