// Command bench is parley's load generator.
//
//	go run ./bench                          # fanout against a server it builds and starts
//	go run ./bench -scenario ramp           # rising rates until p99 > 100 ms or a loss: the knee
//	go run ./bench -scenario idle           # 19,000 idle connections: server RSS per connection
//	go run ./bench -scenario persist        # the persistence actor alone
//	go run ./bench -scenario search         # Search's latency on 1M stored messages
//	go run ./bench -scenario cluster        # single node against 2 nodes + NATS + PostgreSQL (docs/scaling.md)
//	go run ./bench -url ws://127.0.0.1:9001/ws ...                            # a running parley
//	go run ./bench -target centrifugo -url ws://127.0.0.1:8000/connection/websocket ...
//	go run ./bench -compare a.json,b.json   # side by side (medians per target), with ratios
//
// With no -url it builds the server from this module, starts it on a random
// loopback port with a temporary database (pinned with taskset to
// -server-cpus), runs the scenario, prints the results and stops it. The
// generator pins itself to -client-cpus. Run with -h for every flag.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	scenario, target, url       string
	batch                       bool
	serverCPUs, clientCPUs      string
	serverArgs                  string
	serverPID                   int
	metricsURL                  string
	jsonPath, plotPath, compare string
	quiet                       bool
	cpuProfile                  string
	clientProcs                 int
	serverProfile, pprofURL     string
	timeout                     time.Duration
	fanout                      fanoutConfig
	rate                        float64
	p99Bound                    time.Duration
	startRate, maxRate          float64
	step                        string
	stepDuration, stepWarmup    time.Duration
	maxSteps                    int
	idle                        idleConfig
	persist                     persistConfig
	search                      searchConfig
	cluster                     clusterConfig
	roomsSet                    bool
	flagValues                  map[string]string
}

func main() {
	if natsChild() { // the bench run again as the cluster scenario's NATS servers
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (*options, error) {
	o := &options{}
	defServer, defClient := defaultCPUs()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: go run ./bench [flags]

parley's load generator. Scenarios: fanout (default), ramp, idle, persist,
search, cluster (single-node against two nodes with NATS and PostgreSQL).
With no -url it builds parley, starts it on a random loopback port with a
temporary database (pinned to -server-cpus), runs the scenario and stops it.
Against a running parley (-url), start it with a high -rate and -burst (the
per-connection rate limit would reject the load) and enough -max-conns-per-ip.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.scenario, "scenario", "fanout", "`name`: fanout, ramp, idle, persist, search or cluster")
	fs.StringVar(&o.target, "target", "parley", "server `kind`: parley or centrifugo (centrifugo needs a running server; -url defaults to ws://127.0.0.1:8000/connection/websocket)")
	fs.StringVar(&o.url, "url", "", "WebSocket `URL` of a running server; empty: build and start parley")
	fs.BoolVar(&o.batch, "batch", true, "parley: ask for the parley.batch.v1 subprotocol (several messages per server frame); false: one JSON object per frame")
	fs.StringVar(&o.serverCPUs, "server-cpus", defServer, "`cpus` (taskset list) to pin the server the bench starts to; empty: no pinning")
	fs.StringVar(&o.clientCPUs, "client-cpus", defClient, "`cpus` (taskset list) to pin the generator to (GOMAXPROCS follows); empty: no pinning")
	fs.IntVar(&o.clientProcs, "client-procs", 0, "GOMAXPROCS of the generator; 0: its number of cpus")
	fs.StringVar(&o.serverArgs, "server-args", "", "extra `flags` for the server the bench starts, space-separated (e.g. \"-outbox-frames 8192\")")
	fs.IntVar(&o.serverPID, "server-pid", 0, "`pid` of the running server given by -url, to read its CPU time and RSS from /proc")
	fs.StringVar(&o.metricsURL, "metrics-url", "", "Prometheus `URL` of a running server, for its RSS (process_resident_memory_bytes) when -server-pid is not given")
	fs.StringVar(&o.serverProfile, "server-profile", "", "fanout: write a CPU profile of the server over the measured window to `file` (idle: over the first 5 s of connecting) (a server the bench starts is built with net/http/pprof for it; a running one needs -pprof-url)")
	fs.StringVar(&o.pprofURL, "pprof-url", "", "`URL` of the running server's /debug/pprof, for -server-profile")
	fs.StringVar(&o.jsonPath, "json", "", "write every figure to `file` as JSON")
	fs.StringVar(&o.plotPath, "plot", "", "draw the latency percentile curve and deliveries per second to `file.svg`")
	fs.StringVar(&o.compare, "compare", "", "comma-separated JSON `files` of one scenario: print them side by side, median per target, with ratios (and -plot them); runs nothing")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress on stderr")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the generator's own CPU profile to `file` (persist: the persistence actor's)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up on the whole run after this `duration`")

	f := &o.fanout
	fs.IntVar(&f.Rooms, "rooms", 10, "fanout, ramp: `rooms`; idle: rooms the connections are spread over (idle without -rooms: one per 100 connections)")
	fs.IntVar(&f.Members, "members", 100, "fanout, ramp: `members` per room (senders included)")
	fs.IntVar(&f.Senders, "senders", 5, "fanout, ramp: `senders` per room")
	fs.Float64Var(&o.rate, "rate", 30, "fanout: `messages/s` per sender (30 is half Centrifugo's knee on 10x100x5 here)")
	fs.IntVar(&f.Size, "size", 128, "fanout, ramp: message content `bytes`")
	fs.DurationVar(&f.Duration, "duration", 10*time.Second, "fanout: measured `duration` (after the warm-up)")
	fs.DurationVar(&f.Warmup, "warmup", 2*time.Second, "fanout: warm-up `duration`, sent but not measured")
	fs.DurationVar(&f.Grace, "grace", 2*time.Second, "fanout, ramp: after the last send, wait at most this `long` for deliveries; what has not arrived is lost")
	fs.IntVar(&f.MaxSendBatch, "max-send-batch", 64, "fanout, ramp: due `messages` one sender writes in one system call at most (when behind schedule)")
	fs.IntVar(&f.ConnectConcurrency, "connect-concurrency", 64, "fanout, ramp: `connections` set up at once")
	fs.DurationVar(&o.p99Bound, "p99-bound", 100*time.Millisecond, "ramp: a step passes while p99 <= `bound` and nothing is lost, rejected or dropped")
	fs.Float64Var(&o.startRate, "start-rate", 10, "ramp: first `messages/s` per sender")
	fs.StringVar(&o.step, "step", "1.25", "ramp: rate `step`: a factor (1.25, x1.25) or an increment (+50)")
	fs.Float64Var(&o.maxRate, "max-rate", 100000, "ramp: stop after the step at this `messages/s` per sender")
	fs.DurationVar(&o.stepDuration, "step-duration", 5*time.Second, "ramp: measured `duration` of each step")
	fs.DurationVar(&o.stepWarmup, "step-warmup", time.Second, "ramp: warm-up `duration` of each step")
	fs.IntVar(&o.maxSteps, "max-steps", 40, "ramp: `steps` at most (100 at most)")

	fs.IntVar(&o.cluster.Nodes, "nodes", 2, "cluster: parley `nodes` (clients are spread over them)")
	fs.IntVar(&o.cluster.NATSServers, "nats-servers", 3, "cluster: NATS `servers` with JetStream (in one child process)")
	fs.IntVar(&o.cluster.Replicas, "nats-replicas", 0, "cluster: `copies` of each message in the stream (0: -nats-servers)")
	fs.Float64Var(&o.cluster.SaturateRate, "saturate-rate", 300, "cluster: last, a phase at this `messages/s` per sender, above capacity: deliveries per CPU-second at saturation (0: none)")
	fs.BoolVar(&o.cluster.SkipSingle, "skip-single", false, "cluster: measure only the cluster, not single-node beside it")
	fs.IntVar(&o.idle.Conns, "conns", 19000, "idle: `connections`")
	fs.IntVar(&o.idle.Concurrency, "idle-concurrency", 256, "idle: `connections` being set up at once")
	fs.DurationVar(&o.idle.Settle, "settle", 2*time.Second, "idle: wait at least this `long` before reading the server's RSS")
	fs.DurationVar(&o.idle.Hold, "hold", 60*time.Second, "idle: then hold the connections this `long`, reading RSS every second for its peak (0: no hold)")

	fs.IntVar(&o.persist.Messages, "messages", 1000000, "persist: `messages` pushed through the persistence actor (the process runs on the union of -server-cpus and -client-cpus); search: messages stored")
	fs.IntVar(&o.persist.Autocommit, "autocommit-messages", 20000, "persist: `messages` inserted one autocommit INSERT each, for the comparison (0: skip)")
	fs.StringVar(&o.persist.Synchronous, "synchronous", "FULL", "persist: SQLite synchronous `mode` of both databases")
	fs.IntVar(&o.search.Queries, "search-queries", 200, "search: timed `queries` per shape of query")
	fs.StringVar(&o.search.DB, "search-db", "", "search: search this `database` (kept by an earlier -search-keep) instead of filling a new one")
	fs.StringVar(&o.search.Keep, "search-keep", "", "search: fill the database at this `path` (new) and keep it")

	if err := fs.Parse(os.Args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q (flags only; see -h)", fs.Args())
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "rooms" {
			o.roomsSet = true
		}
	})
	o.flagValues = map[string]string{}
	fs.VisitAll(func(fl *flag.Flag) { o.flagValues[fl.Name] = fl.Value.String() })
	o.persist.Size = f.Size
	if o.cluster.Replicas == 0 {
		o.cluster.Replicas = o.cluster.NATSServers
	}
	o.search.Messages = o.persist.Messages
	o.idle.Rooms = f.Rooms
	if o.scenario == "idle" && !o.roomsSet {
		o.idle.Rooms = max(1, o.idle.Conns/100)
	}
	if o.target == "centrifugo" && o.url == "" {
		o.url = "ws://127.0.0.1:8000/connection/websocket"
	}
	switch {
	case o.compare != "":
	case o.scenario != "fanout" && o.scenario != "ramp" && o.scenario != "idle" && o.scenario != "persist" && o.scenario != "search" && o.scenario != "cluster":
		return nil, fmt.Errorf("-scenario %q: want fanout, ramp, idle, persist, search or cluster", o.scenario)
	case o.scenario == "cluster" && o.maxSteps > refMaxPhase-3:
		return nil, fmt.Errorf("-scenario cluster: -max-steps at most %d (two more phases than the ramp's)", refMaxPhase-3)
	case o.scenario == "cluster" && (o.url != "" || o.target != "parley"):
		return nil, errors.New("-scenario cluster starts its own servers: no -url, -target parley")
	case o.scenario == "cluster" && (o.cluster.Nodes < 1 || o.cluster.NATSServers < 1 || o.cluster.Replicas < 1 || o.cluster.Replicas > o.cluster.NATSServers):
		return nil, errors.New("want -nodes >= 1, -nats-servers >= 1 and 1 <= -nats-replicas <= -nats-servers")
	case o.search.Queries < 1:
		return nil, errors.New("-search-queries must be >= 1")
	case o.target != "parley" && o.target != "centrifugo":
		return nil, fmt.Errorf("-target %q: want parley or centrifugo", o.target)
	case f.Rooms < 1 || f.Members < 1 || f.Senders < 1 || f.Senders > f.Members:
		return nil, errors.New("want -rooms >= 1, -members >= 1 and 1 <= -senders <= -members")
	case f.Size < 48 || f.Size > 4000:
		return nil, errors.New("-size: want 48..4000 bytes (the content carries a ~45-byte header)")
	case o.rate <= 0 || o.startRate <= 0:
		return nil, errors.New("-rate and -start-rate must be > 0")
	case o.maxSteps < 1 || o.maxSteps > refMaxPhase-1:
		return nil, fmt.Errorf("-max-steps: want 1..%d", refMaxPhase-1)
	case o.idle.Conns < 1:
		return nil, errors.New("-conns must be >= 1")
	}
	return o, nil
}

func run() error {
	o, err := parseFlags()
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if o.compare != "" {
		return runCompare(o)
	}
	if o.scenario == "persist" || o.scenario == "search" {
		// The persistence actor runs beside the rooms in the server, not
		// beside a generator: the persist scenario takes every cpu the
		// server and the generator would have had.
		o.clientCPUs, err = unionCPUs(o.serverCPUs, o.clientCPUs)
		if err != nil {
			return err
		}
	}
	if o.clientCPUs != "" {
		if err := pinSelf(o.clientCPUs); err != nil {
			fmt.Fprintln(os.Stderr, "bench: running unpinned:", err)
			o.clientCPUs = ""
		}
	}
	if o.clientProcs > 0 {
		runtime.GOMAXPROCS(o.clientProcs)
	}
	raiseNoFile()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	prog := startProgress(o.quiet)
	defer prog.stop()

	res := &result{Scenario: o.scenario, Target: o.target, Started: time.Now().UTC(), ClientCPUs: o.clientCPUs,
		Flags: o.flagValues, Batch: o.batch && o.target == "parley"}

	mon := &monitor{serverPID: o.serverPID, metricsURL: o.metricsURL}
	res.ServerPID = o.serverPID
	var srv *serverProc
	stopServer := sync.OnceValue(func() error {
		if srv == nil {
			return nil
		}
		return srv.stop()
	})
	if o.scenario != "persist" && o.scenario != "search" && o.scenario != "cluster" && o.url == "" {
		prog.set(func() (float64, string) { return -1, "building and starting the server" })
		pprofAddr := ""
		if o.serverProfile != "" {
			port, err := freeLoopbackPort()
			if err != nil {
				return err
			}
			pprofAddr = fmt.Sprintf("127.0.0.1:%d", port)
			o.pprofURL = "http://" + pprofAddr + "/debug/pprof"
		}
		srv, err = startServer(ctx, o.serverCPUs, strings.Fields(o.serverArgs), pprofAddr)
		if err != nil {
			return err
		}
		o.url = srv.url()
		mon.serverPID = srv.pid()
		res.ServerPID = srv.pid()
		res.ServerStarted = true
		res.ServerCPUs = srv.pinned
	}
	defer stopServer()
	// Ctrl-C: stop the server we started, then leave.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { // ends the process on the first signal
		<-sig
		prog.stop()
		fmt.Fprintln(os.Stderr, "bench: interrupted; stopping")
		_ = stopServer()
		atExit.run()
		os.Exit(130)
	}()
	res.URL = o.url

	var target Target
	switch o.target {
	case "parley":
		target = &parleyTarget{url: o.url, batch: o.batch}
	case "centrifugo":
		target = &centrifugoTarget{url: o.url}
	}
	tag := randomTag()

	var runErr error
	switch o.scenario {
	case "fanout":
		runErr = runFanout(ctx, o, target, tag, mon, prog, res)
	case "ramp":
		runErr = runRamp(ctx, o, target, tag, mon, prog, res)
	case "idle":
		var profErr chan error
		if o.serverProfile != "" {
			if o.pprofURL == "" {
				return errors.New("-server-profile: give -pprof-url for a server the bench did not start")
			}
			// The storm's first seconds, where its cost per connection shows.
			profErr = make(chan error, 1)
			o.idle.OnConnect = func() { go func() { profErr <- fetchProfile(o.pprofURL, 5*time.Second, o.serverProfile) }() }
		}
		res.Idle, runErr = runIdle(ctx, target, o.idle, tag, mon, prog)
		if profErr != nil {
			if err := <-profErr; err != nil {
				prog.logf("server profile: %v", err)
			}
		}
	case "persist":
		res.Persist, runErr = runPersist(ctx, o.persist, prog)
	case "search":
		res.Search, runErr = runSearch(ctx, o.search, prog)
	case "cluster":
		res.Cluster, runErr = runCluster(ctx, o, tag, prog)
		if errors.Is(runErr, errNoPostgres) {
			prog.stop()
			fmt.Fprintf(os.Stderr, "bench: -scenario cluster SKIPPED: %v\n", runErr)
			return nil
		}
	}
	prog.stop()
	if srv != nil {
		if err := stopServer(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: stopping the server:", err)
		}
		res.ServerLogLines, res.ServerLogTail = srv.finalLines, srv.finalTail
	}
	if runErr != nil {
		if srv != nil && srv.finalLines > 0 {
			fmt.Fprintf(os.Stderr, "bench: server log (last lines):\n%s\n", srv.finalTail)
		}
		return runErr
	}
	printResult(os.Stdout, res)
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, res); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", o.jsonPath)
	}
	if o.plotPath != "" {
		title := fmt.Sprintf("%s %s", res.Target, res.Scenario)
		if err := writePlot(o.plotPath, title, seriesOf(res, res.Target), nil); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", o.plotPath)
	}
	return nil
}

func runFanout(ctx context.Context, o *options, target Target, tag string, mon *monitor, prog *progress, res *result) error {
	l, err := newLoad(ctx, target, o.fanout, tag, mon, prog)
	if err != nil {
		return err
	}
	defer l.close()
	var profErr chan error
	if o.serverProfile != "" {
		if o.pprofURL == "" {
			return errors.New("-server-profile: give -pprof-url for a server the bench did not start")
		}
		profErr = make(chan error, 1)
		l.onWindow = func(d time.Duration) {
			go func() { profErr <- fetchProfile(o.pprofURL, d, o.serverProfile) }() // ends with the profile
		}
	}
	r := l.runPhase(0, o.rate, o.fanout.Warmup, o.fanout.Duration, prog)
	if profErr != nil {
		if err := <-profErr; err != nil {
			prog.logf("server profile: %v", err)
		} else {
			prog.logf("server CPU profile of the window: %s (go tool pprof -top %s)", o.serverProfile, o.serverProfile)
		}
	}
	judge(&r, o.p99Bound)
	res.Fanout = &r
	res.SetupErrors = nonEmpty(l.setupErrs)
	return nil
}

func runRamp(ctx context.Context, o *options, target Target, tag string, mon *monitor, prog *progress, res *result) error {
	if _, err := rateStepper(o.step); err != nil {
		return err
	}
	l, err := newLoad(ctx, target, o.fanout, tag, mon, prog)
	if err != nil {
		return err
	}
	defer l.close()
	res.Ramp, err = rampSteps(ctx, o, l, 0, prog)
	res.SetupErrors = nonEmpty(l.setupErrs)
	return err
}

// rampSteps runs the ramp's steps on l, their phase ids from firstPhase.
func rampSteps(ctx context.Context, o *options, l *load, firstPhase int, prog *progress) (*rampResult, error) {
	next, err := rateStepper(o.step)
	if err != nil {
		return nil, err
	}
	rp := &rampResult{P99BoundMs: float64(o.p99Bound) / 1e6, Knee: -1}
	rate := o.startRate
	for step := 0; ; step++ {
		if ctx.Err() != nil {
			rp.StopReason = "timeout (-timeout)"
			break
		}
		r := l.runPhase(firstPhase+step, rate, o.stepWarmup, o.stepDuration, prog)
		judge(&r, o.p99Bound)
		rp.Steps = append(rp.Steps, r)
		verdict := "ok"
		if !r.Pass {
			verdict = "FAIL: " + r.FailReason
		}
		prog.logf("step %d: %g msg/s/sender, %s deliveries/s, p99 %s: %s", step, rate, human(r.Delivered), ms(r.Latency.P99), verdict)
		if !r.Pass {
			rp.StopReason = fmt.Sprintf("step %d failed: %s", step, r.FailReason)
			break
		}
		if step+1 >= o.maxSteps {
			rp.StopReason = fmt.Sprintf("-max-steps %d reached without failing", o.maxSteps)
			break
		}
		nr := math.Round(next(rate)*100) / 100
		if nr > o.maxRate*(1+1e-9) {
			rp.StopReason = fmt.Sprintf("-max-rate %g reached without failing", o.maxRate)
			break
		}
		rate = nr
	}
	if k := knee(rp.Steps); k >= 0 {
		s := rp.Steps[k]
		rp.Knee, rp.KneeRate, rp.KneeMsgs, rp.KneeDeliveries, rp.KneeP99 = k, s.RatePerSender, s.Offered, s.Delivered, s.Latency.P99
	}
	return rp, nil
}

func runCompare(o *options) error {
	var rs []*result
	for _, p := range strings.Split(o.compare, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		r, err := readResult(p)
		if err != nil {
			return err
		}
		rs = append(rs, r)
	}
	if err := printCompare(os.Stdout, rs); err != nil {
		return err
	}
	if o.plotPath != "" {
		var series []plotSeries
		count := map[string]int{}
		for _, r := range rs {
			count[r.Target]++
			series = append(series, seriesOf(r, fmt.Sprintf("%s #%d", r.Target, count[r.Target]))...)
		}
		bars, err := barsOf(rs)
		if err != nil {
			return err
		}
		if err := writePlot(o.plotPath, rs[0].Scenario, series, bars); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: wrote %s\n", o.plotPath)
	}
	return nil
}

func nonEmpty(m map[string]int64) map[string]int64 {
	if len(m) == 0 {
		return nil
	}
	return m
}

// randomTag makes this run's user and room names unique (5 of [a-z0-9]).
func randomTag() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}
