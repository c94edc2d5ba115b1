package main

// The processes of the cluster scenario besides parley's: NATS with
// JetStream, run by this very program started again as a child (so that
// its CPU time is its own, and it is pinned with the servers), and a
// throwaway PostgreSQL. Everything started is stopped and its directory
// removed by the stop functions, which atExit also runs on Ctrl-C.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"parley/internal/natsrun"
)

// natsChildEnv makes the bench (or its test binary) run as the NATS child:
// its value is "SERVERS DIR".
const natsChildEnv = "PARLEY_BENCH_NATS_CHILD"

// natsChild runs the NATS servers if this process is the NATS child, and
// then reports true: it prints their client URLs on one line, serves until
// its standard input closes (the parent stopped it, or died) or SIGTERM,
// and shuts them down.
func natsChild() bool {
	v := os.Getenv(natsChildEnv)
	if v == "" {
		return false
	}
	ns, dir, _ := strings.Cut(v, " ")
	n, err := strconv.Atoi(ns)
	if err != nil || dir == "" {
		fmt.Fprintf(os.Stderr, "bench NATS child: %s=%q: want \"SERVERS DIR\"\n", natsChildEnv, v)
		os.Exit(2)
	}
	c, err := natsrun.Start(n, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench NATS child:", err)
		os.Exit(1)
	}
	fmt.Println(c.URLs())
	done := make(chan struct{})
	go func() { // ends when stdin does
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case <-done:
	case <-sig:
	}
	c.Shutdown()
	return true
}

// natsProc is the NATS child as the parent sees it.
type natsProc struct {
	cmd     *exec.Cmd
	dir     string
	stdin   io.WriteCloser
	urls    string
	exited  chan struct{}
	waitErr error
	once    sync.Once
	stopErr error
}

// startNATS starts n NATS servers in a child process pinned to cpus and
// waits for their URLs.
func startNATS(cpus string, n int) (*natsProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("NATS child: %w", err)
	}
	dir, err := os.MkdirTemp("", "parley-bench-nats-")
	if err != nil {
		return nil, err
	}
	p := &natsProc{dir: dir, exited: make(chan struct{})}
	argv := []string{exe}
	if cpus != "" {
		if ts, err := exec.LookPath("taskset"); err == nil {
			argv = []string{ts, "-c", cpus, exe}
		}
	}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s", natsChildEnv, n, filepath.Join(dir, "store")))
	logf, err := os.Create(filepath.Join(dir, "nats.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	p.cmd.Stderr = logf
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start the NATS child: %w", err)
	}
	lines := make(chan string, 1)
	go func() { // ends when the child's stdout does
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { // ends when the child exits
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case l, ok := <-lines:
		if ok && strings.HasPrefix(l, "nats://") {
			p.urls = l
			return p, nil
		}
	case <-time.After(natsrun.ReadyLimit + 10*time.Second):
	}
	log, _ := os.ReadFile(filepath.Join(dir, "nats.log"))
	_ = p.stop()
	return nil, fmt.Errorf("the NATS child did not start:\n%s", log)
}

func (p *natsProc) pid() int { return p.cmd.Process.Pid }

// stop closes the child's stdin (it shuts its servers down), kills it if
// it has not exited within 20 s, and removes its directory.
func (p *natsProc) stop() error {
	p.once.Do(func() {
		_ = p.stdin.Close()
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			p.stopErr = errors.New("the NATS child did not stop within 20 s: killed")
		}
		if err := os.RemoveAll(p.dir); err != nil && p.stopErr == nil {
			p.stopErr = err
		}
	})
	return p.stopErr
}

// exitList is what to stop when the bench is interrupted.
type exitList struct {
	mu  sync.Mutex
	fns map[int]func()
	n   int
}

var atExit exitList

// add registers f and returns what removes it (once f has run normally).
func (e *exitList) add(f func()) (remove func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fns == nil {
		e.fns = map[int]func(){}
	}
	e.n++
	id := e.n
	e.fns[id] = f
	return func() {
		e.mu.Lock()
		delete(e.fns, id)
		e.mu.Unlock()
	}
}

// run runs every registered function (newest first is not needed: each
// stops its own process).
func (e *exitList) run() {
	e.mu.Lock()
	fns := e.fns
	e.fns = nil
	e.mu.Unlock()
	for _, f := range fns {
		f()
	}
}
