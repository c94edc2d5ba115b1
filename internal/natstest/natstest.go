// Package natstest runs a real NATS cluster with JetStream inside a test:
// nats-server as a library, each server on random loopback ports with its
// own store in a temporary directory, routed to the others. Servers can be
// stopped and started again on the same ports and store, as a crashed and
// restarted server would be.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyLimit bounds the wait for a cluster to elect its JetStream leader:
// seconds on an idle machine, far more on a loaded one.
const readyLimit = 2 * time.Minute

// Cluster is a NATS cluster of servers with JetStream.
type Cluster struct {
	t    testing.TB
	mu   sync.Mutex
	opts []*server.Options
	srvs []*server.Server // nil while stopped
}

// Start runs n servers routed to each other and waits until JetStream has a
// leader. They are shut down when the test ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 2*n)
	clientPorts, clusterPorts := ports[:n], ports[n:]
	var routes []*url.URL
	for _, p := range clusterPorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &Cluster{t: t}
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("nats-%d", i+1),
			Host:       "127.0.0.1",
			Port:       clientPorts[i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("nats-%d", i+1)),
			NoLog:      true,
			NoSigs:     true,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: "parley-test", Host: "127.0.0.1", Port: clusterPorts[i]}
			o.Routes = routes
		}
		c.opts = append(c.opts, o)
		c.srvs = append(c.srvs, nil)
	}
	t.Cleanup(c.shutdown)
	for i := range n {
		c.Restart(i)
	}
	c.WaitReady()
	return c
}

// freePorts returns n distinct free ports: all are held open until every
// one is chosen, so that none is handed out twice. (Another process may
// still take one before its server listens; Restart then fails loudly.)
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// URLs are the servers' client URLs, comma-separated, as -nats takes them.
func (c *Cluster) URLs() string {
	var us []string
	for _, o := range c.opts {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
	return strings.Join(us, ",")
}

// Size is the number of servers, running or not.
func (c *Cluster) Size() int { return len(c.opts) }

// Stop shuts server i down, as a crash would leave its store (JetStream
// writes before it acknowledges).
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.srvs[i]
	c.srvs[i] = nil
	c.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart starts server i (again) on its ports and its store.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("nats server %d: %v", i+1, err)
	}
	go s.Start() // returns once the server is up; the server runs its own goroutines
	if !s.ReadyForConnections(readyLimit) {
		s.Shutdown()
		c.t.Fatalf("nats server %d: not ready within %v", i+1, readyLimit)
	}
	c.mu.Lock()
	c.srvs[i] = s
	c.mu.Unlock()
}

// WaitReady waits until a running server is JetStream's meta leader and
// every running server is current with it.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	deadline := time.Now().Add(readyLimit)
	for {
		c.mu.Lock()
		leader, current := false, true
		for _, s := range c.srvs {
			if s == nil {
				continue
			}
			if len(c.srvs) == 1 {
				leader = s.JetStreamEnabled()
				continue
			}
			leader = leader || s.JetStreamIsLeader()
			current = current && s.JetStreamIsCurrent()
		}
		c.mu.Unlock()
		if leader && current {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("NATS cluster: no JetStream leader within %v", readyLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *Cluster) shutdown() {
	for i := range c.srvs {
		c.Stop(i)
	}
}
