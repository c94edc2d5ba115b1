package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"parley/internal/pgtest"
)

// TestMain lets the test binary be the cluster scenario's NATS child, as
// the bench's own binary is (the scenario starts os.Executable again).
func TestMain(m *testing.M) {
	if natsChild() {
		return
	}
	os.Exit(m.Run())
}

// The cluster scenario in a tiny form: both setups are measured, every
// delivery arrives once, the CPU per delivery is known for both, and
// every process and directory it started is gone when it returns.
func TestClusterScenarioTiny(t *testing.T) {
	pgtest.Require(t)
	if testing.Short() {
		t.Skip("builds parley and starts NATS and PostgreSQL")
	}
	o := &options{
		scenario: "cluster", target: "parley", batch: true, rate: 20, p99Bound: 2 * time.Second,
		startRate: 10, step: "2", maxRate: 1000, stepDuration: time.Second, stepWarmup: 300 * time.Millisecond, maxSteps: 2,
		fanout:  fanoutConfig{Rooms: 2, Members: 6, Senders: 2, Size: 128, Warmup: 500 * time.Millisecond, Duration: time.Second, Grace: 10 * time.Second, MaxSendBatch: 64, ConnectConcurrency: 8},
		cluster: clusterConfig{Nodes: 2, NATSServers: 1, Replicas: 1, SaturateRate: 40},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	prog := startProgress(true)
	defer prog.stop()
	cr, err := runCluster(ctx, o, randomTag(), prog)
	if cr != nil {
		for _, pid := range cr.Started {
			// A zombie has exited; a process with other command line is
			// another's that got the number since.
			if st, statErr := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); statErr == nil && !strings.Contains(string(st), ") Z ") {
				cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
				t.Errorf("process %d the scenario started is still there: %s %q", pid, st, cmd)
			}
		}
		for _, d := range cr.Dirs {
			if _, statErr := os.Stat(d); statErr == nil {
				t.Errorf("directory %s the scenario made is still there", d)
			}
		}
	}
	if err != nil {
		t.Fatalf("runCluster: %v", err)
	}
	if got := len(cr.Setups); got != 2 {
		t.Fatalf("setups: got %d, want 2 (single-node and cluster)", got)
	}
	if len(cr.Started) < 4 || len(cr.Dirs) < 5 {
		t.Errorf("started %d processes and %d directories, want at least 4 (parley x3, NATS; PostgreSQL's too) and 5", len(cr.Started), len(cr.Dirs))
	}
	for _, s := range cr.Setups {
		f := s.Fixed
		if f.Lost != 0 || f.Duplicated != 0 || f.Received != f.Expected || f.Expected == 0 {
			t.Errorf("%s: got %d of %d deliveries (%d lost, %d duplicated), want all once", s.Name, f.Received, f.Expected, f.Lost, f.Duplicated)
		}
		if s.FixedCPUPerDeliveryUs <= 0 {
			t.Errorf("%s: CPU per delivery got %g µs, want > 0", s.Name, s.FixedCPUPerDeliveryUs)
		}
		if s.Ramp == nil || len(s.Ramp.Steps) == 0 {
			t.Errorf("%s: got no ramp step", s.Name)
		}
		if s.Saturated == nil || s.SatDeliveriesPerCPU <= 0 {
			t.Errorf("%s: saturated phase %v, %g deliveries per cpu-second: want one, > 0", s.Name, s.Saturated != nil, s.SatDeliveriesPerCPU)
		}
	}
	if _, ok := cr.Setups[1].Fixed.ServerCPUParts["nats"]; !ok {
		t.Errorf("cluster CPU parts %v: want nats among them", cr.Setups[1].Fixed.ServerCPUParts)
	}
}
