package transport

// The Host check (docs/security.md, "Host"): a page of another site whose
// name an attacker points at this server's address (DNS rebinding) is, to
// the browser, its own origin: Origin and Host both read "evil.example:PORT",
// and the origin check passes. Only the Host header tells: the server
// answers only for the names it is known by.

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// loopbackNames are always allowed: a browser sends them only when its
// user typed them, and they lead to this machine whatever DNS says.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// hostPolicy is which Host headers one listener answers.
type hostPolicy struct {
	listener string   // "web" or "admin", for the log and the metrics
	any      bool     // every Host: a public web listener not told its names
	names    []string // exact names, lower case, without port
	suffixes []string // ".example.com" for a pattern "*.example.com"
}

// newHostPolicy is the policy of a listener bound to bound: the loopback
// names, the bound address, and allowed (-allowed-hosts: names, "*.suffix",
// or "*" for any). With no allowed names, a web listener bound to a
// loopback address answers those names only, and one bound elsewhere
// answers any Host (and New logs a warning saying so); the admin listener
// always checks.
func newHostPolicy(listener string, bound net.Addr, allowed []string) *hostPolicy {
	p := &hostPolicy{listener: listener, names: slices.Clone(loopbackNames)}
	if ip, ok := boundIP(bound); ok && !ip.IsUnspecified() {
		p.addName(ip.String())
	}
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "":
		case a == "*":
			p.any = true
		case strings.HasPrefix(a, "*."):
			p.suffixes = append(p.suffixes, a[1:])
		default:
			p.addName(hostName(a))
		}
	}
	if listener == "web" && len(allowed) == 0 && !isLoopback(bound) {
		p.any = true
	}
	return p
}

func (p *hostPolicy) addName(n string) {
	if !slices.Contains(p.names, n) {
		p.names = append(p.names, n)
	}
}

// allows reports whether the request's Host is one the listener answers.
// Besides the policy's names, the address the client connected to (the
// listener's own, which differs from the bound one when that is 0.0.0.0 or
// ::) is always allowed: a Host that is this server's own address is no
// rebinding. A request with no Host at all (HTTP/1.0) is not a browser's.
func (p *hostPolicy) allows(r *http.Request) bool {
	if p.any || r.Host == "" {
		return true
	}
	h := hostName(r.Host)
	if slices.Contains(p.names, h) {
		return true
	}
	for _, s := range p.suffixes {
		if strings.HasSuffix(h, s) {
			return true
		}
	}
	if local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ip, ok := boundIP(local); ok && ip.String() == h {
			return true
		}
	}
	return false
}

// describe says what the policy allows, for the log at start.
func (p *hostPolicy) describe() string {
	if p.any {
		return "any Host"
	}
	all := slices.Clone(p.names)
	for _, s := range p.suffixes {
		all = append(all, "*"+s)
	}
	return strings.Join(all, ", ") + ", and the address a client connects to"
}

// hostName is a Host header's (or a flag's) name: lower case, without its
// port, its IPv6 brackets or a trailing dot; an IPv6 address in its
// canonical form, so that "[0::1]" is "::1".
func hostName(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.Count(h, ":") == 1 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if a, err := netip.ParseAddr(h); err == nil && a.Zone() == "" {
		return a.Unmap().String()
	}
	return h
}

func boundIP(a net.Addr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	return peerAddr(a.String())
}

// isLoopback reports whether a listener is reachable only from this machine.
func isLoopback(a net.Addr) bool {
	ip, ok := boundIP(a)
	return ok && ip.IsLoopback()
}

type hostPolicyKey struct{}

// checkHost wraps a listener's handler: a request whose Host the listener
// does not answer gets 421 Misdirected Request (RFC 9110 15.5.20: "this
// server is not configured to answer for this name") with a plain reason,
// and is counted. The policy comes with the connection (ConnContext); a
// request without one is checked by the strictest policy, the loopback
// names and -allowed-hosts.
func (s *Server) checkHost(next http.Handler) http.Handler {
	strict := newHostPolicy("admin", nil, s.opts.AllowedHosts) // checked like the admin listener's...
	strict.listener = "web"                                    // ...and counted as the web's
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := r.Context().Value(hostPolicyKey{}).(*hostPolicy)
		if !ok {
			p = strict
		}
		if !p.allows(r) {
			if p.listener == "admin" {
				s.refusals.add(refusedAdminHost)
			} else {
				s.refusals.add(refusedHost)
			}
			s.log.Debug("host refused", "listener", p.listener, "host", r.Host, "remote", r.RemoteAddr)
			w.Header().Set("Connection", "close")
			http.Error(w, "misdirected request: this server does not answer for this Host (see -allowed-hosts)", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withHostPolicy is the context of a connection accepted by a listener of
// this policy.
func withHostPolicy(ctx context.Context, p *hostPolicy) context.Context {
	return context.WithValue(ctx, hostPolicyKey{}, p)
}
