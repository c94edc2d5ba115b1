package main

// Results: the summary table on stdout, the JSON file, and the side-by-side
// comparison of several JSON files (-compare).

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// result is everything one run measured; -json writes it as is.
type result struct {
	Scenario      string            `json:"scenario"`
	Target        string            `json:"target"`
	URL           string            `json:"url,omitempty"`
	Started       time.Time         `json:"started"`
	ServerPID     int               `json:"server_pid,omitempty"`
	ServerStarted bool              `json:"server_started_by_bench"`
	ServerCPUs    string            `json:"server_cpus,omitempty"` // pinned to, when the bench started it
	ClientCPUs    string            `json:"client_cpus,omitempty"`
	Flags         map[string]string `json:"flags"`
	Batch         bool              `json:"batch"`

	Fanout  *phaseResult   `json:"fanout,omitempty"`
	Ramp    *rampResult    `json:"ramp,omitempty"`
	Idle    *idleResult    `json:"idle,omitempty"`
	Persist *persistResult `json:"persist,omitempty"`
	Search  *searchResult  `json:"search,omitempty"`
	Cluster *clusterResult `json:"cluster,omitempty"`

	SetupErrors    map[string]int64 `json:"setup_errors,omitempty"`
	ServerLogLines int              `json:"server_log_lines,omitempty"`
	ServerLogTail  string           `json:"server_log_tail,omitempty"`
}

type rampResult struct {
	P99BoundMs     float64       `json:"p99_bound_ms"`
	Steps          []phaseResult `json:"steps"`
	Knee           int           `json:"knee_step"` // index into Steps; -1: the first step failed
	KneeRate       float64       `json:"knee_rate_per_sender"`
	KneeMsgs       float64       `json:"knee_msgs_per_sec"`
	KneeDeliveries float64       `json:"knee_deliveries_per_sec"`
	KneeP99        float64       `json:"knee_p99_ms"`
	StopReason     string        `json:"stop_reason"`
}

func writeJSON(path string, r *result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readResult(path string) (*result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

func ms(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.2f ms", v)
	}
}

func pct(v float64) string {
	if v < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%%", v)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func printResult(w io.Writer, r *result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, a...)...) }
	where := r.URL
	switch {
	case r.ServerStarted:
		where += fmt.Sprintf(" (started by the bench, pid %d, cpus %s; generator cpus %s)", r.ServerPID, orNone(r.ServerCPUs), orNone(r.ClientCPUs))
	case r.ServerPID > 0:
		where += fmt.Sprintf(" (server pid %d; generator cpus %s)", r.ServerPID, orNone(r.ClientCPUs))
	default:
		where += fmt.Sprintf(" (generator cpus %s)", orNone(r.ClientCPUs))
	}
	switch {
	case r.Fanout != nil:
		f := r.Fanout
		fmt.Fprintf(tw, "\n%s fanout: %d rooms x %d members, %d senders/room at %g msg/s each, %d-byte messages, %s\n",
			r.Target, f.Rooms, f.Members, f.Senders, f.RatePerSender, f.Size, protocolOf(r))
		fmt.Fprintf(tw, "  %s\n", where)
		printPhase(row, f)
	case r.Ramp != nil:
		printRamp(tw, r, where)
	case r.Idle != nil:
		i := r.Idle
		fmt.Fprintf(tw, "\n%s idle: %d connections over %d rooms\n  %s\n", r.Target, i.Requested, i.Rooms, where)
		row("reached", "%s of %s connections", commas(i.Reached), commas(i.Requested))
		if i.LimitMet != "" {
			row("limit met", "%s", i.LimitMet)
		}
		row("connect time", "%.2f s (%.0f connections/s, 256 at a time)", i.ConnectSeconds, i.ConnsPerSec)
		row("alive at measure", "%s", commas(i.AliveAtMeasure))
		if len(i.Dropped) > 0 {
			row("dropped before", "%s", formatCountsInt(i.Dropped))
		}
		if i.RSSPerConnKB >= 0 {
			row("server RSS", "%.1f MB before, %.1f MB after (%s)", i.RSSBeforeMB, i.RSSAfterMB, i.RSSSource)
			row("RSS per connection", "%.1f KB", i.RSSPerConnKB)
			if i.HoldSeconds > 0 {
				row("peak over the hold", "%.1f MB, %.1f KB per connection (%.0f s)", i.RSSPeakMB, i.RSSPeakPerKB, i.HoldSeconds)
			}
		} else {
			row("RSS per connection", "not measured (give -server-pid or -metrics-url for a running server)")
		}
		row("generator RSS/conn", "%.1f KB", i.ClientPerConn)
		row("cpu while connecting", "server %s, generator %s of one core", pct(i.ServerCPU), pct(i.ClientCPU))
		if len(i.ConnectErrors) > 0 {
			row("connect errors", "%s", formatCountsInt(i.ConnectErrors))
		}
	case r.Persist != nil:
		p := r.Persist
		fmt.Fprintf(tw, "\npersist: the persistence actor alone, synchronous=%s\n", p.Synchronous)
		row("batched (actor)", "%s messages in %.2f s = %s msgs/s committed (%d batches, %.0f per batch, %d queue-full retries, %d failed)",
			commas(p.Messages), p.Seconds, human(p.CommittedPerSec), p.Batches, p.AvgBatch, p.FullRetries, p.Failed)
		if p.AutocommitMessages > 0 {
			row("autocommit", "%s messages in %.2f s = %s msgs/s (one INSERT per transaction)",
				commas(p.AutocommitMessages), p.AutocommitSeconds, human(p.AutocommitPerSec))
			row("ratio", "%.1fx", p.Ratio)
		}
		row("cpu", "%s of one core (the process, pinned to cpus %s)", pct(p.ClientCPU), orNone(r.ClientCPUs))
	case r.Cluster != nil:
		printCluster(tw, r)
	case r.Search != nil:
		s := r.Search
		fmt.Fprintf(tw, "\nsearch: Search on %s stored messages (%.0f MB, index %.0f MB), %d queries per shape, limit 20\n", commas(s.Messages), float64(s.DBBytes)/1e6, float64(s.IndexBytes)/1e6, s.Queries)
		if s.FillSeconds > 0 {
			row("fill", "%.1f s = %s msgs/s through the persistence writer; the index caught up %.1f s after the last commit", s.FillSeconds, human(s.FillPerSec), s.IndexLagSeconds)
		}
		if s.IndexWaitSeconds >= 0.05 {
			row("index catch-up at open", "%.1f s", s.IndexWaitSeconds)
		}
		for _, sh := range s.Shapes {
			row(sh.Name, "p50 %.2f ms, p99 %.2f ms, max %.2f ms (%s matches; e.g. %q)", sh.P50, sh.P99, sh.Max, commas(sh.Matches), sh.Example)
		}
	}
	if len(r.SetupErrors) > 0 {
		row("errors outside the window", "%s", formatCounts(r.SetupErrors))
	}
	if r.ServerLogLines > 0 {
		row("server output", "%d lines (its -log-level is warn); last:\n%s", r.ServerLogLines, indent(r.ServerLogTail, "    "))
	}
}

func protocolOf(r *result) string {
	switch {
	case r.Target != "parley":
		return r.Target + " JSON protocol"
	case r.Batch:
		return "batch subprotocol"
	}
	return "one JSON object per frame"
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func printPhase(row func(k, format string, a ...any), f *phaseResult) {
	row("window", "%.1f s", f.WindowSeconds)
	row("offered", "%s msg/s (nominal %s)", human(f.Offered), human(f.OfferedNominal))
	row("delivered", "%s deliveries/s in %s frames/s (%.1f messages per frame)", human(f.Delivered), human(f.Frames), f.MsgsPerFrame)
	row("acked", "%s msg/s", human(f.Acked))
	l := f.Latency
	row("latency", "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%s samples)", ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), commas(int(l.Count)))
	a := f.AckLatency
	row("ack latency", "p50 %s  p99 %s  max %s", ms(a.P50), ms(a.P99), ms(a.Max))
	row("lost", "%s of %s expected deliveries (received %s)", commas(int(f.Lost)), commas(int(f.Expected)), commas(int(f.Received)))
	row("duplicated", "%s", commas(int(f.Duplicated)))
	row("rejected", "%s sends answered with an Error", commas(int(f.Rejected)))
	row("errors", "%s", orNone(formatCounts(f.Errors)))
	row("disconnects", "%s", orNone(formatCountsInt(f.Disconnects)))
	if len(f.SendErrors) > 0 {
		row("send errors", "%s", formatCountsInt(f.SendErrors))
	}
	if f.Stale > 0 || f.Foreign > 0 {
		row("late/foreign", "%d after their phase's grace, %d not from this run", f.Stale, f.Foreign)
	}
	row("cpu", "server %s (%.2f µs per delivery), generator %s of one core", pct(f.ServerCPU), cpuPerDelivery(f), pct(f.ClientCPU))
	row("sender lag", "max %s behind schedule; one write took up to %s", ms(f.SenderLagMs), ms(f.SendWriteMs))
	if f.FailReason != "" {
		row("verdict", "FAIL: %s", f.FailReason)
	}
}

func printRamp(tw *tabwriter.Writer, r *result, where string) {
	rp := r.Ramp
	if len(rp.Steps) == 0 {
		fmt.Fprintf(tw, "\n%s ramp: no step ran\n", r.Target)
		return
	}
	s0 := rp.Steps[0]
	fmt.Fprintf(tw, "\n%s ramp: %d rooms x %d members, %d senders/room, %d-byte messages, %s, p99 bound %s\n",
		r.Target, s0.Rooms, s0.Members, s0.Senders, s0.Size, protocolOf(r), ms(rp.P99BoundMs))
	fmt.Fprintf(tw, "  %s\n", where)
	fmt.Fprintln(tw, "  step\trate/sender\toffered msg/s\tdelivered/s\tframes/s\tacked/s\tp50\tp99\tmax\tlost\trejected\tsrv cpu\tgen cpu\tverdict")
	for i, s := range rp.Steps {
		v := "ok"
		if !s.Pass {
			v = "FAIL: " + s.FailReason
		}
		fmt.Fprintf(tw, "  %d\t%g\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", i, s.RatePerSender, human(s.Offered), human(s.Delivered),
			human(s.Frames), human(s.Acked), ms(s.Latency.P50), ms(s.Latency.P99), ms(s.Latency.Max), s.Lost, s.Rejected, pct(s.ServerCPU), pct(s.ClientCPU), v)
	}
	if rp.Knee < 0 {
		fmt.Fprintf(tw, "  knee: none (the first step failed: %s)\n", rp.Steps[0].FailReason)
	} else {
		fmt.Fprintf(tw, "  knee: %g msg/s per sender = %s msg/s, %s deliveries/s (p99 %s)\n",
			rp.KneeRate, human(rp.KneeMsgs), human(rp.KneeDeliveries), ms(rp.KneeP99))
	}
	fmt.Fprintf(tw, "  stopped: %s\n", rp.StopReason)
}

// Comparison of several result files: grouped by target (parley,
// centrifugo...), medians within a group, ratio of the first group to the
// second.

type metric struct {
	name   string
	get    func(*result) (float64, bool)
	format func(float64) string
	better string // "higher" or "lower"
}

func fanoutOf(r *result) *phaseResult {
	if r.Fanout != nil {
		return r.Fanout
	}
	return nil
}

func metricsFor(scenario string) []metric {
	num := func(v float64) string { return human(v) }
	f := func(name string, get func(*phaseResult) float64, format func(float64) string, better string) metric {
		return metric{name, func(r *result) (float64, bool) {
			p := fanoutOf(r)
			if p == nil {
				return 0, false
			}
			return get(p), true
		}, format, better}
	}
	switch scenario {
	case "fanout":
		return []metric{
			f("offered msg/s", func(p *phaseResult) float64 { return p.Offered }, num, "higher"),
			f("delivered deliveries/s", func(p *phaseResult) float64 { return p.Delivered }, num, "higher"),
			f("frames/s", func(p *phaseResult) float64 { return p.Frames }, num, ""),
			f("acked msg/s", func(p *phaseResult) float64 { return p.Acked }, num, "higher"),
			f("p50", func(p *phaseResult) float64 { return p.Latency.P50 }, ms, "lower"),
			f("p90", func(p *phaseResult) float64 { return p.Latency.P90 }, ms, "lower"),
			f("p99", func(p *phaseResult) float64 { return p.Latency.P99 }, ms, "lower"),
			f("p99.9", func(p *phaseResult) float64 { return p.Latency.P999 }, ms, "lower"),
			f("max", func(p *phaseResult) float64 { return p.Latency.Max }, ms, "lower"),
			f("lost", func(p *phaseResult) float64 { return float64(p.Lost) }, num, "lower"),
			f("server cpu %", func(p *phaseResult) float64 { return p.ServerCPU }, pct, "lower"),
			f("server cpu µs per delivery", cpuPerDelivery, func(v float64) string { return fmt.Sprintf("%.2f", v) }, "lower"),
			f("generator cpu %", func(p *phaseResult) float64 { return p.ClientCPU }, pct, ""),
		}
	case "ramp":
		get := func(g func(*rampResult) float64) func(*result) (float64, bool) {
			return func(r *result) (float64, bool) {
				if r.Ramp == nil {
					return 0, false
				}
				return g(r.Ramp), true
			}
		}
		return []metric{
			{"knee rate/sender", get(func(r *rampResult) float64 { return r.KneeRate }), func(v float64) string { return fmt.Sprintf("%g", v) }, "higher"},
			{"knee msg/s", get(func(r *rampResult) float64 { return r.KneeMsgs }), num, "higher"},
			{"knee deliveries/s", get(func(r *rampResult) float64 { return r.KneeDeliveries }), num, "higher"},
			{"p99 at knee", get(func(r *rampResult) float64 { return r.KneeP99 }), ms, "lower"},
		}
	case "idle":
		get := func(g func(*idleResult) float64) func(*result) (float64, bool) {
			return func(r *result) (float64, bool) {
				if r.Idle == nil {
					return 0, false
				}
				return g(r.Idle), true
			}
		}
		return []metric{
			{"connections reached", get(func(i *idleResult) float64 { return float64(i.Reached) }), num, "higher"},
			{"RSS per connection KB", get(func(i *idleResult) float64 { return i.RSSPerConnKB }), func(v float64) string { return fmt.Sprintf("%.1f", v) }, "lower"},
			{"RSS peak per connection KB", get(func(i *idleResult) float64 { return i.RSSPeakPerKB }), func(v float64) string { return fmt.Sprintf("%.1f", v) }, "lower"},
			{"connect time s", get(func(i *idleResult) float64 { return i.ConnectSeconds }), func(v float64) string { return fmt.Sprintf("%.2f", v) }, "lower"},
		}
	case "persist":
		get := func(g func(*persistResult) float64) func(*result) (float64, bool) {
			return func(r *result) (float64, bool) {
				if r.Persist == nil {
					return 0, false
				}
				return g(r.Persist), true
			}
		}
		return []metric{
			{"committed msg/s", get(func(p *persistResult) float64 { return p.CommittedPerSec }), num, "higher"},
			{"autocommit msg/s", get(func(p *persistResult) float64 { return p.AutocommitPerSec }), num, ""},
			{"ratio", get(func(p *persistResult) float64 { return p.Ratio }), func(v float64) string { return fmt.Sprintf("%.1fx", v) }, "higher"},
		}
	}
	return nil
}

// cpuPerDelivery is the server's CPU time per delivery, in microseconds:
// its share of one core over the deliveries each second.
func cpuPerDelivery(p *phaseResult) float64 {
	if p.Delivered <= 0 || p.ServerCPU < 0 {
		return math.NaN()
	}
	return p.ServerCPU / 100 * 1e6 / p.Delivered
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type group struct {
	target string
	runs   []*result
}

// groupResults groups results by target, in order of first appearance.
func groupResults(rs []*result) []*group {
	var gs []*group
	for _, r := range rs {
		i := slices.IndexFunc(gs, func(g *group) bool { return g.target == r.Target })
		if i < 0 {
			gs = append(gs, &group{target: r.Target})
			i = len(gs) - 1
		}
		gs[i].runs = append(gs[i].runs, r)
	}
	return gs
}

func printCompare(w io.Writer, rs []*result) error {
	if len(rs) == 0 {
		return fmt.Errorf("-compare: no files")
	}
	sc := rs[0].Scenario
	for _, r := range rs {
		if r.Scenario != sc {
			return fmt.Errorf("-compare: mixes scenarios %s and %s", sc, r.Scenario)
		}
	}
	gs := groupResults(rs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "\n%s: median of", sc)
	for _, g := range gs {
		fmt.Fprintf(tw, " %d %s run(s);", len(g.runs), g.target)
	}
	fmt.Fprintln(tw)
	hdr := "  metric"
	for _, g := range gs {
		hdr += "\t" + g.target
	}
	if len(gs) >= 2 {
		hdr += fmt.Sprintf("\t%s/%s", gs[0].target, gs[1].target)
	}
	fmt.Fprintln(tw, hdr)
	for _, m := range metricsFor(sc) {
		line := "  " + m.name
		var meds []float64
		for _, g := range gs {
			var vals []float64
			for _, r := range g.runs {
				if v, ok := m.get(r); ok {
					vals = append(vals, v)
				}
			}
			med := median(vals)
			meds = append(meds, med)
			if math.IsNaN(med) {
				line += "\t-"
			} else {
				line += "\t" + m.format(med)
			}
		}
		if len(meds) >= 2 {
			if meds[1] != 0 && !math.IsNaN(meds[0]) && !math.IsNaN(meds[1]) {
				line += fmt.Sprintf("\t%.2fx", meds[0]/meds[1])
			} else {
				line += "\t-"
			}
			if m.better != "" {
				line += " (" + m.better + " is better)"
			}
		}
		fmt.Fprintln(tw, line)
	}
	return nil
}
