package abuse

// Item 7: no Host check. A page whose name the attacker points at the
// server's address (DNS rebinding) sends Host and Origin both
// "evil.example:PORT"; the origin check alone passed it, and the admin
// listener served /metrics and heap profiles to any Host.

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/coder/websocket"

	"parley/internal/server"
	"parley/internal/testkit"
	"parley/transport"
)

// startBoth runs a server with its web and admin listeners on loopback
// (Start), and returns it with both addresses.
func startBoth(t *testing.T, opts transport.Options) (*server.Server, string, string) {
	t.Helper()
	s := testkit.NewServer(t, server.Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Transport: opts})
	if err := s.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	return s, s.Addr(), s.AdminAddr()
}

func TestHostCheck(t *testing.T) {
	s, addr, admin := startBoth(t, transport.Options{})
	_, port, _ := net.SplitHostPort(addr)
	_, adminPort, _ := net.SplitHostPort(admin)
	evil := "evil.example:" + port
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()

	// The rebinding attack on the WebSocket: Host and Origin agree, so the
	// origin check alone lets it through.
	_, status, err := edgeWS(ctx, addr, "", &websocket.DialOptions{
		Host:       evil,
		HTTPHeader: http.Header{"Origin": {"http://" + evil}},
	})
	if err == nil || status != http.StatusMisdirectedRequest {
		t.Errorf("upgrade with Host and Origin %s: got status %d (err %v), want 421", evil, status, err)
	}
	// The page, and the accounts API, under the same name.
	for _, path := range []string{"/", "/app.js", "/api/me"} {
		if code, body := edgeHTTP(t, addr, path, evil); code != http.StatusMisdirectedRequest {
			t.Errorf("GET %s Host %s: got %d %q, want 421", path, evil, code, body)
		}
	}
	// The admin listener: metrics and profiles.
	for _, path := range []string{"/metrics", "/debug/pprof/heap", "/healthz"} {
		if code, _ := edgeHTTP(t, admin, path, "evil.example:"+adminPort); code != http.StatusMisdirectedRequest {
			t.Errorf("admin GET %s Host evil.example: got %d, want 421", path, code)
		}
	}

	// The names this machine is reached by still work.
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, addr} {
		c, status, err := edgeWS(ctx, addr, "", &websocket.DialOptions{
			Host:       host,
			HTTPHeader: http.Header{"Origin": {"http://" + host}},
		})
		if err != nil {
			t.Fatalf("upgrade with Host %s: got status %d, %v; want 101", host, status, err)
		}
		edgeChat(t, c, "general")
		c.CloseNow()
	}
	for _, host := range []string{"localhost:" + adminPort, admin, "[::1]:" + adminPort} {
		if code, _ := edgeHTTP(t, admin, "/metrics", host); code != http.StatusOK {
			t.Errorf("admin GET /metrics Host %s: got %d, want 200", host, code)
		}
	}

	if got := metric(t, s, `parley_refused_total{reason="host"}`); got != 4 {
		t.Errorf(`parley_refused_total{reason="host"}: got %v, want 4 (one upgrade, three GETs)`, got)
	}
	if got := metric(t, s, `parley_refused_total{reason="admin_host"}`); got != 3 {
		t.Errorf(`parley_refused_total{reason="admin_host"}: got %v, want 3`, got)
	}
}

// TestAllowedHosts: -allowed-hosts adds names (a proxy's public one) to
// both listeners; others are still refused.
func TestAllowedHosts(t *testing.T) {
	_, addr, admin := startBoth(t, transport.Options{AllowedHosts: []string{"chat.example.com", "*.internal.example"}})
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	c, status, err := edgeWS(ctx, addr, "", &websocket.DialOptions{
		Host:       "chat.example.com",
		HTTPHeader: http.Header{"Origin": {"http://chat.example.com"}},
	})
	if err != nil {
		t.Fatalf("upgrade with an allowed Host: got status %d, %v; want 101", status, err)
	}
	edgeChat(t, c, "general")
	c.CloseNow()
	if code, _ := edgeHTTP(t, admin, "/metrics", "metrics.internal.example:9002"); code != http.StatusOK {
		t.Errorf("admin with an allowed pattern: got %d, want 200", code)
	}
	if code, _ := edgeHTTP(t, addr, "/", "evil.example"); code != http.StatusMisdirectedRequest {
		t.Errorf("a name not allowed: got %d, want 421", code)
	}
}
