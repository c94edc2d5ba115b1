package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/testkit"
	"parley/persistence"
)

// These tests run the real binary: they build it once, start it on a random
// loopback port with a database in t.TempDir, and talk to it over WebSocket.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-main-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "parley")
	build := exec.Command("go", "build", "-race", "-tags", "sqlite_fts5", "-o", binary, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build parley:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const waitLimit = testkit.WaitLimit

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startBinary starts parley and waits until it logs that it listens. Its
// log goes to t.Logf through exec's own copying goroutine, which Wait (at
// the latest in the cleanup) waits for, so nothing logs after the test.
func startBinary(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	return startBinaryWithin(t, waitLimit, args...)
}

// startBinaryWithin is startBinary, waiting up to limit for it to listen.
func startBinaryWithin(t *testing.T, limit time.Duration, args ...string) (*exec.Cmd, string) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary, append([]string{"-addr", addr, "-admin-addr", ""}, args...)...)
	logw := &logWriter{t: t, ready: make(chan struct{})}
	cmd.Stderr = logw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case <-logw.ready:
	case <-time.After(limit):
		t.Fatal("parley did not start listening")
	}
	return cmd, "ws://" + addr + "/"
}

// envCount is the integer in the environment variable name, def if it is
// unset; one below least fails the test.
func envCount(t *testing.T, name string, def, least int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < least {
		t.Fatalf("%s=%q: want an integer >= %d", name, v, least)
	}
	return n
}

// terminate sends SIGTERM to cmd and returns how it exited, failing the
// test if it has not within waitLimit.
func terminate(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // returns when the process exits
	select {
	case err := <-exited:
		return err
	case <-time.After(waitLimit):
		t.Fatal("parley did not exit on SIGTERM")
		return nil
	}
}

// logWriter forwards the server's log lines to t.Logf and closes ready at
// the line that says the server listens.
type logWriter struct {
	t       *testing.T
	mu      sync.Mutex
	partial []byte
	ready   chan struct{}
	once    sync.Once
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		w.t.Logf("parley: %s", line)
		if strings.Contains(line, "parley listening") {
			w.once.Do(func() { close(w.ready) })
		}
	}
}

func TestBadDatabasePathFailsClearly(t *testing.T) {
	for name, path := range map[string]string{
		"missing directory": filepath.Join(t.TempDir(), "no", "such", "dir", "chat.db"),
		"a directory":       t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(binary, "-addr", "127.0.0.1:0", "-admin-addr", "", "-db", path).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: got %v, want status 1", err)
			}
			if !strings.Contains(string(out), "parley: open database") || !strings.Contains(string(out), path) {
				t.Fatalf("output: got %q, want an error naming the database path", out)
			}
		})
	}
}

// TestUserCommand runs `parley user ...` through main's own function, on
// the database PARLEY_DB names, and then the server on it: the account
// added on the command line signs in.
func TestUserCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	t.Setenv("PARLEY_DB", db)
	var out, errOut bytes.Buffer
	if err := runUser([]string{"add", "boss", "--admin"}, strings.NewReader("correct horse\n"), &out, &errOut); err != nil {
		t.Fatalf("user add: %v (%s)", err, errOut.String())
	}
	out.Reset()
	if err := runUser([]string{"list"}, strings.NewReader(""), &out, &errOut); err != nil || !strings.Contains(out.String(), "boss") || !strings.Contains(out.String(), "admin") {
		t.Fatalf("user list: got %q, %v, want boss admin", out.String(), err)
	}
	_, url := startBinary(t, "-db", db)
	httpURL := "http" + strings.TrimPrefix(strings.TrimSuffix(url, "/"), "ws")
	resp, err := http.Post(httpURL+"/api/login", "application/json", strings.NewReader(`{"username":"boss","password":"correct horse"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"username":"boss"`) {
		t.Errorf("login as the account added on the command line: got %d %s, want 200", resp.StatusCode, body)
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	out, err := exec.Command(binary, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("-h: %v", err)
	}
	for _, flag := range []string{"-addr", "-db", "-log-level", "-log-format", "-admin-addr", "-allowed-origins",
		"-rate", "-burst", "-max-frame", "-message-timeout", "-max-message", "-max-username", "-max-conns", "-max-conns-per-ip",
		"-guests", "-secure-cookies", "-session-ttl", "-hash-concurrency", "-hash-queue",
		"-login-failures-per-account", "-login-failures-per-ip", "-registrations-per-ip",
		"-allowed-hosts", "-trusted-proxies", "-max-pending-per-ip",
		"-uploads", "-upload-max", "-upload-guests", "-upload-bytes-per-day", "-upload-per-hour", "-upload-max-pixels", "-upload-min-free"} {
		if !strings.Contains(string(out), flag+" ") && !strings.Contains(string(out), flag+"\n") { // a bool flag ends its line
			t.Errorf("-h output lacks %s", flag)
		}
	}
}

// TestSigtermDrains sends messages from several clients, stops the server
// with SIGTERM while they are still sending, and checks that it exits 0
// within 5 s, that every client saw close 1001, and that every acknowledged
// message is in the database.
func TestSigtermDrains(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	cmd, url := startBinary(t, "-db", db, "-rate", "10000", "-burst", "10000")

	const clients = 4
	type result struct {
		acked []string
		code  websocket.StatusCode
		err   error
	}
	results := make(chan result, clients)
	joined := make(chan struct{}, clients)
	for i := range clients {
		go func() { // exits when its connection closes
			r := result{code: -1}
			defer func() { results <- r }()
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, nil)
			if err != nil {
				r.err = err
				joined <- struct{}{}
				return
			}
			defer c.CloseNow()
			send := func(v map[string]any) error {
				b, _ := json.Marshal(v)
				return c.Write(ctx, websocket.MessageText, b)
			}
			if r.err = send(map[string]any{"type": "JoinRoom", "room": "general"}); r.err != nil {
				joined <- struct{}{}
				return
			}
			joined <- struct{}{}
			go func() { // the sender; stops at the first failed write
				for j := 0; ; j++ {
					if send(map[string]any{"type": "SendMessage", "content": fmt.Sprintf("c%d-%d", i, j), "ref": fmt.Sprint(j)}) != nil {
						return
					}
					time.Sleep(time.Millisecond)
				}
			}()
			for {
				_, b, err := c.Read(ctx)
				if err != nil {
					r.code = websocket.CloseStatus(err)
					return
				}
				var m map[string]any
				if json.Unmarshal(b, &m) == nil && m["type"] == "Ack" && m["id"] != nil {
					r.acked = append(r.acked, m["id"].(string))
				}
			}
		}()
	}
	for range clients {
		<-joined
	}
	time.Sleep(300 * time.Millisecond) // let traffic flow: this is load, not synchronisation
	start := time.Now()
	if err := terminate(t, cmd); err != nil {
		t.Fatalf("exit: got %v, want status 0", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %v, want at most 5s", d)
	}
	var acked []string
	for range clients {
		r := <-results
		if r.err != nil {
			t.Fatalf("client: %v", r.err)
		}
		if r.code != websocket.StatusGoingAway {
			t.Errorf("close code: got %d, want 1001", r.code)
		}
		acked = append(acked, r.acked...)
	}
	if len(acked) == 0 {
		t.Fatal("no message was acknowledged before the shutdown")
	}
	store, err := persistence.Open(context.Background(), db, persistence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stored, _, err := store.History(context.Background(), actors.HistoryQuery{Room: "general", Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, m := range stored {
		have[m.ID] = true
	}
	lost := 0
	for _, id := range acked {
		if !have[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("acknowledged %d, lost %d after SIGTERM", len(acked), lost)
	}
	t.Logf("acknowledged %d messages, all stored (%d stored in all)", len(acked), len(stored))
}
