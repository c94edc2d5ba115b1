// Package transport translates WebSocket frames (github.com/coder/websocket)
// into actor requests and the actors' outbound frames back into WebSocket
// messages. It holds no chat logic: it checks what only the edge can check
// (origin, connection caps, frame size and encoding), decodes requests with
// protocol.Decode, and turns errors into close codes.
package transport

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/puzpuzpuz/xsync/v3"

	"parley/actors"
	"parley/internal/protocol"
	"parley/transport/outbound"
	"parley/transport/park"
)

// BatchSubprotocol is the WebSocket subprotocol in which one server frame
// may carry several JSON messages separated by "\n" (docs/protocol.md).
// Clients that ask for no subprotocol get one JSON object per frame.
const BatchSubprotocol = "parley.batch.v1"

// Options configure a Server. Zero values take the defaults in brackets.
type Options struct {
	Hub    *actors.Hub // required
	Static fs.FS       // the web client; nil serves none
	Logger *slog.Logger

	AllowedOrigins []string      // extra origins allowed to upgrade (see originAllowed)
	ReadLimit      int64         // bytes of one client message [the largest legal request: Hub.MaxRequestBytes]
	MessageTimeout time.Duration // for a message (or a control frame) begun to be completed [10s]
	PingInterval   time.Duration // between pings of one connection [25s]
	PingTimeout    time.Duration // to answer a ping [10s]
	WriteTimeout   time.Duration // a write blocked this long (half of it at least) fails [10s]
	MaxConns       int           // connections at once [from the descriptor limit, at most 19000; edge.go]
	MaxConnsPerIP  int           // connections at once from one IP address [1000]
	MaxBatchBytes  int           // bytes of one batched frame [64 KiB]

	// Accounts serves the accounts API (api.go) and authenticates
	// upgrades; nil serves no API and makes every connection a guest.
	Accounts Accounts
	// NoGuests refuses, with 401, an upgrade without a valid session.
	NoGuests bool
	// SecureCookies marks the session cookie Secure on plain HTTP too: the
	// server is reached through a proxy that terminates TLS.
	SecureCookies bool

	// The listener's edge (edge.go, hosts.go, clientip.go).
	//
	// AllowedHosts are the Host names the listeners answer besides the
	// loopback names and their own address: names, "*.suffix", or "*" for
	// any. Without any, a web listener not bound to loopback answers any
	// Host (and says so in the log); the admin listener never does.
	AllowedHosts []string
	// TrustedProxies are the peers whose X-Forwarded-For or Forwarded
	// header names the client the limits count by (clientKey); they are
	// exempt from MaxPendingPerIP.
	TrustedProxies []netip.Prefix
	// MaxPendingPerIP caps the TCP connections not (yet) upgraded from one
	// peer address (an IPv6 /64) [256]; over it, one is closed at accept.
	MaxPendingPerIP int
	// MaxOpen caps the TCP connections the web listeners hold, upgraded or
	// not [the descriptor limit less a reserve]. MaxConns defaults to what
	// the same budget leaves for WebSockets, at most 19,000.
	MaxOpen int

	// Uploads configure files and images (uploads.go); no Dir, none.
	Uploads UploadOptions
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ReadLimit <= 0 && o.Hub != nil {
		o.ReadLimit = o.Hub.MaxRequestBytes()
	} else if o.ReadLimit <= 0 {
		o.ReadLimit = actors.DefaultLimits.MaxRequestBytes() // no hub: a server only built to be looked at
	}
	if o.MessageTimeout <= 0 {
		o.MessageTimeout = 10 * time.Second
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 25 * time.Second
	}
	if o.PingTimeout <= 0 {
		o.PingTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxConnsPerIP <= 0 {
		o.MaxConnsPerIP = 1000
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 64 << 10
	}
	if o.MaxPendingPerIP <= 0 {
		o.MaxPendingPerIP = defaultMaxPendingPerIP
	}
	return o
}

// Server serves the web client and WebSocket connections.
type Server struct {
	opts Options
	hub  *actors.Hub
	log  *slog.Logger
	mux  *http.ServeMux

	// mu makes "not closing, so count this connection" atomic against
	// Shutdown, so that no connWG.Add races connWG.Wait.
	mu      sync.Mutex
	closing atomic.Bool    // set by Shutdown under mu: new upgrades get 503
	connWG  sync.WaitGroup // one per connection, from upgrade to finish
	total   atomic.Int64   // connections open
	readers atomic.Int64   // reader goroutines running: connections not parked in the poller
	refused atomic.Int64   // upgrades refused by the caps
	perIP   *xsync.MapOf[string, int]
	conns   *xsync.MapOf[uint64, *conn] // for the heartbeat and the poller

	// streamRefused counts connections closed for what park.Conn found in
	// their stream (1002, 1007, 1008, 1009: conn.readError).
	streamRefused atomic.Int64

	pollOnce sync.Once
	poll     *park.Poller // nil when there is none; see poller()

	// The edge (edge.go) and what /metrics counts of it (refusals.go).
	edge       edge
	refusals   refusals
	acceptErrs [len(acceptErrorKinds) + 1]atomic.Int64
	closes     [len(closeCodes) + 1]atomic.Int64
	rlog       *rateLog // accept errors, connections closed at accept, net/http's lines

	uploads *uploads // nil when uploads are off (uploads.go)
}

// poller returns the server's poller, starting it on first use, or nil when
// this system has none (connections then keep one reader goroutine each).
func (s *Server) poller() *park.Poller {
	s.pollOnce.Do(func() {
		p, err := park.NewPoller(s.kick, s.pollerFailed)
		if err != nil {
			s.log.Warn("no poller: every connection keeps a reader goroutine", "err", err)
			return
		}
		s.poll = p
	})
	return s.poll
}

// kick wakes the reader of connection id: the poller saw bytes arrive.
func (s *Server) kick(id uint64) {
	if c, ok := s.conns.Load(id); ok {
		c.netConn.Kick()
	}
}

// pollerFailed is told that the poller stopped for good (an epoll_wait
// error): every connection it may hold is woken, and from then on each
// keeps a reader goroutine, as without a poller.
func (s *Server) pollerFailed(err error) {
	s.log.Error("poller failed: every connection keeps a reader goroutine from now on", "err", err)
	s.conns.Range(func(_ uint64, c *conn) bool {
		c.netConn.Kick()
		return true
	})
}

// stopPoller stops the poller, if one was started. Connections still parked
// then are only woken by their sockets closing.
func (s *Server) stopPoller() {
	s.pollOnce.Do(func() {}) // none may start after this
	if s.poll != nil {
		s.poll.Stop()
	}
}

// New returns a Server for opts. It reads the descriptor limit (raising the
// soft one to the hard one), sizes the default MaxConns from it, and logs
// what it allows (edge.go).
func New(opts Options) *Server {
	opts = opts.withDefaults()
	b := descriptorBudget()
	if opts.MaxOpen > 0 {
		b = b.withMaxOpen(int64(opts.MaxOpen))
	}
	maxConnsSet := opts.MaxConns > 0
	if !maxConnsSet {
		opts.MaxConns = b.maxConns
	}
	s := &Server{
		opts:  opts,
		hub:   opts.Hub,
		log:   opts.Logger,
		mux:   http.NewServeMux(),
		perIP: xsync.NewMapOf[string, int](),
		conns: xsync.NewMapOf[uint64, *conn](),
		rlog:  newRateLog(opts.Logger, time.Second),
	}
	s.edge.maxOpen = b.maxOpen
	s.edge.pending = xsync.NewMapOf[string, int]()
	s.logBudget(b, maxConnsSet)
	if opts.Accounts != nil {
		s.routeAPI()
	}
	s.routeUploads()
	s.mux.HandleFunc("GET /ws", s.serveWS)
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			s.serveWS(w, r)
			return
		}
		s.serveFile(w, r, "index.html")
	})
	s.mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) { s.serveFile(w, r, "app.js") })
	s.mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, r *http.Request) { s.serveFile(w, r, "style.css") })
	s.mux.HandleFunc("GET /chat.css", func(w http.ResponseWriter, r *http.Request) { s.serveFile(w, r, "chat.css") })
	// The offline shell's service worker: at the root, so its scope is the whole
	// page; no-cache (serveFile), so a new version is picked up on the next load.
	s.mux.HandleFunc("GET /sw.js", func(w http.ResponseWriter, r *http.Request) { s.serveFile(w, r, "sw.js") })
	s.mux.HandleFunc("GET /js/{file}", func(w http.ResponseWriter, r *http.Request) {
		// The modules app.js imports; one path segment, so never a folder or a parent.
		file := r.PathValue("file")
		if !strings.HasSuffix(file, ".js") || strings.ContainsAny(file, `/\`) || strings.HasPrefix(file, ".") {
			http.NotFound(w, r)
			return
		}
		s.serveFile(w, r, "js/"+file)
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// pageCSP lets the page load only its own script, style and socket; no
// inline script or style, and no framing (clickjacking).
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	if s.opts.Static == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	if strings.HasSuffix(name, ".js") {
		// A module script runs only if served with a JavaScript type: set it
		// here rather than depend on the host's MIME table (/etc/mime.types).
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	}
	http.ServeFileFS(w, r, s.opts.Static, name)
}

// admit counts a new connection against the caps; release undoes it.
func (s *Server) admit(ip string) bool {
	if s.total.Add(1) > int64(s.opts.MaxConns) {
		s.total.Add(-1)
		return false
	}
	ok := true
	s.perIP.Compute(ip, func(n int, _ bool) (int, bool) {
		if n >= s.opts.MaxConnsPerIP {
			ok = false
			return n, n == 0
		}
		return n + 1, false
	})
	if !ok {
		s.total.Add(-1)
	}
	return ok
}

func (s *Server) release(ip string) {
	s.perIP.Compute(ip, func(n int, _ bool) (int, bool) { return n - 1, n <= 1 })
	s.total.Add(-1)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.closing.Load() {
		s.refusals.add(refusedShutdown)
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	if !originAllowed(r, s.opts.AllowedOrigins) {
		s.refusals.add(refusedOrigin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	auth, ok := s.upgradeAuth(w, r)
	if !ok {
		return
	}
	ip := s.clientKey(r) // clientip.go: the one place a client is keyed
	if !s.admit(ip) {
		s.refused.Add(1)
		s.refusals.add(refusedConnCap)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.release(ip)
		s.refusals.add(refusedShutdown)
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	s.connWG.Add(1)
	s.mu.Unlock()
	c := &conn{srv: s, ip: ip} // made now: the hijack hands its corkWriter the socket
	c.cork.timeout = s.opts.WriteTimeout
	hw := &hijackWriter{ResponseWriter: w, parking: s.poller() != nil, cork: &c.cork}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true, // originAllowed above is stricter than the library's check
		Subprotocols:       []string{BatchSubprotocol},
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.connWG.Done()
		s.release(ip)
		s.log.Debug("websocket accept", "remote", r.RemoteAddr, "err", err)
		return
	}
	markUpgraded(hw.conn.Conn) // edge.go: no longer counted as pending
	ws.SetReadLimit(s.opts.ReadLimit)
	c.ws, c.netConn = ws, hw.conn
	c.batch = ws.Subprotocol() == BatchSubprotocol
	c.out = outbound.New(s.hub.OutboxLimits())
	if auth != nil {
		c.account, c.session, c.resume = auth.AccountID, auth.Session, true
		c.sess = s.connectAccount(ip, c.out, auth)
	} else {
		c.sess = s.hub.Connect(ip, c.out)
	}
	// The handler returns now and net/http lets go of what it kept for the
	// request (its 4 KiB read buffer, the handler's grown stack); readers
	// run in goroutines of their own, and finish releases the counts.
	c.start()
	// start put c in s.conns: either Shutdown's walk of them closes it, or
	// closing is already set here.
	if s.closing.Load() {
		c.out.Close(protocol.CloseGoingAway, "server shutting down")
	}
}

// Shutdown refuses new connections, asks every open one to close with 1001,
// and waits for their handlers to return. A client that does not answer the
// close handshake gets a short grace (a third of what is left of ctx, at
// most a second), then its socket is closed, so that one silent client
// cannot eat the time the rooms and the store need to drain after this.
// The caller shuts the http.Server down first (it does not close hijacked
// connections).
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.stopPoller()
	s.mu.Lock()
	s.closing.Store(true) // no new connection is counted after this
	s.mu.Unlock()
	s.conns.Range(func(_ uint64, c *conn) bool {
		c.out.Close(protocol.CloseGoingAway, "server shutting down")
		return true
	})
	done := make(chan struct{})
	go func() { // exits when every connection handler has returned
		s.connWG.Wait()
		close(done)
	}()
	grace := time.Second
	if dl, ok := ctx.Deadline(); ok {
		grace = min(grace, time.Until(dl)/3)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	// Stragglers: close the sockets themselves (the library's CloseNow does
	// nothing once its close handshake has begun).
	s.conns.Range(func(_ uint64, c *conn) bool {
		_ = c.netConn.Close() // wakes a parked reader, which tears it down
		return true
	})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close connections: %w", ctx.Err())
	}
}

// Heartbeat pings every connection once per PingInterval and closes those
// that do not answer within PingTimeout: dead peers are dropped and their
// users leave their rooms. It spreads the pings over the interval in 16
// slots so that 19,000 connections never ping at once, and needs no timer per
// connection. Once a second it also lets burstTrim see how many
// connections are open, to return a connection burst's memory (trim.go).
// Run it in its own goroutine; it returns when ctx is done.
func (s *Server) Heartbeat(ctx context.Context) {
	const slots = 16
	t := time.NewTicker(s.opts.PingInterval / slots)
	defer t.Stop()
	trim, trimT := newBurstTrim(s.log), time.NewTicker(trimTick)
	defer trimT.Stop()
	for slot := uint64(0); ; {
		select {
		case <-ctx.Done():
			return
		case now := <-trimT.C:
			trim.tick(now, s.total.Load())
			continue
		case <-t.C:
		}
		s.conns.Range(func(id uint64, c *conn) bool {
			if id%slots == slot && c.pinging.CompareAndSwap(false, true) {
				// Lives until the pong or PingTimeout; a timeout closes the
				// connection (coder/websocket closes on context expiry).
				go c.ping(s.opts.PingTimeout)
			}
			return true
		})
		slot = (slot + 1) % slots
	}
}
