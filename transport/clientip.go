package transport

// The one place that decides who a client is, for every limit that counts
// by address: the connection caps (admit), the accounts API's failed-login
// and registration limits, and, at accept, the cap on connections not yet
// upgraded (edge.go). docs/security.md, "Whose address", says why.

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ipv6KeyBits is the prefix an IPv6 client is counted by: a /64 is what one
// subscriber is given, and it holds 2^64 addresses, so a cap per address
// would cap nothing.
const ipv6KeyBits = 64

// addrKey is the key an address is counted by: an IPv4 address itself (an
// IPv4-mapped IPv6 address is its IPv4 one), an IPv6 address's /64.
func addrKey(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, ipv6KeyBits).Masked().String()
}

// peerAddr is the address of a connection's peer: "ip:port" as net/http
// and net.Conn give it. ok is false for anything else (a Unix socket).
func peerAddr(remote string) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(remote)
	if err == nil {
		return ap.Addr().Unmap(), true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

// peerKey is the key of a connection's direct peer, for what is counted
// before any header is read (edge.go). A peer that is not an IP address
// (a Unix socket) is keyed by what it is called.
func peerKey(remote string) string {
	if a, ok := peerAddr(remote); ok {
		return addrKey(a)
	}
	return remote
}

// trusted is a set of proxies, by network (-trusted-proxies).
type trusted []netip.Prefix

func (t trusted) has(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientKey is the key a request's client is counted by. It is the direct
// peer's (addrKey), unless the peer is one of the trusted proxies: then the
// forwarding header names the client, read from the right, skipping the
// addresses of trusted proxies (each appends the address it was reached
// from, so whatever stands left of the first untrusted one was written by
// the client and proves nothing). See forwardedClient for both headers.
func (s *Server) clientKey(r *http.Request) string {
	return clientKey(r.RemoteAddr, r.Header, s.opts.TrustedProxies)
}

func clientKey(remote string, h http.Header, proxies trusted) string {
	peer, ok := peerAddr(remote)
	if !ok {
		return remote
	}
	if len(proxies) == 0 || !proxies.has(peer) {
		return addrKey(peer)
	}
	return addrKey(forwardedClient(peer, h, proxies))
}

// forwardedClient is the client a trusted peer forwards for. It reads
// X-Forwarded-For and Forwarded (RFC 7239's for=); a proxy sets one of them,
// and passes the other on as the client sent it. So when both are present
// and name different clients, one of them is the client's own invention
// and there is no telling which: the request is counted as its peer's (the
// proxy's), a bucket only such requests share. An entry that is not an
// address ("unknown", an obfuscated name, garbage) ends the walk at the
// trusted hop that wrote it.
func forwardedClient(peer netip.Addr, h http.Header, proxies trusted) netip.Addr {
	xff, hasXFF := h["X-Forwarded-For"]
	fwd, hasFwd := h["Forwarded"]
	switch {
	case hasXFF && hasFwd:
		a := walk(peer, splitList(xff, parseXFFEntry), proxies)
		b := walk(peer, splitList(fwd, parseForwardedEntry), proxies)
		if addrKey(a) != addrKey(b) {
			return peer
		}
		return a
	case hasXFF:
		return walk(peer, splitList(xff, parseXFFEntry), proxies)
	case hasFwd:
		return walk(peer, splitList(fwd, parseForwardedEntry), proxies)
	}
	return peer
}

// walk goes from the right of hops (the addresses each proxy says it was
// reached from, the nearest last) to the first that is not a trusted proxy.
// A hop that is not an address (!ok) stops it at the last trusted one; if
// every hop is trusted, the left-most is the client.
func walk(peer netip.Addr, hops []hop, proxies trusted) netip.Addr {
	last := peer
	for i := len(hops) - 1; i >= 0; i-- {
		if !hops[i].ok {
			return last
		}
		last = hops[i].addr
		if !proxies.has(last) {
			return last
		}
	}
	return last
}

type hop struct {
	addr netip.Addr
	ok   bool
}

// splitList splits the header's lines (in order) at commas into hops.
func splitList(lines []string, parse func(string) (netip.Addr, bool)) []hop {
	var hops []hop
	for _, line := range lines {
		for e := range strings.SplitSeq(line, ",") {
			e = strings.TrimSpace(e)
			if e == "" {
				continue // "a,,b" and a trailing comma: empty list elements (RFC 9110 5.6.1)
			}
			a, ok := parse(e)
			hops = append(hops, hop{a, ok})
		}
	}
	return hops
}

// parseXFFEntry reads one X-Forwarded-For entry: an address, bracketed or
// not, with a port or not.
func parseXFFEntry(e string) (netip.Addr, bool) { return parseNode(e) }

// parseForwardedEntry reads the for= of one Forwarded element
// ("for=192.0.2.60;proto=http;by=203.0.113.43", `for="[2001:db8::1]:4711"`).
// An element without for= is not an address.
func parseForwardedEntry(e string) (netip.Addr, bool) {
	for pair := range strings.SplitSeq(e, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "for") {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = strings.ReplaceAll(v[1:len(v)-1], `\`, "")
		}
		return parseNode(v)
	}
	return netip.Addr{}, false
}

// parseNode reads "ip", "ip:port", "[ipv6]" or "[ipv6]:port".
func parseNode(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// ParseTrustedProxies reads -trusted-proxies: comma-separated networks
// ("10.0.0.0/8") or single addresses ("192.0.2.7", a /32 or /128).
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, &net.ParseError{Type: "trusted proxy (CIDR or address)", Text: f}
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}
