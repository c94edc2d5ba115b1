package transport

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func tcpAddr(s string) net.Addr {
	a, err := net.ResolveTCPAddr("tcp", s)
	if err != nil {
		panic(err)
	}
	return a
}

// TestHostPolicy: which Host headers each kind of listener answers.
func TestHostPolicy(t *testing.T) {
	req := func(host, local string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		if local != "" {
			r = r.WithContext(context.WithValue(r.Context(), http.LocalAddrContextKey, tcpAddr(local)))
		}
		return r
	}
	loop := tcpAddr("127.0.0.1:9001")
	public := tcpAddr("0.0.0.0:9001")
	cases := []struct {
		name     string
		listener string
		bound    net.Addr
		allowed  []string
		host     string
		local    string // the address the client connected to; "" none known
		want     bool
	}{
		{"loopback: localhost", "web", loop, nil, "localhost:9001", "", true},
		{"loopback: LOCALHOST. with port", "web", loop, nil, "LOCALHOST.:9001", "", true},
		{"loopback: 127.0.0.1", "web", loop, nil, "127.0.0.1:9001", "", true},
		{"loopback: [::1]", "web", loop, nil, "[::1]:9001", "", true},
		{"loopback: [0::1] is ::1", "web", loop, nil, "[0::1]:9001", "", true},
		{"loopback: rebinding name refused", "web", loop, nil, "evil.example:9001", "", false},
		{"loopback: rebinding name without port refused", "web", loop, nil, "evil.example", "", false},
		{"loopback: another loopback address bound", "web", tcpAddr("127.0.0.2:9001"), nil, "127.0.0.2:9001", "", true},
		{"loopback: 127.0.0.3 not bound", "web", loop, nil, "127.0.0.3:9001", "", false},
		{"loopback: no Host (HTTP/1.0)", "web", loop, nil, "", "", true},
		{"loopback: allowed name", "web", loop, []string{"chat.example.com"}, "Chat.Example.com:443", "", true},
		{"loopback: allowed pattern", "web", loop, []string{"*.example.com"}, "a.b.example.com", "", true},
		{"loopback: pattern is not the apex", "web", loop, []string{"*.example.com"}, "example.com", "", false},
		{"loopback: pattern is not a suffix of a word", "web", loop, []string{"*.example.com"}, "evilexample.com", "", false},
		{"loopback: allowed with a port, port ignored", "web", loop, []string{"chat.example.com:8443"}, "chat.example.com", "", true},
		{"loopback: star", "web", loop, []string{"*"}, "anything.example", "", true},

		{"public, no flag: any Host", "web", public, nil, "evil.example:9001", "", true},
		{"public, flag: only those", "web", public, []string{"chat.example.com"}, "evil.example", "", false},
		{"public, flag: the name", "web", public, []string{"chat.example.com"}, "chat.example.com", "", true},
		{"public, flag: loopback names still", "web", public, []string{"chat.example.com"}, "localhost", "", true},
		{"public, flag: the address connected to", "web", public, []string{"chat.example.com"}, "192.0.2.10:9001", "192.0.2.10:9001", true},
		{"public, flag: another address", "web", public, []string{"chat.example.com"}, "192.0.2.11:9001", "192.0.2.10:9001", false},
		{"bound to a public address, no flag: any", "web", tcpAddr("192.0.2.10:9001"), nil, "whatever", "", true},

		{"admin: localhost", "admin", tcpAddr("127.0.0.1:9002"), nil, "localhost:9002", "", true},
		{"admin: rebinding refused", "admin", tcpAddr("127.0.0.1:9002"), nil, "evil.example:9002", "", false},
		{"admin on 0.0.0.0, no flag: still checked", "admin", tcpAddr("0.0.0.0:9002"), nil, "evil.example:9002", "", false},
		{"admin on 0.0.0.0: the address connected to", "admin", tcpAddr("0.0.0.0:9002"), nil, "192.0.2.10:9002", "192.0.2.10:9002", true},
		{"admin: allowed host", "admin", tcpAddr("0.0.0.0:9002"), []string{"metrics.internal"}, "metrics.internal:9002", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newHostPolicy(c.listener, c.bound, c.allowed)
			if got := p.allows(req(c.host, c.local)); got != c.want {
				t.Errorf("%s listener on %v, allowed %q, Host %q: got %v, want %v", c.listener, c.bound, c.allowed, c.host, got, c.want)
			}
		})
	}
}

// TestRateLog: one line per interval per reason, the rest counted and
// reported with the next line; reasons apart; the map bounded.
func TestRateLog(t *testing.T) {
	var buf bytes.Buffer
	r := newRateLog(slog.New(slog.NewTextHandler(&buf, nil)), time.Second)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	logged := 0
	for i := range 100 { // 100 in 990 ms: one line
		now = time.Unix(1000, 0).Add(time.Duration(i) * 10 * time.Millisecond)
		if r.Log(slog.LevelWarn, "accept emfile", "accept failed") {
			logged++
		}
	}
	if logged != 1 {
		t.Errorf("100 in under a second: got %d lines, want 1", logged)
	}
	if !r.Log(slog.LevelWarn, "other reason", "something else") {
		t.Errorf("another reason in the same second: got suppressed, want logged")
	}
	now = now.Add(time.Second)
	if !r.Log(slog.LevelWarn, "accept emfile", "accept failed") {
		t.Errorf("a second later: got suppressed, want logged")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[2], "suppressed=99") {
		t.Errorf("got\n%s\nwant WARN lines, the third saying suppressed=99", buf.String())
	}
	for i := range 2 * maxReasons {
		r.Log(slog.LevelWarn, strings.Repeat("x", i+1), "m")
	}
	if len(r.reasons) > maxReasons+1 {
		t.Errorf("reasons kept: got %d, want at most %d", len(r.reasons), maxReasons+1)
	}
}

// TestHTTPErrorLog: net/http's lines become one reason per kind, WARN, a
// panic ERROR; its accept-error lines are the listener's to log.
func TestHTTPErrorLog(t *testing.T) {
	var buf bytes.Buffer
	l := httpErrorLog(newRateLog(slog.New(slog.NewTextHandler(&buf, nil)), time.Hour))
	l.Printf("http: TLS handshake error from 192.0.2.1:5555: EOF")
	l.Printf("http: TLS handshake error from 192.0.2.2:6666: EOF") // same kind: suppressed
	l.Printf("http: Accept error: accept tcp: too many open files; retrying in 5ms")
	l.Printf("http: panic serving 192.0.2.1:5555: boom")
	out := buf.String()
	if n := strings.Count(out, "TLS handshake"); n != 1 {
		t.Errorf("TLS handshake lines: got %d, want 1:\n%s", n, out)
	}
	if strings.Contains(out, "Accept error") {
		t.Errorf("accept error logged by the http log too:\n%s", out)
	}
	if !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "panic serving") {
		t.Errorf("panic: got\n%s\nwant an ERROR line", out)
	}
	if got := httpReason("http: TLS handshake error from 192.0.2.1:5555: EOF"); got != "TLS handshake error" {
		t.Errorf("httpReason: got %q, want %q", got, "TLS handshake error")
	}
}
