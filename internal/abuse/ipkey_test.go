package abuse

// Item 8: per-IP keying was naive. An IPv6 client had a cap per address
// (a /64 holds 2^64 of them), and behind a reverse proxy every user shared
// the proxy's bucket. Here the server trusts 127.0.0.1 as its proxy; the
// "clients" are the addresses it forwards for, and 127.0.0.2 is a client
// that is no proxy and forges the header.

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/accounts"
	"parley/internal/server"
	"parley/internal/testkit"
	"parley/transport"
)

func TestPerIPKeying(t *testing.T) {
	const perIP = 2
	s, addr := start(t, server.Config{
		Transport: transport.Options{
			MaxConnsPerIP:  perIP,
			TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		},
		Accounts: accounts.Config{FailuresPerIP: accounts.Limit{Burst: 2, Every: time.Hour}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	// upgrade dials from src with the header, and reports the HTTP status:
	// 101, or the refusal's.
	upgrade := func(src, header, value string) int {
		t.Helper()
		var h http.Header
		if header != "" {
			h = http.Header{header: {value}}
		}
		c, status, err := edgeWS(ctx, addr, src, &websocket.DialOptions{HTTPHeader: h})
		if err != nil {
			if status == 0 {
				t.Fatalf("upgrade from %s (%s: %s): %v", src, header, value, err)
			}
			return status
		}
		t.Cleanup(func() { c.CloseNow() })
		return http.StatusSwitchingProtocols
	}
	type step struct {
		src, header, value string
		want               int
	}
	const ok, full = http.StatusSwitchingProtocols, http.StatusServiceUnavailable
	steps := []struct {
		what  string
		steps []step
	}{
		{"IPv6 behind the proxy: one /64 is one client", []step{
			{"127.0.0.1", "X-Forwarded-For", "2001:db8:1:2::a", ok},
			{"127.0.0.1", "X-Forwarded-For", "2001:db8:1:2:ffff::b", ok},
			{"127.0.0.1", "X-Forwarded-For", "2001:db8:1:2::c", full}, // a third address of the same /64
			{"127.0.0.1", "X-Forwarded-For", "2001:db8:1:3::1", ok},   // the next /64
		}},
		{"IPv4 clients behind the proxy have a bucket each", []step{
			{"127.0.0.1", "X-Forwarded-For", "203.0.113.1", ok},
			{"127.0.0.1", "Forwarded", "for=203.0.113.1;proto=http", ok}, // RFC 7239, the same client
			{"127.0.0.1", "X-Forwarded-For", "203.0.113.1", full},
			{"127.0.0.1", "X-Forwarded-For", "198.51.100.9, 203.0.113.2", ok}, // the left entry is the client's own word
			{"127.0.0.1", "X-Forwarded-For", "198.51.100.9, 203.0.113.2", ok},
			{"127.0.0.1", "X-Forwarded-For", "198.51.100.10, 203.0.113.2", full},
		}},
		{"a client that is no proxy cannot pick its key", []step{
			{"127.0.0.2", "X-Forwarded-For", "192.0.2.1", ok},
			{"127.0.0.2", "X-Forwarded-For", "192.0.2.2", ok},
			{"127.0.0.2", "X-Forwarded-For", "192.0.2.3", full},
			{"127.0.0.2", "Forwarded", "for=192.0.2.4", full},
			{"127.0.0.2", "", "", full},
		}},
	}
	for _, g := range steps {
		for i, st := range g.steps {
			if got := upgrade(st.src, st.header, st.value); got != st.want {
				t.Errorf("%s, step %d (from %s, %s: %s): got %d, want %d", g.what, i, st.src, st.header, st.value, got, st.want)
			}
		}
	}
	if got := metric(t, s, `parley_refused_total{reason="conn_cap"}`); got != 6 {
		t.Errorf(`parley_refused_total{reason="conn_cap"}: got %v, want 6`, got)
	}

	// The failed-login limit per IP counts by the same key.
	login := func(forwardedFor string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+"/api/login", strings.NewReader(`{"username":"nobody","password":"wrong password"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", forwardedFor)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i, want := range []int{401, 401, 429} {
		if got := login("2001:db8:9:9::" + string(rune('1'+i))); got != want {
			t.Errorf("failed login %d from one /64: got %d, want %d", i+1, got, want)
		}
	}
	if got := login("2001:db8:9:a::1"); got != 401 {
		t.Errorf("failed login from another /64: got %d, want 401 (its own bucket)", got)
	}
	if got := metric(t, s, `parley_refused_total{reason="api_rate_limited"}`); got != 1 {
		t.Errorf(`parley_refused_total{reason="api_rate_limited"}: got %v, want 1`, got)
	}
}
