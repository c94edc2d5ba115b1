// Package pgrun runs a real, throwaway PostgreSQL server: a cluster made by
// initdb in a temporary directory, listening on a random loopback port,
// stopped and removed by Close.
//
// It is the core that internal/pgtest (for tests) and the bench's cluster
// scenario share: it reports errors instead of failing a test, so that a
// program that does not import testing can use it.
//
// PARLEY_PG_BIN names the directory of initdb and pg_ctl if they are in
// neither PATH nor /usr/lib/postgresql/*/bin.
package pgrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// StartLimit bounds initdb, the server's start and its stop: generous, for
// a loaded 2-core machine.
const StartLimit = 60 * time.Second

// ErrNotInstalled is Start's error when no initdb is found.
var ErrNotInstalled = errors.New("PostgreSQL is not installed (no initdb in PATH, PARLEY_PG_BIN or /usr/lib/postgresql/*/bin); install Debian's postgresql package")

// Options tune the server Start makes.
type Options struct {
	// CPUs, when set, pins the server and every process it forks to these
	// cpus (a taskset list), through taskset.
	CPUs string
	// Durable keeps PostgreSQL's fsync and full-page writes on, as a real
	// deployment has them (the bench measures with it); tests turn them
	// off (see Start).
	Durable bool
}

// Server is one running throwaway PostgreSQL server.
type Server struct {
	dir    string   // the temporary directory: data/, the socket and the log
	bin    string   // the directory of initdb and pg_ctl
	asUser []string // the command that runs the next as the postgres user, when we are root
	pin    []string // taskset -c CPUS, or nothing
	sync   bool     // Options.Durable
	port   int
	dbs    atomic.Int64 // databases made by NewDB, for their names

	mu      sync.Mutex
	running bool // between a start and a stop
}

// BinDir finds the directory of initdb and pg_ctl, or "".
func BinDir() string {
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

// Start makes and starts a server, or returns ErrNotInstalled. Close stops
// it and removes its directory.
func Start(o Options) (*Server, error) {
	bin := BinDir()
	if bin == "" {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "parley-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgrun: temp dir: %w", err)
	}
	fail := func(err error) (*Server, error) {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgrun: %w", err)
	}
	// initdb refuses to run as root: as root, run the server as the
	// postgres system user, in a directory it owns.
	var asUser []string
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fail(fmt.Errorf("running as root and no postgres user to run PostgreSQL as: %w", err))
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			return fail(fmt.Errorf("chown %s: %w", dir, err))
		}
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	s := &Server{dir: dir, bin: bin, asUser: asUser, sync: o.Durable}
	if o.CPUs != "" {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return fail(fmt.Errorf("pin to cpus %s: %w", o.CPUs, err))
		}
		s.pin = []string{ts, "-c", o.CPUs}
	}
	// C locale and UTF-8: ids compare as bytes whatever the locale (the
	// schema says COLLATE "C"), but the rest should not depend on the
	// machine's environment either.
	if err := s.run("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return fail(err)
	}
	// A port that was free a moment ago; another process could take it
	// before the server binds it, in which case pg_ctl fails and says so.
	if s.port, err = freePort(); err != nil {
		return fail(err)
	}
	if err := s.Start(); err != nil {
		return fail(err)
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs one of PostgreSQL's programs, as the postgres user if need be.
func (s *Server) run(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), StartLimit)
	defer cancel()
	argv := slices.Concat(s.pin, s.asUser, []string{filepath.Join(s.bin, name)}, args)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return nil
}

// Start starts the server again after Stop (the function Start starts it
// the first time), on the same port and data.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	// fsync off: a throwaway database does not outlive its test or bench,
	// and this machine's disk is shared; the machine's crash is not what
	// is tested. A commit still writes its WAL to the kernel before it
	// returns (synchronous_commit stays on), so what was committed
	// survives the server's own crash (Stop): tests kill it and count on
	// that. A durable server (the bench's) keeps the defaults.
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200", s.port, s.dir)
	if !s.sync {
		opts += " -c fsync=off -c full_page_writes=off"
	}
	if err := s.run("pg_ctl", "start", "-w", "-t", strconv.Itoa(int(StartLimit/time.Second)), "-D", s.data(), "-l", filepath.Join(s.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("%w\nserver log:\n%s", err, log)
	}
	s.running = true
	return nil
}

// Stop stops the server at once (pg_ctl's immediate mode: as if it
// crashed; it recovers from its WAL at the next Start). Its clients' next
// statements fail, and new connections are refused.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil
	}
	if err := s.run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", s.data()); err != nil {
		return fmt.Errorf("pgrun: stop the server: %w", err)
	}
	s.running = false
	return nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	err := s.Stop()
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("pgrun: remove %s: %w", s.dir, rmErr)
	}
	return err
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

// CreateDB creates an empty database on s and returns its name and DSN.
func (s *Server) CreateDB(ctx context.Context) (name, dsn string, err error) {
	name = fmt.Sprintf("t%d", s.dbs.Add(1))
	if err := s.exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", "", fmt.Errorf("pgrun: %w", err)
	}
	return name, s.DSN(name), nil
}

// DropDB drops database name, forcing out the connections left open.
func (s *Server) DropDB(ctx context.Context, name string) error {
	if err := s.exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("pgrun: %w", err)
	}
	return nil
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

// PIDs are the server's processes: the postmaster (from its pid file) and
// its children (its backends and workers), for whoever wants their CPU
// time; nil when it is not running.
func (s *Server) PIDs() []int {
	b, err := os.ReadFile(filepath.Join(s.data(), "postmaster.pid"))
	if err != nil {
		return nil
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	pm, err := strconv.Atoi(strings.TrimSpace(string(first)))
	if err != nil {
		return nil
	}
	pids := []int{pm}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// After the command name in parentheses: state, then ppid.
		i := bytes.LastIndexByte(st, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pm) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Dir is the server's temporary directory (removed by Close).
func (s *Server) Dir() string { return s.dir }
