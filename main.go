// Command parley is a real-time chat server: WebSocket chat rooms, private
// messages and SQLite persistence on a sharded actor core. main only reads
// flags and the environment, sets up the logger, and runs an
// internal/server until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"parley/actors"
	"parley/internal/accounts"
	"parley/internal/cluster"
	"parley/internal/migratecmd"
	"parley/internal/roomcmd"
	"parley/internal/server"
	"parley/internal/usercmd"
	"parley/persistence"
	"parley/transport"
)

func main() {
	var err error
	if len(os.Args) > 1 && os.Args[1] == "user" {
		err = runUser(os.Args[2:], os.Stdin, os.Stdout, os.Stderr)
	} else if len(os.Args) > 1 && os.Args[1] == "room" {
		err = runRoom(os.Args[2:], os.Stdout, os.Stderr)
	} else if len(os.Args) > 1 && os.Args[1] == "migrate-store" {
		err = runMigrate(os.Args[2:], os.Stdout, os.Stderr)
	} else {
		err = run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

type config struct {
	addr, adminAddr, db, logLevel, logFormat, origins, synchronous string
	limits                                                         actors.Limits
	outbox                                                         actors.OutboxLimits
	readLimit                                                      int64
	messageTimeout                                                 time.Duration
	maxConns, maxConnsPerIP                                        int
	shutdownTimeout, presenceWindow, requestTimeout                time.Duration
	guests, secureCookies                                          bool
	sessionTTL                                                     time.Duration
	hashConcurrency, hashQueue                                     int
	loginFailuresAccount, loginFailuresIP, registrationsIP         int
	roomCreation                                                   string

	// The listener's edge (transport/edge.go, hosts.go, clientip.go).
	allowedHosts, trustedProxies string
	maxPendingPerIP              int
	cluster                      cluster.Config
	deliverAfterCommit           bool

	uploads transport.UploadOptions // internal/server.UploadFlags
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: parley [flags]\n       parley user add|passwd|list ... (parley user -h)\n       parley room delete|list ... (parley room -h)\n       parley migrate-store -from FILE -to postgres://... (parley migrate-store -h)\n\nEvery flag can also be set by the environment variable PARLEY_<FLAG>\n(upper case, '-' as '_'), e.g. PARLEY_DB=/var/lib/parley/chat.db; LOG_LEVEL\nworks too. A flag on the command line wins.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	d := actors.DefaultLimits
	fs.StringVar(&c.addr, "addr", "127.0.0.1:9001", "`address` to serve the web client and WebSocket on")
	fs.StringVar(&c.adminAddr, "admin-addr", "127.0.0.1:9002", "`address` for /metrics, /healthz and /debug/pprof; empty turns it off (keep it private)")
	fs.StringVar(&c.db, "db", "chat.db", "the store: a SQLite database `file` (created if missing; sqlite:file also works), or a PostgreSQL URL (postgres://user:pass@host:5432/parley?sslmode=disable)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format`: text or json")
	fs.StringVar(&c.origins, "allowed-origins", "", "comma-separated `origins` allowed to connect besides the page's own, e.g. https://chat.example.com or *.example.com")
	fs.StringVar(&c.synchronous, "sqlite-synchronous", "FULL", "SQLite durability `mode`: FULL (acknowledge once on disk), NORMAL (acknowledge at commit; survives a crash of the process, not of the machine) or OFF (no syncs)")
	fs.IntVar(&c.limits.UsernameMax, "max-username", d.UsernameMax, "longest username in characters")
	fs.IntVar(&c.limits.RoomMax, "max-room-name", d.RoomMax, "longest room name in characters")
	fs.IntVar(&c.limits.ContentMax, "max-message", d.ContentMax, "longest message in characters")
	fs.Float64Var(&c.limits.RatePerSec, "rate", d.RatePerSec, "requests per second one connection may send, sustained")
	fs.IntVar(&c.limits.RateBurst, "burst", d.RateBurst, "requests one connection may send at once")
	fs.Float64Var(&c.limits.ClientRatePerSec, "client-rate", 0, "requests per second the connections of one IP address may send together, sustained; a reply read from the store costs one more per 32 KiB (0: five times -rate)")
	fs.IntVar(&c.limits.ClientBurst, "client-burst", 0, "requests the connections of one IP address may send at once together (0: five times -burst)")
	fs.IntVar(&c.limits.RoomsPerSession, "max-rooms-per-conn", d.RoomsPerSession, "rooms one connection may be in")
	fs.IntVar(&c.limits.MaxRooms, "max-rooms", d.MaxRooms, "rooms that may run at once (with members, or had some within the last minute); the default rooms and idle rooms do not count")
	fs.IntVar(&c.limits.RoomsPerMinute, "rooms-per-minute", d.RoomsPerMinute, "new rooms one connection, or one account, may create a minute")
	fs.IntVar(&c.limits.ClientRoomsPerMinute, "client-rooms-per-minute", d.ClientRoomsPerMinute, "new rooms the connections of one IP address may create a minute together")
	fs.StringVar(&c.roomCreation, "room-creation", string(actors.RoomCreationAnyone), "who may create rooms: anyone, accounts or admins")
	fs.IntVar(&c.outbox.Frames, "outbox-frames", actors.DefaultOutboxLimits.Frames, "frames queued for one connection before it is cut off as slow")
	fs.IntVar(&c.outbox.Bytes, "outbox-bytes", actors.DefaultOutboxLimits.Bytes, "bytes queued for one connection before it is cut off as slow")
	fs.Int64Var(&c.readLimit, "max-frame", 0, "largest client message in `bytes`; larger ones close the connection with 1009 at their header (0: the largest legal request in its longest encoding, from -max-message, -max-username, -max-room-name: "+strconv.FormatInt(d.MaxRequestBytes(), 10)+" by default)")
	fs.DurationVar(&c.messageTimeout, "message-timeout", 10*time.Second, "a client message (or control frame) begun must be complete within this `duration`, or the connection closes with 1008")
	fs.IntVar(&c.maxConns, "max-conns", 0, "WebSocket connections at once (0: sized from the open-file limit, keeping a reserve, at most 19000; the log says what it chose)")
	fs.IntVar(&c.maxConnsPerIP, "max-conns-per-ip", 1000, "connections at once from one IP address")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 5*time.Second, "time to drain on SIGINT/SIGTERM")
	fs.DurationVar(&c.presenceWindow, "presence-window", time.Second, "a room's joins and leaves within this `duration` of the last one it announced are gathered and announced together at its end, so that a reconnect storm costs one write per member per window instead of one per join (0: each at once)")
	fs.DurationVar(&c.requestTimeout, "request-timeout", actors.DefaultRequestTimeout, "longest a request may wait for the store or a busy room before the client gets server_busy")
	fs.BoolVar(&c.guests, "guests", true, "let people chat without an account, under a given guest name; false: only accounts connect")
	fs.BoolVar(&c.secureCookies, "secure-cookies", false, "mark the session cookie Secure although this server speaks plain HTTP: it is reached through a proxy that terminates TLS")
	fs.DurationVar(&c.sessionTTL, "session-ttl", accounts.DefaultSessionTTL, "how long a session lasts unused (each use extends it)")
	fs.IntVar(&c.hashConcurrency, "hash-concurrency", 2, "password hashes computed at once (each takes ~19 MiB and tens of milliseconds of a core)")
	fs.IntVar(&c.hashQueue, "hash-queue", 8, "logins waiting for a hash before the next ones get 429 (negative: none wait)")
	fs.IntVar(&c.loginFailuresAccount, "login-failures-per-account", 10, "failed logins a minute allowed for one account name, then 429")
	fs.IntVar(&c.loginFailuresIP, "login-failures-per-ip", 30, "failed logins a minute allowed from one IP address, then 429")
	fs.IntVar(&c.registrationsIP, "registrations-per-ip", 10, "accounts an hour one IP address may register, then 429")
	fs.StringVar(&c.allowedHosts, "allowed-hosts", "", "comma-separated Host `names` the server answers besides localhost, 127.0.0.1, ::1 and its own address (ports ignored; *.example.com for subdomains, * for any); unset, a listener on a non-loopback address answers any Host, and the admin listener only those")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "comma-separated `networks` (CIDR, or addresses) of reverse proxies whose X-Forwarded-For or Forwarded header names the client the per-IP limits count")
	fs.IntVar(&c.maxPendingPerIP, "max-pending-per-ip", 256, "TCP connections not yet upgraded to WebSocket from one address (an IPv6 /64); more are closed at accept (trusted proxies are exempt)")
	fs.BoolVar(&c.deliverAfterCommit, "deliver-after-commit", false, "for measurement only (docs/reliability.md): a single node delivers a message to the room once it is committed, as a cluster does, instead of at once")
	fs.StringVar(&c.cluster.URLs, "nats", "", "comma-separated NATS `URLs` (nats://h1:4222,nats://h2:4222): run as one node of a cluster that shares its rooms through NATS JetStream; needs -db postgres://... (docs/scaling.md)")
	fs.StringVar(&c.cluster.NodeID, "node-id", "", "this node's `name` in a cluster (default: generated, and logged); keep it across restarts")
	fs.IntVar(&c.cluster.Replicas, "nats-replicas", 3, "NATS servers that keep each message of the cluster's stream (at most the NATS cluster's size)")
	fs.DurationVar(&c.cluster.TrimInterval, "nats-trim-interval", time.Minute, "how often a cluster node purges the stream of what every node delivered and the store has")
	server.UploadFlags(fs, &c.uploads)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		env := "PARLEY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(env)
		if !ok && f.Name == "log-level" {
			v, ok = os.LookupEnv("LOG_LEVEL")
		}
		if ok {
			if err := f.Value.Set(v); err != nil && envErr == nil {
				envErr = fmt.Errorf("%s=%q: %w", env, v, err)
			}
		}
	})
	return c, envErr
}

// splitList splits a comma-separated flag into its non-empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// perPeriod is a limit of n events per period: n at once, then one every
// period/n. n <= 0 takes the accounts package's default.
func perPeriod(n int, period time.Duration) accounts.Limit {
	if n <= 0 {
		return accounts.Limit{}
	}
	return accounts.Limit{Burst: n, Every: period / time.Duration(n)}
}

// runUser runs `parley user ...` (internal/usercmd) on the database that
// PARLEY_DB names, else chat.db, unless -db says otherwise.
func runUser(args []string, in io.Reader, out, errOut io.Writer) error {
	db := "chat.db"
	if v, ok := os.LookupEnv("PARLEY_DB"); ok {
		db = v
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return usercmd.Run(ctx, args, in, out, errOut, db)
}

// runRoom runs `parley room ...` (internal/roomcmd): through the running
// server's admin listener ($PARLEY_ADMIN_ADDR, else the default), else on
// the database ($PARLEY_DB, else chat.db).
func runRoom(args []string, out, errOut io.Writer) error {
	db, admin := "chat.db", "127.0.0.1:9002"
	if v, ok := os.LookupEnv("PARLEY_DB"); ok {
		db = v
	}
	if v, ok := os.LookupEnv("PARLEY_ADMIN_ADDR"); ok {
		admin = v
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return roomcmd.Run(ctx, args, out, errOut, db, admin)
}

// runMigrate runs `parley migrate-store ...` (internal/migratecmd): it
// copies a SQLite database into PostgreSQL. Ctrl-C stops it between
// batches' commits; running it again goes on from there.
func runMigrate(args []string, out, errOut io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return migratecmd.Run(ctx, args, out, errOut)
}

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

func run() error {
	c, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	origins := splitList(c.origins)
	proxies, err := transport.ParseTrustedProxies(c.trustedProxies)
	if err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}
	srv, err := server.New(ctx, server.Config{
		DB:      c.db,
		Store:   persistence.Options{Synchronous: c.synchronous},
		Cluster: c.cluster,
		Hub: actors.Config{Limits: c.limits, Outbox: c.outbox, PresenceWindow: c.presenceWindow, RequestTimeout: c.requestTimeout,
			RoomCreation: actors.RoomCreation(c.roomCreation), DeliverAfterCommit: c.deliverAfterCommit},
		Accounts: accounts.Config{
			SessionTTL:         c.sessionTTL,
			HashConcurrency:    c.hashConcurrency,
			HashQueue:          c.hashQueue,
			FailuresPerAccount: perPeriod(c.loginFailuresAccount, time.Minute),
			FailuresPerIP:      perPeriod(c.loginFailuresIP, time.Minute),
			RegistrationsPerIP: perPeriod(c.registrationsIP, time.Hour),
			UsernameMax:        c.limits.UsernameMax,
		},
		Transport: transport.Options{
			AllowedOrigins: origins,
			ReadLimit:      c.readLimit,
			MessageTimeout: c.messageTimeout,
			MaxConns:       c.maxConns,
			MaxConnsPerIP:  c.maxConnsPerIP,
			NoGuests:       !c.guests,
			SecureCookies:  c.secureCookies,
			// The listener's edge.
			AllowedHosts:    splitList(c.allowedHosts),
			TrustedProxies:  proxies,
			MaxPendingPerIP: c.maxPendingPerIP,
			Uploads:         c.uploads,
		},
		Addr:      c.addr,
		AdminAddr: c.adminAddr,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	if err = srv.Start(); err == nil {
		select {
		case <-ctx.Done():
		case err = <-srv.Err():
		}
	}
	if err != nil {
		// Nothing was served, or serving failed: close what New opened.
		sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return err
	}
	log.Info("shutting down", "timeout", c.shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	// Draining is best effort: what did not finish in time is logged, and
	// the store still commits what it was handed. Only a store that fails
	// to close fails the exit.
	if err := srv.Shutdown(sctx); err != nil {
		if errors.Is(err, server.ErrClose) {
			return err
		}
		log.Warn("shutdown", "err", err)
	}
	log.Info("stopped")
	return nil
}
