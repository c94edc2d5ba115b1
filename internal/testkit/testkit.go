// Package testkit is what parley's tests share: a logger that writes to the
// test's log, the wait limit, a real server on a loopback port with a
// SQLite file of its own, and a check that no goroutine outlives the test.
// Raw WebSocket frames are internal/wsframe's.
package testkit

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"parley/internal/server"
)

// WaitLimit bounds every wait for something a server does (a reply, a
// close, a shutdown), so that a broken build fails instead of hanging. It
// is generous on purpose: a loaded machine must be slow, never failing;
// reaching it means a bug.
const WaitLimit = 10 * time.Second

// Logger returns a logger whose records at level and above go to t.Logf,
// one line each, prefixed "server: ".
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: level}))
}

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("server: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

// NewServer builds a server (server.New) that listens nowhere yet, and
// shuts it down in t.Cleanup (Stop). Its database is a new file in
// t.TempDir() unless cfg.DB names one (a restart reuses the last one's);
// its logger, unless cfg.Logger is set, is Logger at warning level. Serve
// it with Listen, or drive its Hub directly.
func NewServer(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	if cfg.DB == "" {
		cfg.DB = filepath.Join(t.TempDir(), "chat.db")
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger(t, slog.LevelWarn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), WaitLimit)
	defer cancel()
	s, err := server.New(ctx, cfg)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	t.Cleanup(func() { Stop(t, s) })
	return s
}

// Listen serves s on 127.0.0.1 with a free port and returns its host:port.
func Listen(t testing.TB, s *server.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if err := s.Serve(ln); err != nil {
		t.Fatalf("serve: %v", err)
	}
	return ln.Addr().String()
}

// StartServer is NewServer, then Listen: a real server on 127.0.0.1,
// serving until the test ends or Stop.
func StartServer(t testing.TB, cfg server.Config) *server.Server {
	t.Helper()
	s := NewServer(t, cfg)
	Listen(t, s)
	return s
}

// Stop shuts s down within WaitLimit and fails the test if a step fails.
// Stopping a stopped server does nothing more.
func Stop(t testing.TB, s *server.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitLimit)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// CheckGoroutines fails the test if, once every cleanup registered after
// it has run (a server's shutdown among them), more than slack goroutines
// remain above the count at the time of the call. Call it before starting
// what must not leak.
func CheckGoroutines(t testing.TB, slack int) {
	t.Helper()
	baseline := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(WaitLimit)
		for runtime.NumGoroutine() > baseline+slack {
			if time.Now().After(deadline) {
				t.Errorf("goroutines: got %d after shutdown, want at most %d", runtime.NumGoroutine(), baseline+slack)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
