package main

// The fanout and ramp scenarios. R rooms of M members, the first S members
// of each room also senders. Connections are set up once; then one or more
// phases (a fanout run is one phase, a ramp one per step) each run an
// open-loop send schedule and account for every delivery.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

type fanoutConfig struct {
	Rooms, Members, Senders int
	Size                    int           // content bytes
	Warmup, Duration, Grace time.Duration // per phase
	MaxSendBatch            int           // due messages one sender writes in one system call at most
	ConnectConcurrency      int
}

// load is the set of connections of a fanout or ramp run.
type load struct {
	cfg     fanoutConfig
	target  Target
	tag     string // makes user and room names unique to this run
	members []*member
	senders []*sender
	mon     *monitor
	// onWindow, if set, is called when a phase's measured window starts,
	// with its length.
	onWindow func(time.Duration)

	setupErrMu sync.Mutex
	setupErrs  map[string]int64 // Error frames outside any phase
}

// member is one connection, and the Handler of its receive loop.
type member struct {
	l         *load
	idx, room int
	c         Client
	snd       *sender // nil unless this member also sends

	mu      sync.Mutex // guards what follows; the receive loop holds it per message
	ph      *phase     // nil between phases: nothing is recorded then
	seen    []bitset   // per local sender index, sequences received in ph
	lat     []int64    // latencies (ns) of the frame being read
	frameN  int64      // messages in the frame being read
	frameU  int64      // of which first deliveries
	dups    int64
	stale   int64 // messages of an earlier phase (arrived after its grace)
	foreign int64 // messages that are not this room's bench messages
}

// sender is the send side of a member.
type sender struct {
	m     *member
	gid   int // global sender index: room*Senders + local
	local int
	room  string

	// Per phase. sent is written by the send goroutine (atomically, for
	// the progress line); rejected/acked under m.mu.
	sent      atomic.Int64 // messages written, sequences 0..sent-1
	sendErr   error
	maxLag    int64 // ns the schedule was behind at worst
	maxWrite  int64 // ns one Send took at worst (a slow write delays the next sends)
	rejected  bitset
	nrejected int64
}

func roomName(tag string, r int) string { return fmt.Sprintf("bench-%s-r%d", tag, r) }

// newLoad connects and joins every member.
func newLoad(ctx context.Context, target Target, cfg fanoutConfig, tag string, mon *monitor, prog *progress) (*load, error) {
	l := &load{cfg: cfg, target: target, tag: tag, mon: mon, setupErrs: map[string]int64{}}
	n := cfg.Rooms * cfg.Members
	l.members = make([]*member, n)
	for i := range l.members {
		m := &member{l: l, idx: i, room: i / cfg.Members, seen: make([]bitset, cfg.Senders)}
		l.members[i] = m
		if k := i % cfg.Members; k < cfg.Senders {
			m.snd = &sender{m: m, gid: m.room*cfg.Senders + k, local: k, room: roomName(tag, m.room)}
			l.senders = append(l.senders, m.snd)
		}
	}
	var joined atomic.Int64
	prog.set(func() (float64, string) {
		j := joined.Load()
		return float64(j) / float64(n), fmt.Sprintf("connecting %d/%d", j, n)
	})
	// The group cancels cctx at the first failure: the dials in flight give
	// up and no more start.
	g, cctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, cfg.ConnectConcurrency))
	for _, m := range l.members {
		if cctx.Err() != nil {
			break
		}
		g.Go(func() error { // at most ConnectConcurrency at once; ends with the dial and join
			jctx, jcancel := context.WithTimeout(cctx, 30*time.Second)
			defer jcancel()
			c, err := target.Dial(jctx, m.idx, m)
			if err == nil {
				m.c = c
				err = c.Join(jctx, fmt.Sprintf("b%s-%d", tag, m.idx), roomName(tag, m.room))
			}
			if err != nil {
				return fmt.Errorf("connection %d of %d: %w", m.idx+1, n, describeConnErr(err, mon))
			}
			joined.Add(1)
			return nil
		})
	}
	firstErr := g.Wait()
	if firstErr != nil {
		l.close()
		return nil, firstErr
	}
	return l, nil
}

func (l *load) close() {
	for _, m := range l.members {
		if m.c != nil {
			m.c.Close()
		}
	}
	for _, m := range l.members {
		if m.c != nil {
			select {
			case <-m.c.Done():
			case <-time.After(5 * time.Second):
			}
		}
	}
}

// Handler methods: called by the member's receive loop.

func (m *member) Message(content []byte, now int64) {
	id, ok := parseContent(content)
	m.mu.Lock()
	ph := m.ph
	switch {
	case !ok || id.sender/m.l.cfg.Senders != m.room || id.seq > refMaxSeq:
		m.foreign++
	case ph == nil || id.phase != ph.id:
		m.stale++
	default:
		if m.seen[id.sender%m.l.cfg.Senders].testAndSet(id.seq) {
			m.dups++
		} else {
			m.frameU++
			if id.sent >= ph.winStart && id.sent < ph.winEnd {
				m.lat = append(m.lat, now-id.sent)
			}
		}
		m.frameN++
	}
	m.mu.Unlock()
}

func (m *member) FrameDone(now int64) {
	m.mu.Lock()
	if ph := m.ph; ph != nil {
		ph.recordFrame(m.idx, m.lat, m.frameN, m.frameU, now)
	}
	m.lat, m.frameN, m.frameU = m.lat[:0], 0, 0
	m.mu.Unlock()
}

func (m *member) Ack(ref uint32, now int64) {
	p, seq, _ := splitRef(ref)
	m.mu.Lock()
	if ph := m.ph; ph != nil && m.snd != nil && p == ph.id&refMaxPhase {
		ph.recordAck(ph.sched(m.snd.gid, seq), now)
	}
	m.mu.Unlock()
}

func (m *member) Error(ref uint32, code string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ph := m.ph
	if ph == nil {
		m.l.setupErrMu.Lock()
		m.l.setupErrs[code]++
		m.l.setupErrMu.Unlock()
		return
	}
	ph.addError(code)
	if p, seq, data := splitRef(ref); data && m.snd != nil && p == ph.id&refMaxPhase {
		if !m.snd.rejected.testAndSet(seq) {
			m.snd.nrejected++
			ph.rejected.Add(1)
		}
	}
}

// phase is one open-loop run at one rate.
type phase struct {
	id       int
	rate     float64 // messages/s per sender
	interval float64 // ns between two sends of one sender
	senders  int     // senders in all rooms; their schedules are spread over one interval
	start    int64   // scheduled time of sequence 0
	winStart int64   // measurement window: after the warm-up
	winEnd   int64   // end of the schedule
	total    int     // messages per sender

	lat     [8]histStripe // end-to-end latencies of window messages, striped by member
	ackLat  histStripe    // send-to-Ack latencies of window messages
	perSec  []atomic.Int64
	unique  atomic.Int64 // first deliveries, whole phase
	delivW  atomic.Int64 // deliveries read within the window
	framesW atomic.Int64 // frames read within the window
	acksW   atomic.Int64 // Acks read within the window
	acked   atomic.Int64
	sentAll atomic.Int64
	// rejected counts sends answered with an Error (not delivered, so
	// not counted as lost).
	rejected atomic.Int64

	errMu  sync.Mutex
	errors map[string]int64
}

func newPhase(id int, rate float64, senders int, start int64, warmup, duration, grace time.Duration) *phase {
	ph := &phase{id: id, rate: rate, interval: 1e9 / rate, senders: max(senders, 1), start: start, errors: map[string]int64{}}
	ph.winStart = start + int64(warmup)
	ph.winEnd = ph.winStart + int64(duration)
	ph.total = int(math.Ceil(float64(ph.winEnd-start) / ph.interval))
	if ph.total > refMaxSeq {
		ph.total = refMaxSeq
	}
	for i := range ph.lat {
		ph.lat[i].h = newHist()
	}
	ph.ackLat.h = newHist()
	ph.perSec = make([]atomic.Int64, int((ph.winEnd-start+int64(grace))/1e9)+3)
	return ph
}

// sched is when sender gid sends its message seq. Senders are spread evenly
// over one interval, as independent clients are: all senders firing at the
// same instant would measure the server's reaction to a synchronised burst
// (every room's fan-out at once), not to the offered rate.
func (ph *phase) sched(gid, seq int) int64 {
	return ph.start + int64((float64(seq)+float64(gid)/float64(ph.senders))*ph.interval)
}

func (ph *phase) inWindow(t int64) bool { return t >= ph.winStart && t < ph.winEnd }

func (ph *phase) recordFrame(idx int, lat []int64, n, unique int64, now int64) {
	if len(lat) > 0 {
		s := &ph.lat[idx%len(ph.lat)]
		s.mu.Lock()
		for _, v := range lat {
			recordMicros(s.h, v)
		}
		s.mu.Unlock()
	}
	if unique > 0 {
		ph.unique.Add(unique)
	}
	if n == 0 {
		return
	}
	if ph.inWindow(now) {
		ph.delivW.Add(n)
		ph.framesW.Add(1)
	}
	if sec := (now - ph.start) / 1e9; sec >= 0 && sec < int64(len(ph.perSec)) {
		ph.perSec[sec].Add(n)
	}
}

func (ph *phase) recordAck(sched, now int64) {
	ph.acked.Add(1)
	if ph.inWindow(now) {
		ph.acksW.Add(1)
	}
	if ph.inWindow(sched) {
		ph.ackLat.mu.Lock()
		recordMicros(ph.ackLat.h, now-sched)
		ph.ackLat.mu.Unlock()
	}
}

func (ph *phase) addError(code string) {
	ph.errMu.Lock()
	ph.errors[code]++
	ph.errMu.Unlock()
}

// run sends on every sender's schedule until the schedule ends, without
// ever waiting for a reply. A write that blocks delays that sender's next
// sends, whose latencies are then still measured from their scheduled times.
func (s *sender) run(ph *phase, size, maxBatch int) {
	c := s.m.c
	var buf []byte
	contents := make([][]byte, 0, maxBatch)
	refs := make([]uint32, 0, maxBatch)
	ends := make([]int, 0, maxBatch)
	for seq := 0; seq < ph.total; {
		t := ph.sched(s.gid, seq)
		sleepUntil(t)
		now := nowNano()
		s.maxLag = max(s.maxLag, now-t)
		buf, ends, refs = buf[:0], ends[:0], refs[:0]
		for seq < ph.total && len(ends) < maxBatch && ph.sched(s.gid, seq) <= now {
			buf = appendContent(buf, msgID{phase: ph.id, sender: s.gid, seq: seq, sent: ph.sched(s.gid, seq)}, size)
			ends = append(ends, len(buf))
			refs = append(refs, dataRef(ph.id, seq))
			seq++
		}
		contents = contents[:0]
		start := 0
		for _, e := range ends {
			contents = append(contents, buf[start:e])
			start = e
		}
		err := c.Send(s.room, contents, refs)
		s.maxWrite = max(s.maxWrite, nowNano()-now)
		if err != nil {
			s.sendErr = err
			return
		}
		s.sent.Store(int64(seq))
		ph.sentAll.Add(int64(len(ends)))
	}
}

// phaseResult is everything measured in one phase.
type phaseResult struct {
	Phase          int     `json:"phase"`
	RatePerSender  float64 `json:"rate_per_sender"`
	Rooms          int     `json:"rooms"`
	Members        int     `json:"members"`
	Senders        int     `json:"senders_per_room"`
	Size           int     `json:"size"`
	WindowSeconds  float64 `json:"window_seconds"`
	OfferedNominal float64 `json:"offered_nominal_msgs_per_sec"`
	Offered        float64 `json:"offered_msgs_per_sec"`
	Delivered      float64 `json:"delivered_per_sec"`
	Acked          float64 `json:"acked_msgs_per_sec"`
	Frames         float64 `json:"frames_per_sec"`
	MsgsPerFrame   float64 `json:"msgs_per_frame"`

	Latency    latencySummary `json:"latency_ms"`
	AckLatency latencySummary `json:"ack_latency_ms"`

	Sent        int64            `json:"sent"`
	Expected    int64            `json:"expected_deliveries"`
	Received    int64            `json:"received_deliveries"`
	Lost        int64            `json:"lost"`
	Duplicated  int64            `json:"duplicated"`
	Rejected    int64            `json:"rejected"`
	Stale       int64            `json:"stale"`
	Foreign     int64            `json:"foreign"`
	AckedTotal  int64            `json:"acked"`
	Errors      map[string]int64 `json:"errors"`
	Disconnects map[string]int   `json:"disconnects"`
	SendErrors  map[string]int   `json:"send_errors"`
	SenderLagMs float64          `json:"sender_lag_max_ms"`
	SendWriteMs float64          `json:"send_write_max_ms"`
	GraceUsedMs float64          `json:"grace_used_ms"`

	ServerCPU float64 `json:"server_cpu_pct"` // % of one core over the window; -1 unknown
	// ServerCPUParts splits the server's CPU by group of processes (the
	// cluster scenario: nodes, nats, postgres), % of one core.
	ServerCPUParts map[string]float64 `json:"server_cpu_parts,omitempty"`
	ClientCPU      float64            `json:"client_cpu_pct"`

	Curve     []curvePoint `json:"latency_curve"`
	PerSecond []float64    `json:"deliveries_per_second"` // from the phase's start, one per second

	Pass       bool   `json:"pass"`
	FailReason string `json:"fail_reason,omitempty"`
}

// runPhase runs one phase at rate (messages/s per sender) and accounts for it.
func (l *load) runPhase(id int, rate float64, warmup, duration time.Duration, prog *progress) phaseResult {
	cfg := l.cfg
	ph := newPhase(id, rate, cfg.Rooms*cfg.Senders, nowNano()+int64(100*time.Millisecond), warmup, duration, cfg.Grace)
	// Reset and attach.
	for _, m := range l.members {
		m.mu.Lock()
		m.seen = make([]bitset, cfg.Senders)
		m.dups, m.stale, m.foreign = 0, 0, 0
		m.lat, m.frameN, m.frameU = m.lat[:0], 0, 0
		if s := m.snd; s != nil {
			s.sent.Store(0)
			s.sendErr, s.maxLag, s.maxWrite, s.rejected, s.nrejected = nil, 0, 0, nil, 0
		}
		m.ph = ph
		m.mu.Unlock()
	}
	phaseLen := float64(ph.winEnd - ph.start)
	prog.set(func() (float64, string) {
		now := nowNano()
		el := float64(now - ph.start)
		sec := (now - ph.start) / 1e9
		var last int64
		if sec >= 1 && sec-1 < int64(len(ph.perSec)) {
			last = ph.perSec[sec-1].Load()
		}
		stage := "warm-up"
		if now >= ph.winStart {
			stage = "measuring"
		}
		if now >= ph.winEnd {
			stage = "grace"
		}
		return el / phaseLen, fmt.Sprintf("%s %.0f msg/s/sender | sent %d | %s deliveries/s | acked %d | rejected %d",
			stage, rate, ph.sentAll.Load(), human(float64(last)), ph.acked.Load(), ph.rejected.Load())
	})

	var wg sync.WaitGroup
	for _, s := range l.senders {
		wg.Add(1)
		go func() { // ends when its schedule does (or its connection fails)
			defer wg.Done()
			s.run(ph, cfg.Size, cfg.MaxSendBatch)
		}()
	}
	sleepUntil(ph.winStart)
	cpu0 := l.mon.sample()
	if l.onWindow != nil {
		l.onWindow(time.Duration(ph.winEnd - ph.winStart))
	}
	sleepUntil(ph.winEnd)
	cpu1 := l.mon.sample()
	wg.Wait()

	// Grace: until every expected delivery has arrived, or the grace ends.
	graceStart := nowNano()
	deadline := graceStart + int64(cfg.Grace)
	for nowNano() < deadline {
		expected := (ph.sentAll.Load() - ph.rejected.Load()) * int64(cfg.Members)
		if ph.unique.Load() >= expected {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	graceUsed := nowNano() - graceStart

	// Detach: from here on nothing is recorded into ph, and the
	// per-member state is quiescent.
	r := phaseResult{Phase: id, RatePerSender: rate, Rooms: cfg.Rooms, Members: cfg.Members, Senders: cfg.Senders, Size: cfg.Size,
		Disconnects: map[string]int{}, SendErrors: map[string]int{}}
	for _, m := range l.members {
		m.mu.Lock()
		m.ph = nil
		r.Duplicated += m.dups
		r.Stale += m.stale
		r.Foreign += m.foreign
		m.mu.Unlock()
		select {
		case <-m.c.Done():
			r.Disconnects[shortErr(m.c.Err())]++
		default:
		}
	}
	var lagMax, writeMax int64
	for _, s := range l.senders {
		r.Sent += s.sent.Load()
		r.Rejected += s.nrejected
		lagMax = max(lagMax, s.maxLag)
		writeMax = max(writeMax, s.maxWrite)
		if s.sendErr != nil {
			r.SendErrors[shortErr(s.sendErr)]++
		}
	}
	for _, m := range l.members {
		for k := range cfg.Senders {
			s := l.senders[m.room*cfg.Senders+k]
			r.Lost += m.seen[k].missing(int(s.sent.Load()), s.rejected)
		}
	}
	r.Expected = (r.Sent - r.Rejected) * int64(cfg.Members)
	r.Received = ph.unique.Load()

	win := float64(ph.winEnd-ph.winStart) / 1e9
	r.WindowSeconds = win
	r.OfferedNominal = rate * float64(len(l.senders))
	var sentInWin int64
	for _, s := range l.senders {
		// Sequences whose scheduled time is in the window and that were sent.
		first := int(math.Ceil(float64(ph.winStart-ph.start) / ph.interval))
		sentInWin += max(0, s.sent.Load()-int64(first))
	}
	r.Offered = float64(sentInWin) / win
	r.Delivered = float64(ph.delivW.Load()) / win
	r.Acked = float64(ph.acksW.Load()) / win
	r.AckedTotal = ph.acked.Load()
	r.Frames = float64(ph.framesW.Load()) / win
	if f := ph.framesW.Load(); f > 0 {
		r.MsgsPerFrame = float64(ph.delivW.Load()) / float64(f)
	}
	merged := newHist()
	for i := range ph.lat {
		merged.Merge(ph.lat[i].h)
	}
	r.Latency = summarize(merged)
	r.Curve = latencyCurve(merged)
	r.AckLatency = summarize(ph.ackLat.h)
	r.Errors = ph.errors
	r.SenderLagMs = float64(lagMax) / 1e6
	r.SendWriteMs = float64(writeMax) / 1e6
	r.GraceUsedMs = float64(graceUsed) / 1e6
	r.ServerCPU, r.ClientCPU = cpuPercent(cpu0, cpu1)
	r.ServerCPUParts = l.mon.cpuParts(cpu0, cpu1)
	last := len(ph.perSec)
	for last > 0 && ph.perSec[last-1].Load() == 0 {
		last--
	}
	for i := range last {
		r.PerSecond = append(r.PerSecond, float64(ph.perSec[i].Load()))
	}
	return r
}

// judge decides whether a ramp step passed: p99 within bound and nothing
// lost, rejected, duplicated or disconnected.
func judge(r *phaseResult, p99Bound time.Duration) {
	var why []string
	bound := float64(p99Bound) / 1e6
	if r.Latency.Count == 0 {
		why = append(why, "no latency sample")
	} else if r.Latency.P99 > bound {
		why = append(why, fmt.Sprintf("p99 %.1f ms > %.0f ms", r.Latency.P99, bound))
	}
	if r.Lost > 0 {
		why = append(why, fmt.Sprintf("%d lost", r.Lost))
	}
	if r.Rejected > 0 {
		why = append(why, fmt.Sprintf("%d rejected (%s)", r.Rejected, formatCounts(r.Errors)))
	}
	if r.Duplicated > 0 {
		why = append(why, fmt.Sprintf("%d duplicated", r.Duplicated))
	}
	if n := sumCounts(r.Disconnects); n > 0 {
		why = append(why, fmt.Sprintf("%d disconnected (%s)", n, formatCountsInt(r.Disconnects)))
	}
	if n := sumCounts(r.SendErrors); n > 0 {
		why = append(why, fmt.Sprintf("%d send errors", n))
	}
	r.Pass = len(why) == 0
	r.FailReason = strings.Join(why, "; ")
}

// knee returns the index of the last passing step before the first failing
// one, or -1 if the first step failed.
func knee(steps []phaseResult) int {
	k := -1
	for i := range steps {
		if !steps[i].Pass {
			break
		}
		k = i
	}
	return k
}

// rateStepper parses -step: "1.25", "x1.25" or "*1.25" multiply the rate,
// "+50" adds to it.
func rateStepper(s string) (func(float64) float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty -step")
	}
	var v float64
	switch s[0] {
	case '+':
		if _, err := fmt.Sscanf(s[1:], "%g", &v); err != nil || v <= 0 {
			return nil, fmt.Errorf("-step %q: want +N with N > 0", s)
		}
		return func(r float64) float64 { return r + v }, nil
	case 'x', '*':
		s = s[1:]
	}
	if _, err := fmt.Sscanf(s, "%g", &v); err != nil || v <= 1 {
		return nil, fmt.Errorf("-step %q: want a factor > 1 (e.g. 1.25) or +N", s)
	}
	return func(r float64) float64 { return r * v }, nil
}

func shortErr(err error) string {
	if err == nil {
		return "closed"
	}
	var ce *CloseError
	if errors.As(err, &ce) {
		return fmt.Sprintf("close %d %s", ce.Code, ce.Reason)
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

func sumCounts[V int | int64](m map[string]V) V {
	var n V
	for _, v := range m {
		n += v
	}
	return n
}

func formatCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func formatCountsInt(m map[string]int) string {
	c := make(map[string]int64, len(m))
	for k, v := range m {
		c[k] = int64(v)
	}
	return formatCounts(c)
}

// human formats a rate: 1234567 -> "1.23M".
func human(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
