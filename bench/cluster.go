package main

// The cluster scenario: the broker path's cost against single-node. With
// the same generator and load shape as fanout and ramp, it measures
// single-node parley (SQLite), then -nodes parley nodes sharing their
// rooms through NATS JetStream (-nats-servers servers in one child
// process, -nats-replicas copies of each message) with a throwaway
// PostgreSQL as their store, clients spread over the nodes (connection i
// on node i mod nodes, so every room has members and senders on each).
// For each: p50/p99 at the fixed load (-rate, like fanout), then the knee
// (a ramp, like -scenario ramp), and the servers' CPU per delivery. Every
// server process is pinned to -server-cpus, so that both setups have the
// same cores; the CPU is summed over the nodes and NATS (PostgreSQL is
// shown apart). The fixed load runs first: a ramp's failing step leaves
// backlogs (the stream's consumers, the store's writer) that would tax it.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"parley/internal/pgrun"
)

type clusterConfig struct {
	Nodes, NATSServers, Replicas int
	SkipSingle                   bool
	// SaturateRate, when positive, adds a last phase at this rate per
	// sender, above what the servers can take: what they deliver per
	// second of their CPU then is their capacity per core, a figure a
	// machine shared with other work still gives (the knee needs the
	// core to itself).
	SaturateRate float64
}

// errNoPostgres ends the scenario early, as a skip, without PostgreSQL.
var errNoPostgres = errors.New("PostgreSQL is not installed (no initdb in PATH, PARLEY_PG_BIN or /usr/lib/postgresql/*/bin): the cluster needs it as its store; install Debian's postgresql package")

type clusterResult struct {
	Nodes       int            `json:"nodes"`
	NATSServers int            `json:"nats_servers"`
	Replicas    int            `json:"nats_replicas"`
	Setups      []clusterSetup `json:"setups"`
	// Started are the processes and Dirs the temporary directories the
	// scenario made, all gone when it returns (its test checks).
	Started []int    `json:"started_pids"`
	Dirs    []string `json:"temp_dirs"`
}

type clusterSetup struct {
	Name  string       `json:"name"` // "single-node" or "cluster"
	Fixed *phaseResult `json:"fixed"`
	Ramp  *rampResult  `json:"ramp"`
	// CPU per delivery (µs of CPU), servers = nodes + NATS; with
	// PostgreSQL too. At the fixed load, and at the knee's step.
	FixedCPUPerDeliveryUs   float64          `json:"fixed_cpu_us_per_delivery"`
	FixedCPUPerDeliveryPGUs float64          `json:"fixed_cpu_us_per_delivery_with_pg"`
	KneeCPUPerDeliveryUs    float64          `json:"knee_cpu_us_per_delivery"`
	KneeCPUPerDeliveryPGUs  float64          `json:"knee_cpu_us_per_delivery_with_pg"`
	SetupErrors             map[string]int64 `json:"setup_errors,omitempty"`
	// The saturating phase (SaturateRate), and what the servers (nodes +
	// NATS) deliver, and take in, per second of their CPU in it.
	Saturated           *phaseResult `json:"saturated,omitempty"`
	SatDeliveriesPerCPU float64      `json:"saturated_deliveries_per_cpu_second"`
	SatMessagesPerCPU   float64      `json:"saturated_messages_per_cpu_second"`
	SatCPUPerDeliveryUs float64      `json:"saturated_cpu_us_per_delivery"`
}

// benchSetup is the servers of one setup, started.
type benchSetup struct {
	name   string
	target Target
	mon    *monitor
	stop   func() error
}

func runCluster(ctx context.Context, o *options, tag string, prog *progress) (*clusterResult, error) {
	if pgrun.BinDir() == "" {
		return nil, errNoPostgres
	}
	cr := &clusterResult{Nodes: o.cluster.Nodes, NATSServers: o.cluster.NATSServers, Replicas: o.cluster.Replicas}
	starts := []func(context.Context, *options, *clusterResult, *progress) (*benchSetup, error){startSingleSetup, startClusterSetup}
	if o.cluster.SkipSingle {
		starts = starts[1:]
	}
	for _, start := range starts {
		s, err := start(ctx, o, cr, prog)
		if err != nil {
			return cr, err
		}
		cs, runErr := measureSetup(ctx, o, s, tag, prog)
		stopErr := s.stop()
		if runErr != nil {
			return cr, fmt.Errorf("%s: %w", s.name, runErr)
		}
		if stopErr != nil {
			prog.logf("%s: stopping: %v", s.name, stopErr)
		}
		cr.Setups = append(cr.Setups, *cs)
	}
	return cr, nil
}

// measureSetup runs the fixed load, the ramp and the saturating phase on
// one setup (phase ids 0, 1..steps, steps+1).
func measureSetup(ctx context.Context, o *options, s *benchSetup, tag string, prog *progress) (*clusterSetup, error) {
	l, err := newLoad(ctx, s.target, o.fanout, tag, s.mon, prog)
	if err != nil {
		return nil, err
	}
	defer l.close()
	fixed := l.runPhase(0, o.rate, o.fanout.Warmup, o.fanout.Duration, prog)
	judge(&fixed, o.p99Bound)
	prog.logf("%s fixed %g msg/s/sender: %s deliveries/s, p50 %s, p99 %s, server cpu %s", s.name, o.rate,
		human(fixed.Delivered), ms(fixed.Latency.P50), ms(fixed.Latency.P99), pct(fixed.ServerCPU))
	ramp, err := rampSteps(ctx, o, l, 1, prog)
	if err != nil {
		return nil, err
	}
	cs := &clusterSetup{Name: s.name, Fixed: &fixed, Ramp: ramp, SetupErrors: nonEmpty(l.setupErrs)}
	cs.FixedCPUPerDeliveryUs, cs.FixedCPUPerDeliveryPGUs = clusterCPUPerDelivery(&fixed)
	cs.KneeCPUPerDeliveryUs, cs.KneeCPUPerDeliveryPGUs = -1, -1
	if ramp.Knee >= 0 {
		cs.KneeCPUPerDeliveryUs, cs.KneeCPUPerDeliveryPGUs = clusterCPUPerDelivery(&ramp.Steps[ramp.Knee])
	}
	if o.cluster.SaturateRate > 0 {
		// Last: the backlog it leaves would tax whatever came after.
		sat := l.runPhase(1+len(ramp.Steps), o.cluster.SaturateRate, o.fanout.Warmup, o.fanout.Duration, prog)
		cs.Saturated = &sat
		cs.SatCPUPerDeliveryUs, _ = clusterCPUPerDelivery(&sat)
		if sat.ServerCPU > 0 {
			cs.SatDeliveriesPerCPU = sat.Delivered / (sat.ServerCPU / 100)
			cs.SatMessagesPerCPU = sat.Acked / (sat.ServerCPU / 100)
		}
		prog.logf("%s saturated at %g msg/s/sender: %s deliveries/s, %s acked msg/s, server cpu %s: %s deliveries per cpu-second",
			s.name, o.cluster.SaturateRate, human(sat.Delivered), human(sat.Acked), pct(sat.ServerCPU), human(cs.SatDeliveriesPerCPU))
	}
	return cs, nil
}

// clusterCPUPerDelivery is the servers' CPU time per delivery in µs (see
// cpuPerDelivery): nodes and NATS, and with PostgreSQL; -1 when unknown.
func clusterCPUPerDelivery(r *phaseResult) (servers, withPG float64) {
	if r.ServerCPU < 0 || r.Delivered <= 0 {
		return -1, -1
	}
	pg := *r
	pg.ServerCPU += r.ServerCPUParts["postgres"]
	return cpuPerDelivery(r), cpuPerDelivery(&pg)
}

func startSingleSetup(ctx context.Context, o *options, cr *clusterResult, prog *progress) (*benchSetup, error) {
	prog.set(func() (float64, string) { return -1, "single-node: building and starting parley" })
	srv, err := startServer(ctx, o.serverCPUs, strings.Fields(o.serverArgs), "")
	if err != nil {
		return nil, err
	}
	cr.Started = append(cr.Started, srv.pid())
	cr.Dirs = append(cr.Dirs, srv.dir)
	remove := atExit.add(func() { _ = srv.stop() })
	pid := srv.pid()
	return &benchSetup{
		name:   "single-node",
		target: &parleyTarget{url: srv.url(), batch: o.batch},
		mon:    &monitor{parts: []cpuPart{{name: "nodes", server: true, pids: func() []int { return []int{pid} }}}},
		stop: func() error {
			defer remove()
			return srv.stop()
		},
	}, nil
}

func startClusterSetup(ctx context.Context, o *options, cr *clusterResult, prog *progress) (s *benchSetup, err error) {
	var stops []func() error // in the order to run them
	stopAll := func() error {
		var errs []error
		for _, f := range stops {
			errs = append(errs, f())
		}
		return errors.Join(errs...)
	}
	remove := atExit.add(func() { _ = stopAll() })
	defer func() {
		if err != nil {
			_ = stopAll()
			remove()
		}
	}()

	prog.set(func() (float64, string) {
		return -1, fmt.Sprintf("cluster: starting %d NATS servers and PostgreSQL", o.cluster.NATSServers)
	})
	nats, err := startNATS(o.serverCPUs, o.cluster.NATSServers)
	if err != nil {
		return nil, err
	}
	cr.Started = append(cr.Started, nats.pid())
	cr.Dirs = append(cr.Dirs, nats.dir)
	pg, err := pgrun.Start(pgrun.Options{CPUs: o.serverCPUs, Durable: true})
	if err != nil {
		_ = nats.stop()
		return nil, err
	}
	cr.Dirs = append(cr.Dirs, pg.Dir())
	cr.Started = append(cr.Started, pg.PIDs()...)
	// Nodes first (they drain into NATS and PostgreSQL), then NATS, then
	// PostgreSQL.
	var nodes []*serverProc
	stops = append(stops, func() error {
		var errs []error
		for _, n := range nodes {
			errs = append(errs, n.stop())
		}
		return errors.Join(errs...)
	}, nats.stop, pg.Close)
	_, dsn, err := pg.CreateDB(ctx)
	if err != nil {
		return nil, err
	}
	var urls []string
	for i := range o.cluster.Nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		prog.set(func() (float64, string) {
			return -1, fmt.Sprintf("cluster: building and starting parley node %d of %d", i+1, o.cluster.Nodes)
		})
		args := append([]string{"-db", dsn, "-nats", nats.urls, "-node-id", fmt.Sprintf("bench-node-%d", i+1),
			"-nats-replicas", fmt.Sprint(o.cluster.Replicas)}, strings.Fields(o.serverArgs)...)
		n, err := startServer(ctx, o.serverCPUs, args, "")
		if err != nil {
			return nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		nodes = append(nodes, n)
		cr.Started = append(cr.Started, n.pid())
		cr.Dirs = append(cr.Dirs, n.dir)
		urls = append(urls, n.url())
	}
	var targets []Target
	var nodePIDs []int
	for i, u := range urls {
		targets = append(targets, &parleyTarget{url: u, batch: o.batch})
		nodePIDs = append(nodePIDs, nodes[i].pid())
	}
	natsPID := nats.pid()
	return &benchSetup{
		name:   fmt.Sprintf("cluster (%d nodes)", o.cluster.Nodes),
		target: &spreadTarget{targets: targets},
		mon: &monitor{parts: []cpuPart{
			{name: "nodes", server: true, pids: func() []int { return nodePIDs }},
			{name: "nats", server: true, pids: func() []int { return []int{natsPID} }},
			{name: "postgres", pids: pg.PIDs},
		}},
		stop: func() error {
			defer remove()
			return stopAll()
		},
	}, nil
}

// spreadTarget spreads connections over several servers: connection i on
// targets[i mod len].
type spreadTarget struct{ targets []Target }

func (t *spreadTarget) Name() string { return t.targets[0].Name() }

func (t *spreadTarget) Dial(ctx context.Context, i int, h Handler) (Client, error) {
	return t.targets[i%len(t.targets)].Dial(ctx, i, h)
}

func printCluster(tw *tabwriter.Writer, r *result) {
	c := r.Cluster
	if len(c.Setups) == 0 {
		fmt.Fprintf(tw, "\ncluster: no setup was measured\n")
		return
	}
	f0 := c.Setups[0].Fixed
	fmt.Fprintf(tw, "\ncluster: %d rooms x %d members, %d senders/room, %d-byte messages, %s; cluster = %d nodes, %d NATS servers (R%d), PostgreSQL; servers on cpus %s, generator on cpus %s\n",
		f0.Rooms, f0.Members, f0.Senders, f0.Size, protocolOf(r), c.Nodes, c.NATSServers, c.Replicas, orNone(r.Flags["server-cpus"]), orNone(r.ClientCPUs))
	for _, s := range c.Setups {
		fmt.Fprintf(tw, "\n%s, fixed load %g msg/s per sender:\n", s.Name, s.Fixed.RatePerSender)
		printPhase(func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, a...)...) }, s.Fixed)
		if len(s.Fixed.ServerCPUParts) > 0 {
			fmt.Fprintf(tw, "  cpu by part\t%s\n", cpuPartsString(s.Fixed.ServerCPUParts))
		}
		printRamp(tw, &result{Target: r.Target, Ramp: s.Ramp, Batch: r.Batch}, "on "+s.Name)
		if sat := s.Saturated; sat != nil {
			fmt.Fprintf(tw, "\n%s, saturated at %g msg/s per sender (offered above capacity):\n", s.Name, sat.RatePerSender)
			printPhase(func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, a...)...) }, sat)
			if len(sat.ServerCPUParts) > 0 {
				fmt.Fprintf(tw, "  cpu by part\t%s\n", cpuPartsString(sat.ServerCPUParts))
			}
		}
	}
	fmt.Fprintf(tw, "\nsummary\t")
	for _, s := range c.Setups {
		fmt.Fprintf(tw, "%s\t", s.Name)
	}
	if len(c.Setups) == 2 {
		fmt.Fprintf(tw, "cluster / single")
	}
	fmt.Fprintln(tw)
	line := func(name string, get func(*clusterSetup) float64, format func(float64) string) {
		fmt.Fprintf(tw, "  %s\t", name)
		var v []float64
		for i := range c.Setups {
			x := get(&c.Setups[i])
			v = append(v, x)
			fmt.Fprintf(tw, "%s\t", format(x))
		}
		if len(v) == 2 && v[0] > 0 && v[1] >= 0 {
			fmt.Fprintf(tw, "%.2fx", v[1]/v[0])
		}
		fmt.Fprintln(tw)
	}
	us := func(v float64) string {
		if v < 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f µs", v)
	}
	knee := func(g func(*rampResult) float64) func(*clusterSetup) float64 {
		return func(s *clusterSetup) float64 {
			if s.Ramp == nil || s.Ramp.Knee < 0 {
				return -1
			}
			return g(s.Ramp)
		}
	}
	orNA := func(f func(float64) string) func(float64) string {
		return func(v float64) string {
			if v < 0 {
				return "none"
			}
			return f(v)
		}
	}
	line("knee rate/sender", knee(func(r *rampResult) float64 { return r.KneeRate }), orNA(func(v float64) string { return fmt.Sprintf("%g", v) }))
	line("knee deliveries/s", knee(func(r *rampResult) float64 { return r.KneeDeliveries }), orNA(human))
	line("fixed: delivered/s", func(s *clusterSetup) float64 { return s.Fixed.Delivered }, human)
	line("fixed: p50", func(s *clusterSetup) float64 { return s.Fixed.Latency.P50 }, ms)
	line("fixed: p99", func(s *clusterSetup) float64 { return s.Fixed.Latency.P99 }, ms)
	line("fixed: ack p50", func(s *clusterSetup) float64 { return s.Fixed.AckLatency.P50 }, ms)
	line("fixed: ack p99", func(s *clusterSetup) float64 { return s.Fixed.AckLatency.P99 }, ms)
	line("fixed: server cpu (nodes+NATS)", func(s *clusterSetup) float64 { return s.Fixed.ServerCPU }, pct)
	line("fixed: cpu/delivery (nodes+NATS)", func(s *clusterSetup) float64 { return s.FixedCPUPerDeliveryUs }, us)
	line("fixed: cpu/delivery (+PostgreSQL)", func(s *clusterSetup) float64 { return s.FixedCPUPerDeliveryPGUs }, us)
	line("knee: cpu/delivery (nodes+NATS)", func(s *clusterSetup) float64 { return s.KneeCPUPerDeliveryUs }, us)
	line("knee: cpu/delivery (+PostgreSQL)", func(s *clusterSetup) float64 { return s.KneeCPUPerDeliveryPGUs }, us)
	if c.Setups[0].Saturated != nil {
		line("saturated: delivered/s", func(s *clusterSetup) float64 { return s.Saturated.Delivered }, human)
		line("saturated: acked msg/s", func(s *clusterSetup) float64 { return s.Saturated.Acked }, human)
		line("saturated: server cpu (nodes+NATS)", func(s *clusterSetup) float64 { return s.Saturated.ServerCPU }, pct)
		line("saturated: deliveries per cpu-second", func(s *clusterSetup) float64 { return s.SatDeliveriesPerCPU }, human)
		line("saturated: messages per cpu-second", func(s *clusterSetup) float64 { return s.SatMessagesPerCPU }, human)
		line("saturated: cpu/delivery (nodes+NATS)", func(s *clusterSetup) float64 { return s.SatCPUPerDeliveryUs }, us)
	}
	line("fixed: lost + duplicated", func(s *clusterSetup) float64 { return float64(s.Fixed.Lost + s.Fixed.Duplicated) }, func(v float64) string { return fmt.Sprintf("%.0f", v) })
}

func cpuPartsString(parts map[string]float64) string {
	var b strings.Builder
	for _, k := range []string{"nodes", "nats", "postgres"} {
		if v, ok := parts[k]; ok {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %s", k, pct(v))
		}
	}
	return b.String()
}
