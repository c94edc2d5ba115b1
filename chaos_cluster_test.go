package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	_ "github.com/jackc/pgx/v5/stdlib"

	"parley/internal/pgtest"
	"parley/internal/server"
	"parley/internal/testkit"
)

// TestClusterKill9LosesNoAckedMessage is the chaos test of the cluster
// (`make chaos-cluster` runs 20 cycles; `make test` PARLEY_CHAOS_CLUSTER_CYCLES,
// default 2): three parley processes and three nats-server processes on
// loopback, with PostgreSQL. Clients (accounts) spread over the nodes send
// acknowledged traffic (ref and nonce) into three rooms and record every
// room message they receive. Each cycle kills -9 a random parley node and,
// in some cycles, a random NATS server, then restarts them (the node with
// the same -node-id); every client reconnects, to another node than
// before, rejoining each room with since its last message, and resends
// what was not acknowledged. At the end:
//
//   - every acknowledged message is in PostgreSQL exactly once, with the id
//     it was acknowledged with (lost 0, duplicated 0);
//   - what each client received in each room, across its reconnections,
//     is exactly the room's stored sequence from its first message to its
//     last: no gap, no duplicate, one order (order mismatches 0).
func TestClusterKill9LosesNoAckedMessage(t *testing.T) {
	cycles := envCount(t, "PARLEY_CHAOS_CLUSTER_CYCLES", 2, 1)
	pg := pgtest.Start(t)
	db := pg.NewDB(t)
	seed := time.Now().UnixNano()
	if v := os.Getenv("PARLEY_CHAOS_SEED"); v != "" { // to replay a failed run
		fmt.Sscan(v, &seed)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	const nClients = 6
	rooms := []string{"general", "chaos-a", "chaos-b"}
	clients := make([]*chaosClient, nClients)
	setup := testkit.NewServer(t, server.Config{DB: db}) // registers the accounts, then stops
	for i := range clients {
		name := fmt.Sprintf("chaos%d", i)
		_, token, err := setup.Accounts().Register(t.Context(), name, "correct horse battery staple", "127.0.0.1")
		if err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
		clients[i] = &chaosClient{id: i, name: name, token: token, track: true, rooms: rooms, window: 8,
			msgs: map[string]*chaosMsg{}, acks: map[string][]string{}, rng: rand.New(rand.NewPCG(uint64(seed), uint64(i+1)))}
	}
	testkit.Stop(t, setup)

	natsSrv := startNATSProcesses(t, 3)
	nodes := make([]*exec.Cmd, 3)
	urls := make([]string, 3)
	startNode := func(i int) {
		// A node waits for JetStream (cluster.Open, up to 30 s) while the
		// NATS servers elect leaders after a kill. The stream is trimmed
		// every second, so that the kills land among trims too.
		nodes[i], urls[i] = startBinaryWithin(t, 4*waitLimit, "-db", db, "-nats", natsSrv.urls(), "-node-id", fmt.Sprintf("node-%d", i+1),
			"-nats-replicas", "3", "-nats-trim-interval", "1s", "-rate", "100000", "-burst", "100000", "-log-level", "info")
	}
	for i := range nodes {
		startNode(i)
	}

	runAll := func(ctx context.Context, cycle int, load bool) *sync.WaitGroup {
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() { // returns when its connection fails, or ctx ends
				defer wg.Done()
				c.run(ctx, urls[(c.id+cycle)%len(urls)], load)
			}()
		}
		return &wg
	}
	for cycle := 1; cycle <= cycles; cycle++ {
		ctx, cancel := context.WithCancel(context.Background())
		wg := runAll(ctx, cycle, true)
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		victim := rng.IntN(len(nodes))
		if err := nodes[victim].Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = nodes[victim].Wait()
		natsVictim := -1
		if rng.IntN(3) == 0 {
			natsVictim = rng.IntN(natsSrv.size())
			natsSrv.kill(natsVictim)
		}
		time.Sleep(200 * time.Millisecond) // the others go on meanwhile
		cancel()
		if !waitGroupTimeout(wg, 2*waitLimit) {
			t.Fatal("clients did not stop")
		}
		if natsVictim >= 0 {
			natsSrv.start(natsVictim)
		}
		startNode(victim)
		acked, pending := chaosCounts(clients)
		t.Logf("cycle %d: killed node %d, NATS server %d; %d acknowledged so far, %d pending", cycle, victim+1, natsVictim+1, acked, pending)
	}

	// Settle: every client resends what is pending until acknowledged.
	wg := runAll(context.Background(), cycles+1, false)
	if !waitGroupTimeout(wg, 6*waitLimit) {
		t.Fatal("pending messages not settled")
	}
	for _, c := range clients {
		if c.err != nil {
			t.Fatalf("client %s: %v", c.name, c.err)
		}
	}
	acked, _ := chaosCounts(clients)

	// PostgreSQL gets the stream behind the acknowledgements: wait for it.
	sdb, err := sqlx.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	var total int
	for deadline := time.Now().Add(3 * waitLimit); ; time.Sleep(100 * time.Millisecond) {
		if err := sdb.Get(&total, `SELECT count(*) FROM messages WHERE NOT is_private`); err != nil {
			t.Fatal(err)
		}
		if total >= acked || time.Now().After(deadline) {
			break
		}
	}
	for _, n := range nodes {
		if err := terminate(t, n); err != nil {
			t.Errorf("node exit after SIGTERM: %v, want status 0", err)
		}
	}

	type row struct {
		ID, Room, Username, Content string
	}
	var rows []row
	if err := sdb.Select(&rows, `SELECT id, room, username, content FROM messages WHERE NOT is_private ORDER BY room, id`); err != nil {
		t.Fatal(err)
	}
	byContent := map[string][]row{}
	byRoom := map[string][]string{}
	for _, r := range rows {
		byContent[r.Content] = append(byContent[r.Content], r)
		byRoom[r.Room] = append(byRoom[r.Room], r.ID)
	}
	var found, dups, lost, wrong, mismatches int
	for _, c := range clients {
		for _, m := range c.msgs {
			if m.ackID == "" {
				continue
			}
			rs := byContent[m.key]
			switch {
			case len(rs) == 0:
				lost++
				t.Errorf("lost: %s acked as %s in %s", m.key, m.ackID, m.room)
				continue
			case len(rs) > 1:
				dups += len(rs) - 1
				t.Errorf("duplicated: %s stored %d times: %v", m.key, len(rs), rs)
			}
			if rs[0].ID != m.ackID || rs[0].Room != m.room || rs[0].Username != c.name {
				wrong++
				t.Errorf("%s acked as %s in %s by %s, stored as %+v", m.key, m.ackID, m.room, c.name, rs[0])
				continue
			}
			found++
		}
		for room, got := range c.got {
			stored := byRoom[room]
			i := slices.Index(stored, got[0])
			if i < 0 || i+len(got) > len(stored) || !slices.Equal(stored[i:i+len(got)], got) {
				mismatches++
				k := 0
				for i >= 0 && k < len(got) && i+k < len(stored) && stored[i+k] == got[k] {
					k++
				}
				t.Errorf("%s in %s: received %d messages that are not the stored sequence from %s: they differ at %d: got %v, stored %v",
					c.name, room, len(got), got[0], k, got[max(k-2, 0):min(k+8, len(got))], stored[max(i+k-2, 0):min(i+k+3, len(stored))])
			}
		}
	}
	line := fmt.Sprintf("%d cluster chaos cycles: acked %d, found %d, lost %d, duplicated %d, order mismatches %d", cycles, acked, found, lost, dups, mismatches)
	t.Log(line)
	if testing.Verbose() {
		fmt.Println(line)
	}
	if acked == 0 {
		t.Fatal("nothing was acknowledged")
	}
	if wrong > 0 {
		t.Errorf("%d stored with another id, room or sender", wrong)
	}
	if total != acked {
		t.Errorf("PostgreSQL holds %d room messages, %d were acknowledged", total, acked)
	}
}

// natsProcesses are nats-server processes routed into one cluster with
// JetStream, each on fixed loopback ports with its store in a temporary
// directory, so that one killed with SIGKILL restarts as itself.
type natsProcesses struct {
	t       *testing.T
	bin     string
	args    [][]string
	clients []int
	cmds    []*exec.Cmd
}

// startNATSProcesses builds nats-server from the module cache and starts
// n of them, waiting until JetStream answers.
func startNATSProcesses(t *testing.T, n int) *natsProcesses {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "nats-server")
	build := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build nats-server: %v", err)
	}
	p := &natsProcesses{t: t, bin: bin, cmds: make([]*exec.Cmd, n)}
	t.Logf("NATS logs in %s", dir)
	var routes []string
	cluster := make([]int, n)
	for i := range n {
		p.clients = append(p.clients, freePort(t))
		cluster[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cluster[i]))
	}
	for i := range n {
		p.args = append(p.args, []string{"-a", "127.0.0.1", "-p", fmt.Sprint(p.clients[i]), "-js",
			"-sd", filepath.Join(dir, fmt.Sprintf("n%d", i+1)), "-n", fmt.Sprintf("nats-%d", i+1),
			"--cluster_name", "chaos", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cluster[i]),
			"--routes", strings.Join(routes, ","), "-l", filepath.Join(dir, fmt.Sprintf("nats-%d.log", i+1))})
		p.start(i)
	}
	t.Cleanup(func() {
		for i := range p.cmds {
			p.kill(i)
		}
		if t.Failed() { // the servers' own view of what went wrong
			for i := range n {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("nats-%d.log", i+1)))
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("nats-%d.log, last lines:\n%s", i+1, strings.Join(lines[max(0, len(lines)-25):], "\n"))
			}
		}
	})
	p.waitJetStream()
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	var n int
	fmt.Sscan(port, &n)
	return n
}

func (p *natsProcesses) size() int { return len(p.cmds) }

func (p *natsProcesses) urls() string {
	var us []string
	for _, port := range p.clients {
		us = append(us, fmt.Sprintf("nats://127.0.0.1:%d", port))
	}
	return strings.Join(us, ",")
}

// start starts server i and waits until it accepts connections.
func (p *natsProcesses) start(i int) {
	p.t.Helper()
	cmd := exec.Command(p.bin, p.args[i]...)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start nats-server %d: %v", i+1, err)
	}
	p.cmds[i] = cmd
	addr := fmt.Sprintf("127.0.0.1:%d", p.clients[i])
	for deadline := time.Now().Add(waitLimit); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("nats-server %d: not listening within %v", i+1, waitLimit)
		}
	}
}

// kill kills server i with SIGKILL and waits for it.
func (p *natsProcesses) kill(i int) {
	if cmd := p.cmds[i]; cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		p.cmds[i] = nil
	}
}

// waitJetStream waits until the cluster's JetStream answers a request.
func (p *natsProcesses) waitJetStream() {
	p.t.Helper()
	nc, err := nats.Connect(p.urls())
	if err != nil {
		p.t.Fatalf("connect to NATS: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		p.t.Fatal(err)
	}
	for deadline := time.Now().Add(6 * waitLimit); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("NATS cluster: JetStream not ready: %v", err)
		}
	}
}
