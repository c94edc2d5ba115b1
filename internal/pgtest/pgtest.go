// Package pgtest runs a real, throwaway PostgreSQL server for tests: a
// cluster made by initdb in a temporary directory, listening on a random
// loopback port, stopped and removed when the test that started it ends.
//
// Start costs an initdb and a server start (a second or two), so a test
// starts one server and gives each of its cases a database of its own
// (NewDB), which costs a CREATE DATABASE.
//
// Without PostgreSQL installed the tests that need it skip with a loud
// message; with the CI variable set (as .ci/run does) they fail instead,
// as the browser tests do. PARLEY_PG_BIN names the directory of initdb and
// pg_ctl if they are in neither PATH nor /usr/lib/postgresql/*/bin.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startLimit bounds initdb, the server's start and its stop: generous, for
// a loaded 2-core machine.
const startLimit = 60 * time.Second

// Server is one running throwaway PostgreSQL server.
type Server struct {
	dir  string // the temporary directory: data/, the socket and the log
	port int
	dbs  atomic.Int64 // databases made by NewDB, for their names
}

// binDir finds the directory of initdb and pg_ctl, or "".
func binDir() string {
	if d := os.Getenv("PARLEY_PG_BIN"); d != "" {
		return d
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// The newest major version: the glob sorts "15" after "9" wrongly, so
	// sort by the number.
	slices.SortFunc(dirs, func(a, b string) int {
		na, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		nb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return na - nb
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// Start starts a server for t, or skips t (fails it under CI) when
// PostgreSQL is not installed. The server is stopped and its directory
// removed at t's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := binDir()
	if bin == "" {
		msg := "PostgreSQL is not installed (no initdb in PATH, PARLEY_PG_BIN or /usr/lib/postgresql/*/bin): " +
			"SKIPPING the PostgreSQL tests; install Debian's postgresql package to run them"
		if os.Getenv("CI") != "" {
			t.Fatal(msg + " (required under CI)")
		}
		t.Skip("!!! " + msg)
	}
	dir, err := os.MkdirTemp("", "parley-pgtest-")
	if err != nil {
		t.Fatalf("pgtest: temp dir: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	// initdb refuses to run as root: as root, run the server as the
	// postgres system user, in a directory it owns.
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root and no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("pgtest: chown %s: %v", dir, err)
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	s := &Server{dir: dir}
	ctx, cancel := context.WithTimeout(context.Background(), startLimit)
	defer cancel()
	run := func(name string, args ...string) error {
		argv := append(slices.Clone(asUser), append([]string{filepath.Join(bin, name)}, args...)...)
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	// C locale and UTF-8: ids compare as bytes whatever the locale (the
	// schema says COLLATE "C"), but the rest should not depend on the
	// machine's environment either.
	if err := run("initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// A port that was free a moment ago; another process could take it
	// before the server binds it, in which case pg_ctl fails and says so.
	s.port, err = freePort()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// fsync off: a test's database does not outlive the test, and this
	// machine's disk is shared. Crash durability is not what these tests test.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", s.port, dir)
	if err := run("pg_ctl", "start", "-w", "-t", strconv.Itoa(int(startLimit/time.Second)), "-D", data, "-l", filepath.Join(dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pgtest: %v\nserver log:\n%s", err, log)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startLimit)
		defer cancel()
		argv := append(slices.Clone(asUser), filepath.Join(bin, "pg_ctl"), "stop", "-w", "-m", "immediate", "-D", data)
		if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Errorf("pgtest: stop the server: %v\n%s", err, out)
		}
	})
	return s
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// DSN is the address of database db on s.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// NewDB creates an empty database on s and returns its DSN. It is dropped
// at t's cleanup (forcing out connections left open: a failed test's).
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), startLimit)
	defer cancel()
	if err := s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startLimit)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s.DSN(name)
}

// exec runs one statement on the postgres database.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect to %s: %w", s.DSN("postgres"), err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}
