package main

// The idle scenario: N connections that each join a room and then stay
// quiet; the server's resident memory per connection and the time to
// connect them all.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
)

type idleConfig struct {
	Conns       int
	Rooms       int
	Concurrency int
	Settle      time.Duration // at least this long before reading RSS
	Hold        time.Duration // then keep the connections this long, reading RSS every second, for its peak
	OnConnect   func()        // if set, called as the first connection starts (-server-profile)
}

type idleResult struct {
	Requested      int            `json:"requested"`
	Reached        int            `json:"reached"`
	Rooms          int            `json:"rooms"`
	LimitMet       string         `json:"limit_met,omitempty"`
	ConnectSeconds float64        `json:"connect_seconds"`
	ConnsPerSec    float64        `json:"conns_per_sec"`
	ConnectErrors  map[string]int `json:"connect_errors,omitempty"`
	AliveAtMeasure int            `json:"alive_at_measure"`
	Dropped        map[string]int `json:"dropped,omitempty"` // connections that ended before the measure, by reason

	RSSSource     string  `json:"rss_source,omitempty"`
	RSSBeforeMB   float64 `json:"rss_before_mb"`
	RSSAfterMB    float64 `json:"rss_after_mb"`
	RSSPerConnKB  float64 `json:"rss_per_conn_kb"` // -1 when unknown
	HoldSeconds   float64 `json:"hold_seconds"`
	RSSPeakMB     float64 `json:"rss_peak_mb"`          // the highest reading from settled to the end of the hold
	RSSPeakPerKB  float64 `json:"rss_peak_per_conn_kb"` // -1 when unknown
	ClientPerConn float64 `json:"generator_rss_per_conn_kb"`
	ServerCPU     float64 `json:"server_cpu_pct_while_connecting"`
	ClientCPU     float64 `json:"client_cpu_pct_while_connecting"`
}

// connLimit explains in plain words which limit a failed connection met.
func connLimit(err error, mon *monitor) string {
	var he *HandshakeError
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return fmt.Sprintf("open files: the generator's hard limit %d reached", raiseNoFile())
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "ephemeral ports: no free local address and port (EADDRNOTAVAIL)"
	case errors.As(err, &he) && he.Status == 503:
		return fmt.Sprintf("the server refused (HTTP 503 %q): its connection cap (-max-conns / -max-conns-per-ip) reached", strings.TrimSpace(he.Body))
	}
	if mon != nil && mon.serverPID > 0 {
		if n, lim, e := openFiles(mon.serverPID); e == nil && lim > 0 && int64(n) >= lim-8 {
			return fmt.Sprintf("open files: the server's limit %d reached (%d open)", lim, n)
		}
	}
	return ""
}

// describeConnErr wraps a connection failure with the limit it met, if any.
func describeConnErr(err error, mon *monitor) error {
	if lim := connLimit(err, mon); lim != "" {
		return fmt.Errorf("%s (%w)", lim, err)
	}
	return err
}

func runIdle(ctx context.Context, target Target, cfg idleConfig, tag string, mon *monitor, prog *progress) (*idleResult, error) {
	r := &idleResult{Requested: cfg.Conns, Rooms: cfg.Rooms, ConnectErrors: map[string]int{}, RSSPerConnKB: -1, RSSPeakPerKB: -1}
	mon.open()
	hard := raiseNoFile()
	if hard > 0 && uint64(cfg.Conns)+64 > hard {
		prog.logf("the generator's open-file hard limit is %d: %d connections will not all fit in one process", hard, cfg.Conns)
	}

	rssBefore, src, rssErr := settleRSS(mon, cfg.Settle, prog, "settling before connecting")
	if rssErr != nil {
		prog.logf("server RSS not measured: %v", rssErr)
	}
	genBefore, _ := mon.procRSS(0)

	clients := make([]Client, cfg.Conns)
	var (
		reached  atomic.Int64
		failures atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	prog.set(func() (float64, string) {
		n := reached.Load()
		return float64(n) / float64(cfg.Conns), fmt.Sprintf("connecting %d/%d (failed %d)", n, cfg.Conns, failures.Load())
	})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var g errgroup.Group // failures are counted by class, not returned: every dial runs to its end
	g.SetLimit(max(1, cfg.Concurrency))
	cpu0 := mon.sample()
	start := time.Now()
	if cfg.OnConnect != nil {
		cfg.OnConnect()
	}
	for i := 0; i < cfg.Conns; i++ {
		// Stop at the first limit met: a few failures in flight are
		// enough to tell which.
		if cctx.Err() != nil || failures.Load() >= 10 {
			break
		}
		g.Go(func() error { // at most Concurrency at once; ends with the dial and join
			jctx, jcancel := context.WithTimeout(cctx, 30*time.Second)
			defer jcancel()
			c, err := target.Dial(jctx, i, nopHandler{})
			if err == nil {
				clients[i] = c
				err = c.Join(jctx, "", roomName(tag, i%cfg.Rooms))
			}
			if err != nil {
				failures.Add(1)
				errMu.Lock()
				r.ConnectErrors[errClass(err)]++
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				return nil
			}
			reached.Add(1)
			return nil
		})
	}
	_ = g.Wait() // the dials return nil; their errors are in r.ConnectErrors
	el := time.Since(start)
	cpu1 := mon.sample()
	r.ServerCPU, r.ClientCPU = cpuPercent(cpu0, cpu1)
	r.Reached = int(reached.Load())
	r.ConnectSeconds = el.Seconds()
	r.ConnsPerSec = float64(r.Reached) / el.Seconds()
	if firstErr != nil {
		lim := connLimit(firstErr, mon)
		if lim == "" {
			lim = "connections failed: " + shortErr(firstErr)
		}
		r.LimitMet = fmt.Sprintf("%s at %s connections", lim, commas(r.Reached))
		prog.logf("%s", r.LimitMet)
	}
	if len(r.ConnectErrors) == 0 {
		r.ConnectErrors = nil
	}

	rssAfter, _, err := settleRSS(mon, cfg.Settle, prog, fmt.Sprintf("%d connections open; waiting for the server's RSS to settle", r.Reached))
	// The settled reading can fall just after a collection. Idle
	// connections still make garbage (pings, pongs), so the heap climbs to
	// the collector's goal and back: the peak over a hold of a few ping
	// intervals is what a machine must have.
	rssPeak := rssAfter
	if err == nil && cfg.Hold > 0 {
		holdStart := time.Now()
		prog.set(func() (float64, string) {
			return min(1, time.Since(holdStart).Seconds()/cfg.Hold.Seconds()),
				fmt.Sprintf("holding %d idle connections; RSS peak %.1f MB", r.Reached, float64(rssPeak)/(1<<20))
		})
		for time.Since(holdStart) < cfg.Hold {
			time.Sleep(time.Second)
			if cur, _, err := mon.serverRSS(); err == nil {
				rssPeak = max(rssPeak, cur)
			}
		}
		r.HoldSeconds = time.Since(holdStart).Seconds()
	}
	for _, c := range clients {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
			if r.Dropped == nil {
				r.Dropped = map[string]int{}
			}
			r.Dropped[errClass(c.Err())]++
		default:
			r.AliveAtMeasure++
		}
	}
	if err != nil && rssErr == nil {
		prog.logf("server RSS not measured after connecting: %v", err)
	}
	if rssErr == nil && err == nil {
		r.RSSSource = src
		r.RSSBeforeMB = float64(rssBefore) / (1 << 20)
		r.RSSAfterMB = float64(rssAfter) / (1 << 20)
		r.RSSPeakMB = float64(rssPeak) / (1 << 20)
		if r.AliveAtMeasure > 0 {
			r.RSSPerConnKB = float64(rssAfter-rssBefore) / 1024 / float64(r.AliveAtMeasure)
			r.RSSPeakPerKB = float64(rssPeak-rssBefore) / 1024 / float64(r.AliveAtMeasure)
		}
	}
	if genAfter, err := mon.procRSS(0); err == nil && r.Reached > 0 {
		r.ClientPerConn = float64(genAfter-genBefore) / 1024 / float64(r.Reached)
	}

	prog.set(func() (float64, string) { return -1, "closing connections" })
	for _, c := range clients {
		if c != nil {
			c.Close()
		}
	}
	deadline := time.After(10 * time.Second)
	for _, c := range clients {
		if c == nil {
			continue
		}
		select {
		case <-c.Done():
		case <-deadline:
			return r, nil
		}
	}
	return r, nil
}

// settleRSS waits at least min, then until two readings a second apart
// differ by less than 0.5% while the server used less than settledCPU of a
// core in between (at most 15 s more), and returns the last. RSS alone
// holds still for a second or two after a storm while the server is still
// finishing it (a server that returns the storm's memory does so then), so
// a reading taken there is not the idle server's.
func settleRSS(mon *monitor, minWait time.Duration, prog *progress, what string) (int64, string, error) {
	prog.set(func() (float64, string) { return -1, what })
	time.Sleep(minWait)
	prev, src, err := mon.serverRSS()
	if err != nil {
		return 0, "", err
	}
	at := mon.sample()
	for range 15 {
		time.Sleep(time.Second)
		cur, _, err := mon.serverRSS()
		if err != nil {
			return 0, "", err
		}
		now := mon.sample()
		cpu, _ := cpuPercent(at, now) // -1 when the server's CPU is not known: RSS alone decides
		at = now
		if math.Abs(float64(cur-prev)) < 0.005*float64(prev) && cpu < settledCPU {
			return cur, src, nil
		}
		prev = cur
	}
	return prev, src, nil
}

// settledCPU is the share of a core (%) under which a server holding idle
// connections counts as idle: 19,000 connections' pings take a few percent.
const settledCPU = 20

// commas formats 19994 as "19,994".
func commas(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// errClass names an error without what varies between connections (the
// addresses of a dial error), so that failures can be counted by kind.
func errClass(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return shortErr(err)
}
