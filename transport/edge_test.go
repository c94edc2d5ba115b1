package transport

import (
	"bytes"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
)

// TestDescriptorBudget: the default -max-conns comes from the descriptor
// limit, leaving a reserve and room for handshakes, and New says so.
func TestDescriptorBudget(t *testing.T) {
	b := descriptorBudget()
	if runtime.GOOS == "linux" && !b.known {
		t.Fatalf("descriptor limit: not read on Linux")
	}
	if b.known {
		if b.reserve < minReserve || b.reserve > maxReserve {
			t.Errorf("reserve: got %d, want %d to %d", b.reserve, minReserve, maxReserve)
		}
		if b.maxOpen+b.reserve != int64(min(b.limit, 1<<30)) {
			t.Errorf("connections held %d + reserve %d: got %d, want the limit %d", b.maxOpen, b.reserve, b.maxOpen+b.reserve, b.limit)
		}
	}
	if int64(b.maxConns) >= b.maxOpen || b.maxConns > defaultMaxConnsCeiling || b.maxConns < 1 {
		t.Errorf("default max-conns: got %d, want below the %d held and at most %d", b.maxConns, b.maxOpen, defaultMaxConnsCeiling)
	}
	for _, c := range []struct {
		limit         uint64
		reserve, open int64
		conns         int
	}{
		{1024, 64, 960, 930},
		{20000, 312, 19688, 19000},
		{1 << 20, 1024, 1<<20 - 1024, 19000},
	} {
		n := int64(c.limit)
		got := budget{reserve: min(max(n/64, minReserve), maxReserve)}.withMaxOpen(n - min(max(n/64, minReserve), maxReserve))
		if got.reserve != c.reserve || got.maxOpen != c.open || got.maxConns != c.conns {
			t.Errorf("limit %d: got reserve %d, held %d, max-conns %d; want %d, %d, %d", c.limit, got.reserve, got.maxOpen, got.maxConns, c.reserve, c.open, c.conns)
		}
	}

	var buf bytes.Buffer
	s := New(Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	if b.known && s.opts.MaxConns != b.maxConns {
		t.Errorf("New without MaxConns: got %d, want %d (from the limit)", s.opts.MaxConns, b.maxConns)
	}
	if b.known && (!strings.Contains(buf.String(), "msg=descriptors") || !strings.Contains(buf.String(), "max_conns_from=\"the descriptor limit\"")) {
		t.Errorf("New's log: got\n%s\nwant a line saying the limit, the reserve and max-conns", buf.String())
	}
}

// fakeAddrListener is a real listener that says it is bound elsewhere.
type fakeAddrListener struct {
	net.Listener
	addr net.Addr
}

func (l fakeAddrListener) Addr() net.Addr { return l.addr }

// TestListenerSaysWhatHostsItAnswers: a web listener not on loopback and
// not told its names warns that it answers any Host; on loopback it lists
// the names.
func TestListenerSaysWhatHostsItAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range []struct {
		bound   string
		allowed []string
		want    string
	}{
		{"0.0.0.0:9001", nil, "level=WARN msg=\"hosts: the web listener is not on a loopback address and answers any Host"},
		{"0.0.0.0:9001", []string{"chat.example.com"}, "allowed=\"localhost, 127.0.0.1, ::1, chat.example.com, and the address a client connects to\""},
		{"127.0.0.1:9001", nil, "allowed=\"localhost, 127.0.0.1, ::1, and the address a client connects to\""},
	} {
		var buf bytes.Buffer
		s := New(Options{Logger: slog.New(slog.NewTextHandler(&buf, nil)), AllowedHosts: c.allowed})
		s.Listener(fakeAddrListener{ln, tcpAddr(c.bound)})
		if !strings.Contains(buf.String(), c.want) {
			t.Errorf("listener on %s, allowed %q: got log\n%s\nwant it to contain %s", c.bound, c.allowed, buf.String(), c.want)
		}
	}
}
