package main

// What the bench reads about processes: CPU time and RSS from /proc, CPU
// pinning, the open-file limit.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It is
// 100 on every Linux the bench targets (glibc's sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// procCPUTicks returns utime+stime of pid (0: this process) in clock ticks.
func (m *monitor) procCPUTicks(pid int) (int64, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := m.readProc(path)
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: split after
	// the last ')'. Fields from there: state(3) ... utime(14) stime(15).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	return ut + st, nil
}

// procRSS returns the VmRSS of pid (0: this process) in bytes.
func (m *monitor) procRSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := m.readProc(path)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest) // "123456 kB"
			if len(fields) >= 1 {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return kb << 10, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("%s: no VmRSS", path)
}

// monitor watches the server (when its PID is known) and the generator.
// It keeps the /proc files it reads open, so that it can still read them
// when the generator has used up its open files.
type monitor struct {
	serverPID  int    // 0: unknown
	metricsURL string // Prometheus text endpoint, for RSS when the PID is unknown
	// parts, when set (the cluster scenario), are the server's processes
	// in named groups (nodes, NATS, PostgreSQL); the server's CPU is then
	// the sum of the parts marked server.
	parts []cpuPart

	mu    sync.Mutex
	files map[string]*os.File
}

// readProc reads a /proc file through a descriptor opened on first use.
func (m *monitor) readProc(path string) ([]byte, error) {
	if m == nil {
		return os.ReadFile(path)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files[path]
	if f == nil {
		var err error
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		if m.files == nil {
			m.files = map[string]*os.File{}
		}
		m.files[path] = f
	}
	buf := make([]byte, 0, 4096)
	for off := int64(0); ; {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.ReadAt(buf[len(buf):cap(buf)], off)
		buf = buf[:len(buf)+n]
		off += int64(n)
		if err == io.EOF || (err == nil && n == 0) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// open opens the files the monitor will read, while files can be opened.
func (m *monitor) open() {
	if m.serverPID > 0 {
		_, _ = m.readProc(fmt.Sprintf("/proc/%d/stat", m.serverPID))
		_, _ = m.readProc(fmt.Sprintf("/proc/%d/status", m.serverPID))
	}
	_, _ = m.readProc("/proc/self/stat")
	_, _ = m.readProc("/proc/self/status")
}

type cpuSample struct {
	at             int64
	server, client int64   // ticks; server -1 unknown
	parts          []int64 // ticks per monitor part
}

// cpuPart is a named group of the server's processes.
type cpuPart struct {
	name   string
	server bool         // counted in the server's CPU
	pids   func() []int // read at each sample: a group's processes may come and go
}

func (m *monitor) sample() cpuSample {
	s := cpuSample{at: nowNano(), server: -1}
	if m.serverPID > 0 {
		if t, err := m.procCPUTicks(m.serverPID); err == nil {
			s.server = t
		}
	}
	if len(m.parts) > 0 {
		s.server = 0
		for _, p := range m.parts {
			var sum int64
			for _, pid := range p.pids() {
				// A process that ended between the listing and the read
				// takes its ticks with it: its group reads a little low.
				if t, err := m.procCPUTicks(pid); err == nil {
					sum += t
				}
			}
			s.parts = append(s.parts, sum)
			if p.server {
				s.server += sum
			}
		}
	}
	if t, err := m.procCPUTicks(0); err == nil {
		s.client = t
	}
	return s
}

// cpuPercent returns the CPU used between a and b as % of one core; -1
// for the server when unknown.
func cpuPercent(a, b cpuSample) (server, client float64) {
	el := float64(b.at-a.at) / 1e9
	if el <= 0 {
		return -1, -1
	}
	pct := func(t0, t1 int64) float64 { return float64(t1-t0) / clockTicks / el * 100 }
	server = -1
	if a.server >= 0 && b.server >= 0 {
		server = pct(a.server, b.server)
	}
	return server, pct(a.client, b.client)
}

// cpuParts returns the CPU of each monitor part between a and b as % of
// one core, or nil without parts.
func (m *monitor) cpuParts(a, b cpuSample) map[string]float64 {
	el := float64(b.at-a.at) / 1e9
	if len(m.parts) == 0 || el <= 0 || len(a.parts) != len(m.parts) || len(b.parts) != len(m.parts) {
		return nil
	}
	out := map[string]float64{}
	for i, p := range m.parts {
		out[p.name] = float64(b.parts[i]-a.parts[i]) / clockTicks / el * 100
	}
	return out
}

// serverRSS returns the server's resident memory in bytes, from /proc when
// its PID is known, else from the metrics endpoint.
func (m *monitor) serverRSS() (int64, string, error) {
	if m.serverPID > 0 {
		v, err := m.procRSS(m.serverPID)
		return v, fmt.Sprintf("/proc/%d/status VmRSS", m.serverPID), err
	}
	if m.metricsURL != "" {
		v, err := scrapeRSS(m.metricsURL)
		return v, m.metricsURL + " process_resident_memory_bytes", err
	}
	return 0, "", errors.New("no server PID (-server-pid) nor metrics URL (-metrics-url)")
}

func scrapeRSS(u string) (int64, error) {
	cl := &http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "process_resident_memory_bytes "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return 0, err
			}
			return int64(v), nil
		}
	}
	return 0, fmt.Errorf("%s: no process_resident_memory_bytes", u)
}

// openFiles returns how many files pid has open and its soft limit.
func openFiles(pid int) (n int, limit int64, err error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return len(ents), 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			f := strings.Fields(line[len("Max open files"):])
			if len(f) >= 1 {
				limit, _ = strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return len(ents), limit, nil
}

// raiseNoFile raises this process's soft open-file limit to the hard one and
// returns the hard limit.
func raiseNoFile() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = unix.Setrlimit(unix.RLIMIT_NOFILE, &rl)
	}
	return rl.Max
}

// parseCPUList parses a taskset-style list: "1", "0-3", "0,2-3".
func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpu list %q: bad %q", s, part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("cpu list %q: bad %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("cpu list %q is empty", s)
	}
	return cpus, nil
}

// defaultCPUs splits the CPUs this process may use in two halves: the
// server's and the generator's. On one CPU there is nothing to split.
func defaultCPUs() (server, client string) {
	var set unix.CPUSet
	var cpus []int
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		for c := range 1024 {
			if set.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
	}
	if len(cpus) == 0 {
		for c := range runtime.NumCPU() {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		return "", ""
	}
	half := len(cpus) / 2
	return joinCPUs(cpus[:half]), joinCPUs(cpus[half:])
}

func joinCPUs(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	return strings.Join(parts, ",")
}

// pinSelf restricts every thread of this process to cpus (threads created
// later inherit it) and sets GOMAXPROCS to their count.
func pinSelf(list string) error {
	cpus, err := parseCPUList(list)
	if err != nil {
		return err
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tids {
		tid, err := strconv.Atoi(filepath.Base(t.Name()))
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pin to cpus %s: %w", list, err)
		}
	}
	runtime.GOMAXPROCS(len(cpus))
	return nil
}
