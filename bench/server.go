package main

// Building, starting and stopping the parley server when no -url is given.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type serverProc struct {
	cmd     *exec.Cmd
	dir     string // temporary: binary, database, log
	logPath string
	addr    string
	pinned  string // cpus, "" if not pinned
	exited  chan struct{}
	waitErr error

	// Read from the log by stop, before the directory goes.
	finalLines int
	finalTail  string
}

// moduleRoot finds the directory of parley's go.mod: `go env GOMOD`, else by
// walking up from the working directory.
func moduleRoot() (string, error) {
	if out, err := exec.Command("go", "env", "GOMOD").Output(); err == nil {
		p := strings.TrimSpace(string(out))
		if p != "" && p != os.DevNull {
			return filepath.Dir(p), nil
		}
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory: run the bench from parley's source tree, or give -url")
		}
		dir = parent
	}
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer builds parley and starts it on a random loopback port with a
// temporary database, pinned to cpus when taskset exists, and waits until it
// accepts connections.
//
// With pprofAddr set, the binary is built with one more file, given to the
// compiler through -overlay (the source tree is not touched), that serves
// net/http/pprof on pprofAddr: a CPU profile of the server under load
// without waiting for an admin port.
func startServer(ctx context.Context, cpus string, extraArgs []string, pprofAddr string) (*serverProc, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parley-bench-")
	if err != nil {
		return nil, err
	}
	s := &serverProc{dir: dir, logPath: filepath.Join(dir, "server.log"), exited: make(chan struct{})}
	fail := func(err error) (*serverProc, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	bin := filepath.Join(dir, "parley")
	buildArgs := []string{"build", "-tags", "sqlite_fts5", "-o", bin} // search needs FTS5 (see the Makefile)
	if pprofAddr != "" {
		src := filepath.Join(dir, "bench_pprof.go")
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
			return fail(err)
		}
		overlay := filepath.Join(dir, "overlay.json")
		j := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(root, "zz_bench_pprof.go"), src)
		if err := os.WriteFile(overlay, []byte(j), 0o644); err != nil {
			return fail(err)
		}
		buildArgs = append(buildArgs, "-overlay", overlay)
	}
	build := exec.CommandContext(ctx, "go", append(buildArgs, ".")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("build the server in %s: %w\n%s", root, err, out))
	}
	port, err := freeLoopbackPort()
	if err != nil {
		return fail(err)
	}
	s.addr = fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{
		"-addr", s.addr,
		"-db", filepath.Join(dir, "chat.db"),
		"-rate", "1000000", "-burst", "1000000",
		"-rooms-per-minute", "1000000", "-client-rooms-per-minute", "1000000",
		"-client-rate", "1000000000", "-client-burst", "1000000000",
		"-max-conns", "19500", "-max-conns-per-ip", "20000",
		"-max-pending-per-ip", "20000", // every client is on 127.0.0.1, 256 setting up at once
		"-log-level", "warn",
		"-admin-addr", "", // no fixed admin port: runs side by side must not collide
	}
	args = append(args, extraArgs...)
	name := bin
	if cpus != "" {
		if ts, err := exec.LookPath("taskset"); err == nil {
			args = append([]string{"-c", cpus, bin}, args...)
			name = ts
			s.pinned = cpus
		} else {
			fmt.Fprintln(os.Stderr, "bench: taskset not found: the server runs unpinned")
		}
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	s.cmd = exec.Command(name, args...)
	s.cmd.Dir = dir
	if pprofAddr != "" {
		s.cmd.Env = append(os.Environ(), "BENCH_PPROF_ADDR="+pprofAddr)
	}
	s.cmd.Stdout = logf
	s.cmd.Stderr = logf
	if err := s.cmd.Start(); err != nil {
		return fail(fmt.Errorf("start the server: %w", err))
	}
	go func() { // ends when the server exits
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case <-s.exited:
			log := s.logTail(20)
			os.RemoveAll(dir)
			return nil, fmt.Errorf("the server exited at start (%v):\n%s", s.waitErr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("the server did not accept on %s within 20 s", s.addr)
		}
	}
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

func (s *serverProc) url() string { return "ws://" + s.addr + "/ws" }

// logTail returns the last n lines of the server's log.
func (s *serverProc) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// logLines counts the lines of the server's log.
func (s *serverProc) logLines() int {
	b, err := os.ReadFile(s.logPath)
	if err != nil || len(b) == 0 {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// stop sends SIGTERM, waits up to 10 s, then kills; it removes the
// temporary directory. It returns how the server ended.
func (s *serverProc) stop() error {
	defer func() {
		s.finalLines, s.finalTail = s.logLines(), s.logTail(5)
		os.RemoveAll(s.dir)
	}()
	select {
	case <-s.exited:
		return fmt.Errorf("the server had already exited: %v", s.waitErr)
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		return s.waitErr
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("the server did not stop within 10 s of SIGTERM: killed")
	}
}

// pprofOverlay is added to package main of the server by -overlay when the
// bench is asked for a server profile.
const pprofOverlay = `package main

import (
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("BENCH_PPROF_ADDR")
	if addr == "" {
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return
	}
	go http.Serve(ln, nil)
}
`

// fetchProfile saves a CPU profile of the given length from a pprof
// endpoint (http://host:port/debug/pprof).
func fetchProfile(base string, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	cl := &http.Client{Timeout: d + 30*time.Second}
	resp, err := cl.Get(fmt.Sprintf("%s/profile?seconds=%d", strings.TrimRight(base, "/"), secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: HTTP %d %s", base, resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
