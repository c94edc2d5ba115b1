// Package natstest runs a real NATS cluster with JetStream inside a test:
// nats-server as a library, each server on random loopback ports with its
// own store in a temporary directory, routed to the others. Servers can be
// stopped and started again on the same ports and store, as a crashed and
// restarted server would be.
//
// The work is internal/natsrun's (which the bench shares); this package
// turns its errors into test failures and its shutdown into a cleanup.
package natstest

import (
	"testing"

	"parley/internal/natsrun"
)

// Cluster is a NATS cluster of servers with JetStream.
type Cluster struct {
	t testing.TB
	c *natsrun.Cluster
}

// Start runs n servers routed to each other and waits until JetStream has a
// leader. They are shut down when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c, err := natsrun.Start(n, t.TempDir())
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(c.Shutdown)
	return &Cluster{t: t, c: c}
}

// URLs are the servers' client URLs, comma-separated, as -nats takes them.
func (c *Cluster) URLs() string { return c.c.URLs() }

// Size is the number of servers, running or not.
func (c *Cluster) Size() int { return c.c.Size() }

// Stop shuts server i down, as a crash would leave its store (JetStream
// writes before it acknowledges).
func (c *Cluster) Stop(i int) { c.c.Stop(i) }

// Restart starts server i (again) on its ports and its store.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if err := c.c.Restart(i); err != nil {
		c.t.Fatalf("natstest: %v", err)
	}
}

// WaitReady waits until a running server is JetStream's meta leader and
// every running server is current with it.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	if err := c.c.WaitReady(); err != nil {
		c.t.Fatalf("natstest: %v", err)
	}
}
