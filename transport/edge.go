package transport

// The listener's edge: what a connection costs before it is a WebSocket.
// A TCP connection holds a descriptor from accept, long before the upgrade
// counts it against the caps (admit), and idle ones from one address once
// filled the process's descriptors: accept failed with EMFILE and a normal
// client's upgrade waited seconds for net/http's retries. So the web
// listeners are wrapped (Listener):
//
//   - connections not yet upgraded are capped per peer address (its /64,
//     clientip.go), -max-pending-per-ip; over it, one is closed at accept.
//     Headers are not read yet, so this cap cannot know a proxy's clients:
//     peers in -trusted-proxies are exempt from it.
//   - all the TCP connections the web listeners hold, upgraded or not, are
//     capped below the descriptor limit, keeping a reserve for the store,
//     the poller, the admin listener and the log, so that accept itself
//     never meets EMFILE for want of them; over it, one is closed at
//     accept. -max-conns is sized from the same budget (New).
//   - accept errors are counted and logged at WARN, at most once a second
//     per kind (rateLog); net/http then retries as it always did.
//
// Each connection carries its listener's Host policy (hosts.go) into its
// requests' context (ConnContext).

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"

	"github.com/puzpuzpuz/xsync/v3"
)

// Defaults of the edge's limits, and the descriptor reserve.
const (
	defaultMaxPendingPerIP = 256
	defaultMaxConnsCeiling = 19000 // docs/performance.md measures this many idle connections
	minReserve, maxReserve = 64, 1024
)

// edge is the transport's count of its listeners' TCP connections.
type edge struct {
	maxOpen      int64        // TCP connections the web listeners hold at most
	open         atomic.Int64 // held now, upgraded or not
	pendingTotal atomic.Int64 // held now and not upgraded
	pending      *xsync.MapOf[string, int]
}

// budget is what the descriptor limit allows, worked out once in New.
type budget struct {
	limit, from uint64 // the limit, and the soft limit it was raised from
	known       bool   // the limit could be read
	reserve     int64  // descriptors kept for everything but connections
	maxOpen     int64  // connections the web listeners may hold
	maxConns    int    // the default -max-conns: room left for handshakes and refusals
}

// descriptorBudget reads the descriptor limit (raising the soft one) and
// divides it: a reserve of 1/64 (at least 64, at most 1024) for the rest of
// the process, the rest for connections, of which all but 1/32 may be
// WebSockets, at most defaultMaxConnsCeiling by default.
func descriptorBudget() budget {
	limit, from, ok := fileLimit()
	b := budget{limit: limit, from: from, known: ok}
	if !ok || limit < 2*minReserve {
		b.maxOpen, b.maxConns = 1<<31-1, defaultMaxConnsCeiling
		return b
	}
	n := int64(min(limit, 1<<30))
	b.reserve = min(max(n/64, minReserve), maxReserve)
	return b.withMaxOpen(n - b.reserve)
}

// withMaxOpen is b with maxOpen connections (Options.MaxOpen overrides the
// descriptors' figure), and the default -max-conns that leaves.
func (b budget) withMaxOpen(maxOpen int64) budget {
	b.maxOpen = maxOpen
	b.maxConns = int(max(1, min(maxOpen-maxOpen/32, defaultMaxConnsCeiling)))
	return b
}

// logBudget says at start what the descriptors allow: the figures an
// operator needs to see why connections are refused.
func (s *Server) logBudget(b budget, maxConnsSet bool) {
	if !b.known {
		s.log.Info("descriptors: no limit to read; connections are capped by -max-conns only", "max_conns", s.opts.MaxConns)
		return
	}
	from := "the descriptor limit"
	if maxConnsSet {
		from = "-max-conns"
	}
	s.log.Info("descriptors", "limit", b.limit, "raised_from", b.from, "reserve", b.reserve,
		"tcp_connections_limit", s.edge.maxOpen, "max_conns", s.opts.MaxConns, "max_conns_from", from,
		"max_pending_per_ip", s.opts.MaxPendingPerIP)
	if int64(s.opts.MaxConns) > s.edge.maxOpen {
		s.log.Warn("-max-conns is more than the descriptors allow: connections beyond the limit are closed at accept; raise the limit (ulimit -n)",
			"max_conns", s.opts.MaxConns, "tcp_connections_limit", s.edge.maxOpen)
	}
}

// Listener wraps a web listener (the web client, the API, the WebSocket)
// with the edge's caps and its Host policy, and logs the policy. Serve the
// wrapped listener with an http.Server whose ConnContext is ConnContext,
// whose ErrorLog is ErrorLog, and whose handler is Guard(s).
func (s *Server) Listener(ln net.Listener) net.Listener {
	p := newHostPolicy("web", ln.Addr(), s.opts.AllowedHosts)
	if p.any && len(s.opts.AllowedHosts) == 0 {
		s.log.Warn("hosts: the web listener is not on a loopback address and answers any Host; set -allowed-hosts to the names clients use, so that a page whose name points at this address (DNS rebinding) is refused",
			"addr", ln.Addr().String())
	} else {
		s.log.Info("hosts", "listener", "web", "addr", ln.Addr().String(), "allowed", p.describe())
	}
	return &edgeListener{Listener: ln, s: s, hosts: p, counted: true}
}

// AdminListener wraps the admin listener: its Host is always checked (the
// loopback names, its own address, -allowed-hosts); its connections are not
// counted against the web's caps.
func (s *Server) AdminListener(ln net.Listener) net.Listener {
	p := newHostPolicy("admin", ln.Addr(), s.opts.AllowedHosts)
	s.log.Info("hosts", "listener", "admin", "addr", ln.Addr().String(), "allowed", p.describe())
	return &edgeListener{Listener: ln, s: s, hosts: p}
}

// ConnContext carries a connection's Host policy into its requests
// (http.Server.ConnContext).
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if ec, ok := c.(*edgeConn); ok {
		return withHostPolicy(ctx, ec.hosts)
	}
	return ctx
}

// ErrorLog is net/http's error log for the listeners: to the server's log
// at WARN, rate-limited (ratelog.go).
func (s *Server) ErrorLog() *log.Logger { return httpErrorLog(s.rlog) }

// Guard wraps a listener's handler with its Host check (hosts.go).
func (s *Server) Guard(h http.Handler) http.Handler { return s.checkHost(h) }

type edgeListener struct {
	net.Listener
	s       *Server
	hosts   *hostPolicy
	counted bool // a web listener: its connections count against the edge's caps
}

// Accept returns the next connection within the caps, closing at once the
// ones over them; an accept error is counted and logged (rate-limited) and
// returned, for net/http to retry.
func (l *edgeListener) Accept() (net.Conn, error) {
	s := l.s
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				kind := acceptErrorKind(err)
				s.acceptErrs[kind].Add(1)
				s.rlog.Log(slog.LevelWarn, "accept "+acceptErrorName(kind), "accept failed; retrying",
					"listener", l.hosts.listener, "addr", l.Addr().String(), "err", err)
			}
			return nil, err
		}
		ec := &edgeConn{Conn: c, s: s, hosts: l.hosts}
		if !l.counted {
			return ec, nil
		}
		if why, ok := s.edge.admit(ec, s.opts.TrustedProxies, s.opts.MaxPendingPerIP); !ok {
			_ = c.Close()
			s.refusals.add(why)
			s.rlog.Log(slog.LevelWarn, "closed at accept "+refusalNames[why], "connection closed at accept",
				"reason", refusalNames[why], "remote", c.RemoteAddr().String())
			continue
		}
		return ec, nil
	}
}

// admit counts a new connection, or says why it may not be held.
func (e *edge) admit(c *edgeConn, proxies trusted, perIP int) (refusal, bool) {
	if e.open.Add(1) > e.maxOpen {
		e.open.Add(-1)
		return refusedDescriptors, false
	}
	peer := c.RemoteAddr().String()
	if a, ok := peerAddr(peer); !ok || !proxies.has(a) {
		key, ok := peerKey(peer), true
		e.pending.Compute(key, func(n int, _ bool) (int, bool) {
			if n >= perIP {
				ok = false
				return n, n == 0
			}
			return n + 1, false
		})
		if !ok {
			e.open.Add(-1)
			return refusedPendingPerIP, false
		}
		c.key = key
	}
	e.pendingTotal.Add(1)
	c.counted = true
	return 0, true
}

func (e *edge) releasePending(key string) {
	if key != "" {
		e.pending.Compute(key, func(n int, _ bool) (int, bool) { return n - 1, n <= 1 })
	}
	e.pendingTotal.Add(-1)
}

// edgeConn is an accepted connection: counted until closed, and as not yet
// upgraded until upgraded. It passes the socket's own interfaces on (the
// poller needs its descriptor; net/http its CloseWrite and ReadFrom).
type edgeConn struct {
	net.Conn
	s       *Server
	hosts   *hostPolicy
	key     string       // its key in edge.pending; "" if not in it (a trusted proxy)
	counted bool         // counted in edge.open and edge.pendingTotal
	state   atomic.Int32 // connPending, connUpgraded, connClosed
}

const (
	connPending int32 = iota
	connUpgraded
	connClosed
)

// upgraded moves the connection from the pending count: it is a WebSocket
// now, which admit counts.
func (c *edgeConn) upgraded() {
	if c.counted && c.state.CompareAndSwap(connPending, connUpgraded) {
		c.s.edge.releasePending(c.key)
	}
}

func (c *edgeConn) Close() error {
	err := c.Conn.Close()
	if prev := c.state.Swap(connClosed); prev != connClosed && c.counted {
		if prev == connPending {
			c.s.edge.releasePending(c.key)
		}
		c.s.edge.open.Add(-1)
	}
	return err
}

func (c *edgeConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, errors.ErrUnsupported
}

func (c *edgeConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *edgeConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r) // sendfile for the web client's files
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// markUpgraded tells the edge that nc, the connection under a WebSocket,
// is upgraded.
func markUpgraded(nc net.Conn) {
	if ec, ok := nc.(*edgeConn); ok {
		ec.upgraded()
	}
}
