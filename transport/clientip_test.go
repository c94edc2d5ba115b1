package transport

import (
	"net/http"
	"net/netip"
	"testing"
)

// TestClientKey pins the one function every per-IP limit counts by: IPv4 as
// itself, IPv6 by its /64, and forwarding headers only from trusted proxies,
// read from the right past the trusted hops.
func TestClientKey(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	cases := []struct {
		name    string
		remote  string
		header  http.Header
		proxies trusted
		want    string
	}{
		// The peer's own address.
		{"ipv4", "198.51.100.4:5000", nil, nil, "198.51.100.4"},
		{"ipv6 keyed by its /64", "[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", nil, nil, "2001:db8:1:2::/64"},
		{"same /64, other address, same key", "[2001:db8:1:2::1]:1", nil, nil, "2001:db8:1:2::/64"},
		{"next /64, another key", "[2001:db8:1:3::1]:1", nil, nil, "2001:db8:1:3::/64"},
		{"ipv4-mapped ipv6 is ipv4", "[::ffff:198.51.100.4]:80", nil, nil, "198.51.100.4"},
		{"zone dropped", "[fe80::1%eth0]:80", nil, nil, "fe80::/64"},
		{"loopback v6", "[::1]:80", nil, nil, "::/64"},
		{"not an address", "@unix", nil, nil, "@unix"},
		{"no port", "198.51.100.4", nil, nil, "198.51.100.4"},

		// Headers from an untrusted peer count for nothing.
		{"xff from an untrusted peer", "198.51.100.4:1", h("X-Forwarded-For", "203.0.113.9"), proxies, "198.51.100.4"},
		{"forwarded from an untrusted peer", "198.51.100.4:1", h("Forwarded", "for=203.0.113.9"), proxies, "198.51.100.4"},
		{"xff with no proxies configured", "10.1.1.1:1", h("X-Forwarded-For", "203.0.113.9"), nil, "10.1.1.1"},

		// From a trusted proxy: the right-most untrusted address.
		{"xff one hop", "10.1.1.1:1", h("X-Forwarded-For", "203.0.113.9"), proxies, "203.0.113.9"},
		{"xff client's forgery left of the real one", "10.1.1.1:1", h("X-Forwarded-For", "1.2.3.4, 203.0.113.9"), proxies, "203.0.113.9"},
		{"xff through two trusted proxies", "10.1.1.1:1", h("X-Forwarded-For", "1.2.3.4, 203.0.113.9, 10.2.2.2, 192.0.2.7"), proxies, "203.0.113.9"},
		{"xff on several lines, in order", "10.1.1.1:1", h("X-Forwarded-For", "1.2.3.4", "X-Forwarded-For", "203.0.113.9"), proxies, "203.0.113.9"},
		{"xff with ports and brackets", "10.1.1.1:1", h("X-Forwarded-For", "[2001:db8:5:6::7]:999"), proxies, "2001:db8:5:6::/64"},
		{"xff ipv6 client by /64", "10.1.1.1:1", h("X-Forwarded-For", "2001:db8:5:6::7"), proxies, "2001:db8:5:6::/64"},
		{"xff empty elements skipped", "10.1.1.1:1", h("X-Forwarded-For", " , 203.0.113.9,"), proxies, "203.0.113.9"},
		{"xff garbage at the right: the proxy that wrote it", "10.1.1.1:1", h("X-Forwarded-For", "203.0.113.9, garbage"), proxies, "10.1.1.1"},
		{"xff garbage left of the client is not read", "10.1.1.1:1", h("X-Forwarded-For", "garbage, 203.0.113.9"), proxies, "203.0.113.9"},
		{"xff every hop trusted: the left-most", "10.1.1.1:1", h("X-Forwarded-For", "10.3.3.3, 10.2.2.2"), proxies, "10.3.3.3"},
		{"xff empty header: the peer", "10.1.1.1:1", h("X-Forwarded-For", ""), proxies, "10.1.1.1"},
		{"trusted by a single address", "192.0.2.7:1", h("X-Forwarded-For", "203.0.113.9"), proxies, "203.0.113.9"},
		{"trusted ipv6 network", "[2001:db8:ffff:1::1]:1", h("X-Forwarded-For", "203.0.113.9"), proxies, "203.0.113.9"},
		{"ipv4-mapped trusted peer", "[::ffff:10.1.1.1]:1", h("X-Forwarded-For", "203.0.113.9"), proxies, "203.0.113.9"},

		// Forwarded (RFC 7239).
		{"forwarded for=", "10.1.1.1:1", h("Forwarded", "for=203.0.113.9;proto=https;by=10.1.1.1"), proxies, "203.0.113.9"},
		{"forwarded quoted ipv6 with port", "10.1.1.1:1", h("Forwarded", `for="[2001:db8:5:6::7]:4711"`), proxies, "2001:db8:5:6::/64"},
		{"forwarded case and spaces", "10.1.1.1:1", h("Forwarded", "proto=http; FOR = 203.0.113.9"), proxies, "203.0.113.9"},
		{"forwarded chain", "10.1.1.1:1", h("Forwarded", "for=1.2.3.4, for=203.0.113.9, for=10.2.2.2"), proxies, "203.0.113.9"},
		{"forwarded unknown: the proxy", "10.1.1.1:1", h("Forwarded", "for=unknown"), proxies, "10.1.1.1"},
		{"forwarded obfuscated: the proxy", "10.1.1.1:1", h("Forwarded", "for=_hidden"), proxies, "10.1.1.1"},
		{"forwarded element without for", "10.1.1.1:1", h("Forwarded", "proto=https"), proxies, "10.1.1.1"},

		// Both headers: agreeing, or not (then the proxy's own bucket).
		{"both agree", "10.1.1.1:1", h("X-Forwarded-For", "203.0.113.9", "Forwarded", "for=203.0.113.9"), proxies, "203.0.113.9"},
		{"both agree by /64", "10.1.1.1:1", h("X-Forwarded-For", "2001:db8:5:6::1", "Forwarded", `for="[2001:db8:5:6::2]"`), proxies, "2001:db8:5:6::/64"},
		{"both disagree: the proxy", "10.1.1.1:1", h("X-Forwarded-For", "203.0.113.9", "Forwarded", "for=1.2.3.4"), proxies, "10.1.1.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := clientKey(c.remote, c.header, c.proxies); got != c.want {
				t.Errorf("clientKey(%q, %v): got %q, want %q", c.remote, c.header, got, c.want)
			}
		})
	}
}

// TestPeerKey: the key at accept, before headers, is the same function's
// for the same peer.
func TestPeerKey(t *testing.T) {
	for remote, want := range map[string]string{
		"127.0.0.2:4000":         "127.0.0.2",
		"[2001:db8:1:2::9]:4000": "2001:db8:1:2::/64",
		"[::ffff:127.0.0.1]:1":   "127.0.0.1",
	} {
		if got := peerKey(remote); got != want {
			t.Errorf("peerKey(%q): got %q, want %q", remote, got, want)
		}
		if got := clientKey(remote, nil, nil); got != want {
			t.Errorf("clientKey(%q): got %q, want %q (the same as at accept)", remote, got, want)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8 ,192.0.2.7,, 2001:db8::/32, ::ffff:10.0.0.0/104, 10.1.2.3/8 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("10.0.0.0/8"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d]: got %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q): got no error, want one", bad)
		}
	}
}
