// Package natsrun runs a real NATS cluster with JetStream in this process:
// nats-server as a library, each server on random loopback ports with its
// own store under a directory, routed to the others. Servers can be stopped
// and started again on the same ports and store, as a crashed and restarted
// server would be.
//
// It is the core that internal/natstest (for tests) and the bench's cluster
// scenario share: it reports errors instead of failing a test, so that a
// program that does not import testing can use it.
package natsrun

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ReadyLimit bounds the wait for a cluster to elect its JetStream leader:
// seconds on an idle machine, far more on a loaded one.
const ReadyLimit = 2 * time.Minute

// Cluster is a NATS cluster of servers with JetStream.
type Cluster struct {
	mu   sync.Mutex
	opts []*server.Options
	srvs []*server.Server // nil while stopped
}

// Start runs n servers, with their stores under dir (which the caller
// owns and removes), routed to each other, and waits until JetStream has a
// leader. Shutdown stops them.
func Start(n int, dir string) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("natsrun: %d servers: want at least 1", n)
	}
	ports, err := FreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	clientPorts, clusterPorts := ports[:n], ports[n:]
	var routes []*url.URL
	for _, p := range clusterPorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &Cluster{}
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
	for i := range n {
		if err := c.Restart(i); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	if err := c.WaitReady(); err != nil {
		c.Shutdown()
		return nil, err
	}
	return c, nil
}

// FreePorts returns n distinct free loopback ports: all are held open until
// every one is chosen, so that none is handed out twice. (Another process
// may still take one before its server listens; Restart then fails.)
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("natsrun: free port: %w", err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
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
func (c *Cluster) Restart(i int) error {
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		return fmt.Errorf("nats server %d: %w", i+1, err)
	}
	go s.Start() // returns once the server is up; the server runs its own goroutines
	if !s.ReadyForConnections(ReadyLimit) {
		s.Shutdown()
		return fmt.Errorf("nats server %d: not ready within %v", i+1, ReadyLimit)
	}
	c.mu.Lock()
	c.srvs[i] = s
	c.mu.Unlock()
	return nil
}

// WaitReady waits until a running server is JetStream's meta leader and
// every running server is current with it.
func (c *Cluster) WaitReady() error {
	deadline := time.Now().Add(ReadyLimit)
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
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("NATS cluster: no JetStream leader within " + ReadyLimit.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Shutdown stops every server.
func (c *Cluster) Shutdown() {
	for i := range c.srvs {
		c.Stop(i)
	}
}
