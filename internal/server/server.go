// Package server puts a parley server together: it opens the store, builds
// the chat core (the Hub) on it and the transport on the Hub, serves HTTP
// and the admin endpoints, runs the heartbeat, and shuts all of it down in
// the one order that loses nothing (docs/architecture.md, "Shutdown").
// main and every test that needs a whole server use it, so that a change to
// a constructor or to that order is made once.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"parley/actors"
	"parley/client"
	"parley/internal/accounts"
	"parley/internal/cluster"
	"parley/persistence"
	"parley/transport"
)

// Config is everything a server is built from.
type Config struct {
	// DB names the store (OpenStore): a SQLite database file, created if
	// missing (a path, or sqlite:path), or a PostgreSQL database
	// (postgres:// or postgresql://), which must exist.
	DB string
	// Store configures the SQLite store; its Logger defaults to Logger
	// (and is the PostgreSQL store's too).
	Store persistence.Options
	// Hub configures the chat core (limits, outbox bounds, presence
	// window, clock...). New sets its Store; its Logger defaults to Logger.
	Hub actors.Config
	// Transport configures HTTP and WebSocket (origins, frame size,
	// connection caps, pings). New sets its Hub; its Logger defaults to
	// Logger and its Static to the embedded web client. Its Uploads.Dir
	// defaults to uploads/ beside the SQLite database (UploadsOff: none).
	Transport transport.Options
	// Accounts configures accounts and sessions (internal/accounts); New
	// sets its Store, and its Logger defaults to Logger. The transport
	// serves its API and authenticates upgrades with it.
	Accounts accounts.Config
	// Cluster, with URLs set, runs the server as one node of a cluster
	// (internal/cluster): rooms are shared with the other nodes through
	// NATS JetStream, and DB must be the PostgreSQL database they share.
	// New sets its Store, and its Logger defaults to Logger.
	Cluster cluster.Config
	// WrapStore, if set, is given the opened store and returns what the
	// Hub uses in its place: tests put a fault injector in front of the
	// real store there. The server still closes the store itself.
	WrapStore func(actors.Store) actors.Store

	// Addr is where Start serves the web client and the WebSocket.
	Addr string
	// AdminAddr is where Start serves /metrics, /healthz and
	// /debug/pprof; empty serves them nowhere.
	AdminAddr string

	Logger *slog.Logger // default slog.Default()
}

// The listeners' timeouts (transport/edge.go has the rest of the edge).
// readHeaderTimeout bounds a request's headers, from the connection's first
// byte or the end of the request before: a client that trickles them, or
// connects and says nothing, holds its descriptor this long at most (a
// browser sends its headers in one packet). idleTimeout closes a kept-alive
// connection that asks nothing more: without it net/http waits for the next
// request forever, and such connections count against -max-pending-per-ip.
const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = 30 * time.Second
)

// httpServer is an http.Server for one kind of listener: the handler
// behind the transport's Host check, its error log, and the timeouts.
func httpServer(t *transport.Server, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           t.Guard(h),
		ConnContext:       t.ConnContext,
		ErrorLog:          t.ErrorLog(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
	}
}

// Server is one parley server. Build it with New, serve it with Start or
// Serve, stop it with Shutdown.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store Store
	hub   *actors.Hub
	node  *cluster.Cluster // nil for a single node
	tsrv  *transport.Server
	admin http.Handler

	accounts *accounts.Service

	web *http.Server // serves every listener given to Serve

	// Set under mu by serve, and read by Shutdown once it has set
	// shutdown (after which nothing sets them):
	adminSrv      *http.Server       // nil until Start serves AdminAddr
	stopHeartbeat context.CancelFunc // nil until the first Serve starts the heartbeat
	heartbeatDone chan struct{}      // closed when the heartbeat returns
	serving       sync.WaitGroup     // one per accepting goroutine

	// serveErr receives the first error that ends serving a listener
	// before Shutdown (Serve's goroutines write, without blocking; the
	// owner reads it through Err).
	serveErr chan error

	mu        sync.Mutex // guards addr, adminAddr, shutdown and the fields above
	addr      net.Addr   // of the first listener served
	adminAddr net.Addr   // of the admin listener, nil without one
	shutdown  bool       // Shutdown has begun: Serve refuses

	stopOnce sync.Once
	stopErr  error
}

// New opens the store at cfg.DB and builds the Hub and the transport on it.
// It starts no listener and no heartbeat (Start or Serve does); the Hub and
// the store are usable at once. ctx bounds opening the database and loading
// the rooms. On error nothing is left open.
func New(ctx context.Context, cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Store.Logger == nil {
		cfg.Store.Logger = log
	}
	clustered := cfg.Cluster.URLs != ""
	if clustered && !IsPostgres(cfg.DB) {
		return nil, errors.New("cluster mode (-nats) needs a store every node shares: -db must be a postgres:// URL, not a SQLite file (two nodes cannot share one)")
	}
	store, err := OpenStore(ctx, cfg.DB, cfg.Store)
	if err != nil {
		return nil, err
	}
	if cfg.Accounts.Logger == nil {
		cfg.Accounts.Logger = log
	}
	cfg.Accounts.Store = store
	accts, err := accounts.New(cfg.Accounts)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	if cfg.Hub.Names == nil {
		// Guests may not take a registered name, nor one that reads like it.
		cfg.Hub.Names = accts
	}
	cfg.Hub.Store = store
	var node *cluster.Cluster
	if clustered {
		cfg.Cluster.Store = store
		if cfg.Cluster.Logger == nil {
			cfg.Cluster.Logger = log
		}
		if node, err = cluster.Open(ctx, cfg.Cluster); err != nil {
			_ = store.Close()
			return nil, err
		}
		cfg.Hub.Broker = node
		cfg.Hub.Store = node.Store(store)
	}
	if cfg.WrapStore != nil {
		cfg.Hub.Store = cfg.WrapStore(cfg.Hub.Store)
	}
	if cfg.Hub.Logger == nil {
		cfg.Hub.Logger = log
	}
	hub, err := actors.NewHub(ctx, cfg.Hub)
	if err == nil && node != nil {
		err = node.Start(ctx, hub)
	}
	if err != nil {
		if hub != nil {
			_ = hub.Shutdown(ctx)
		}
		if node != nil {
			_ = node.Close()
		}
		_ = store.Close()
		return nil, err
	}
	cfg.Transport.Hub = hub
	cfg.Transport.Uploads.Dir = uploadsDir(cfg.Transport.Uploads.Dir, cfg.DB)
	cfg.Transport.Accounts = accts
	if cfg.Transport.Logger == nil {
		cfg.Transport.Logger = log
	}
	if cfg.Transport.Static == nil {
		cfg.Transport.Static = client.Files
	}
	tsrv := transport.New(cfg.Transport)
	s := &Server{
		cfg: cfg, log: log, store: store, hub: hub, node: node, tsrv: tsrv, accounts: accts,
		admin:    tsrv.AdminHandler(collectors(store, node)...),
		serveErr: make(chan error, 1),
	}
	s.web = httpServer(tsrv, tsrv)
	return s, nil
}

// collectors are the metrics the admin listener serves besides the
// transport's and the Hub's: the store's, and a cluster node's.
func collectors(store Store, node *cluster.Cluster) []prometheus.Collector {
	cs := store.Collectors()
	if node != nil {
		cs = append(cs, node.Collectors()...)
	}
	return cs
}

// Start listens on cfg.Addr and, if set, cfg.AdminAddr, and serves them
// (Serve). It returns once both listen; the server runs until Shutdown.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if s.cfg.AdminAddr != "" {
		aln, err := net.Listen("tcp", s.cfg.AdminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listen: %w", err)
		}
		if err := s.serve(aln, true); err != nil {
			ln.Close()
			return err
		}
		s.log.Info("admin listening", "url", "http://"+aln.Addr().String()+"/metrics")
	}
	if err := s.Serve(ln); err != nil {
		return err
	}
	s.log.Info("parley listening", "url", "http://"+ln.Addr().String()+"/", "db", displayDB(s.cfg.DB))
	return nil
}

// Serve serves the web client and the WebSocket on ln, and starts the
// heartbeat if it is not running yet. It returns at once: a goroutine of
// the server's accepts on ln until Shutdown, which closes ln. A server may
// serve several listeners. After Shutdown it closes ln and refuses.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// serve accepts on ln from a goroutine of its own: for AdminHandler if
// admin, else for the web client and the WebSocket. s.mu is held until the
// goroutine is counted, so that Shutdown, which waits for them, cannot miss
// one.
func (s *Server) serve(ln net.Listener, admin bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		ln.Close()
		return http.ErrServerClosed
	}
	srv := s.web
	switch {
	case admin:
		s.adminSrv = httpServer(s.tsrv, s.admin)
		s.adminAddr = ln.Addr()
		srv = s.adminSrv
	case s.addr == nil:
		s.addr = ln.Addr()
	}
	// The edge: caps at accept and the listener's Host policy.
	if admin {
		ln = s.tsrv.AdminListener(ln)
	} else {
		ln = s.tsrv.Listener(ln)
	}
	if !admin && s.stopHeartbeat == nil {
		var ctx context.Context
		ctx, s.stopHeartbeat = context.WithCancel(context.Background())
		s.heartbeatDone = make(chan struct{})
		go func() { // the heartbeat; returns when Shutdown calls stopHeartbeat
			defer close(s.heartbeatDone)
			s.tsrv.Heartbeat(ctx)
		}()
	}
	s.serving.Add(1)
	go func() { // returns when Shutdown shuts srv down (or closes it)
		defer s.serving.Done()
		s.report(srv.Serve(ln))
	}()
	return nil
}

// report hands an error that ended serving a listener to Err; the one that
// Shutdown causes is none.
func (s *Server) report(err error) {
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return
	}
	select {
	case s.serveErr <- fmt.Errorf("serve: %w", err):
	default: // the first error is the one to report
	}
}

// Err receives the first error that stops a listener before Shutdown: the
// server no longer serves it, and its owner should shut it down.
func (s *Server) Err() <-chan error { return s.serveErr }

// ErrClose wraps the error of Shutdown's last step, closing the store:
// what it held may not be on disk. The steps before it only drain (close
// the connections, let the rooms hand their messages to the store); when
// one of them runs out of time, the store still commits what it was handed
// and closes.
var ErrClose = errors.New("close database")

// Shutdown stops the server in the order that loses nothing:
//
//  1. stop accepting (http.Server.Shutdown) and stop the heartbeat;
//  2. the transport closes every connection with 1001, each session
//     leaving its rooms, and waits for their handlers;
//  3. the Hub lets each room drain its inbox into the store, and stops it;
//  4. the store commits and acknowledges what it holds, and closes the
//     database;
//  5. the admin endpoints stop (they answered until here).
//
// ctx bounds steps 1 to 3. It returns every step's error, joined; the
// store's wraps ErrClose. It is safe to call more than once, and from
// several goroutines: later calls wait for the first and return its error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdownOnce(ctx) })
	return s.stopErr
}

func (s *Server) shutdownOnce(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	s.mu.Unlock()
	var errs []error
	// http.Server.Shutdown closes the listeners and waits for the plain
	// requests; hijacked WebSockets are the transport's to close.
	if err := s.web.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stop accepting: %w", err))
	}
	if s.stopHeartbeat != nil {
		s.stopHeartbeat()
		<-s.heartbeatDone
	}
	if err := s.tsrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("close connections: %w", err))
	}
	if err := s.hub.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("drain rooms: %w", err))
	}
	if s.node != nil {
		// After the rooms (nothing publishes any more), before the store
		// (the node's writer may be committing a batch).
		if err := s.node.Close(); err != nil {
			errs = append(errs, fmt.Errorf("leave the cluster: %w", err))
		}
	}
	if err := s.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrClose, err))
	}
	if s.adminSrv != nil {
		_ = s.adminSrv.Close()
	}
	s.serving.Wait()
	return errors.Join(errs...)
}

// Addr is the address of the first listener served, "" before one is.
func (s *Server) Addr() string { return s.addrString(&s.addr) }

// AdminAddr is the address Start serves the admin endpoints on, "" if none.
func (s *Server) AdminAddr() string { return s.addrString(&s.adminAddr) }

func (s *Server) addrString(a *net.Addr) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if *a == nil {
		return ""
	}
	return (*a).String()
}

// Hub is the chat core.
func (s *Server) Hub() *actors.Hub { return s.hub }

// Store is the store the Hub writes to.
func (s *Server) Store() Store { return s.store }

// Accounts is the accounts and sessions service.
func (s *Server) Accounts() *accounts.Service { return s.accounts }

// Transport is the HTTP and WebSocket side.
func (s *Server) Transport() *transport.Server { return s.tsrv }

// AdminHandler serves /metrics (the transport's, the Hub's and the
// store's), /healthz and /debug/pprof, as Start serves them on AdminAddr.
func (s *Server) AdminHandler() http.Handler { return s.admin }

// DB is the path of the database file.
func (s *Server) DB() string { return s.cfg.DB }
