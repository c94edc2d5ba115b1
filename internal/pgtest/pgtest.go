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
	"sync"
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
	dir    string   // the temporary directory: data/, the socket and the log
	bin    string   // the directory of initdb and pg_ctl
	asUser []string // the command that runs the next as the postgres user, when we are root
	port   int
	dbs    atomic.Int64 // databases made by NewDB, for their names

	mu      sync.Mutex
	running bool // between a start and a stop
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
	s := &Server{dir: dir, bin: bin, asUser: asUser}
	// C locale and UTF-8: ids compare as bytes whatever the locale (the
	// schema says COLLATE "C"), but the rest should not depend on the
	// machine's environment either.
	if err := s.run("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	// A port that was free a moment ago; another process could take it
	// before the server binds it, in which case pg_ctl fails and says so.
	if s.port, err = freePort(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	s.Start(t)
	return s
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs one of PostgreSQL's programs, as the postgres user if need be.
func (s *Server) run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startLimit)
	defer cancel()
	argv := append(slices.Clone(s.asUser), append([]string{filepath.Join(s.bin, name)}, args...)...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}

// Start starts the server again after Stop (Start, the function, starts
// it the first time), on the same port and data.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	// fsync off: a test's database does not outlive the test, and this
	// machine's disk is shared; the machine's crash is not what these tests
	// test. A commit still writes its WAL to the kernel before it returns
	// (synchronous_commit stays on), so what was committed survives the
	// server's own crash (Stop): tests kill it and count on that.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200", s.port, s.dir)
	if err := s.run("pg_ctl", "start", "-w", "-t", strconv.Itoa(int(startLimit/time.Second)), "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		t.Fatalf("pgtest: %v\nserver log:\n%s", err, log)
	}
	s.running = true
}

// Stop stops the server at once (pg_ctl's immediate mode: as if it
// crashed; it recovers from its WAL at the next Start). Its clients' next
// statements fail, and new connections are refused.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.stop(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	if err := s.run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", s.data()); err != nil {
		return fmt.Errorf("stop the server: %w", err)
	}
	s.running = false
	return nil
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
