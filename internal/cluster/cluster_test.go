package cluster_test

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/internal/cluster"
	"parley/internal/natstest"
	"parley/internal/pgtest"
	"parley/internal/server"
	"parley/internal/testkit"
)

// testCluster is three parley nodes on one PostgreSQL database and a
// three-server NATS cluster, each message kept by all three (R3).
type testCluster struct {
	nats  *natstest.Cluster
	db    string
	nodes []*server.Server
	addrs []string
}

func startCluster(t *testing.T, nodes int, mod func(i int, c *cluster.Config)) *testCluster {
	t.Helper()
	pg := pgtest.Start(t)
	tc := &testCluster{nats: natstest.Start(t, 3), db: pg.NewDB(t)}
	for i := range nodes {
		cfg := cluster.Config{URLs: tc.nats.URLs(), NodeID: fmt.Sprintf("node-%d", i+1), Replicas: 3}
		if mod != nil {
			mod(i, &cfg)
		}
		s := testkit.NewServer(t, server.Config{DB: tc.db, Cluster: cfg})
		tc.nodes = append(tc.nodes, s)
		tc.addrs = append(tc.addrs, testkit.Listen(t, s))
	}
	return tc
}

// receive collects the ids of the Message frames of room that cl gets,
// until it has n of them or its connection ends, on its own goroutine; the
// result is read after wg.Wait.
func receive(cl *client, room string, n int, wg *sync.WaitGroup, out *[]string) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for f := range cl.frames {
			if f.str("type") == "Message" && f.str("room") == room {
				*out = append(*out, f.str("id"))
				if len(*out) == n {
					return
				}
			}
		}
	}()
}

// Promise 1 of the cluster: clients on three nodes all sending into one
// room receive its messages in one order, the order History returns.
func TestOneOrderPerRoom(t *testing.T) {
	tc := startCluster(t, 3, nil)
	const perNode, each = 2, 25
	var clients []*client
	for i := range perNode * len(tc.addrs) {
		cl := dial(t, tc.addrs[i%len(tc.addrs)])
		cl.join("general", "")
		clients = append(clients, cl)
	}
	total := len(clients) * each
	got := make([][]string, len(clients))
	var wg sync.WaitGroup
	for i, cl := range clients {
		receive(cl, "general", total, &wg, &got[i])
	}
	// Every client sends from its own goroutine, all at once.
	var sends sync.WaitGroup
	errs := make(chan error, len(clients))
	for i, cl := range clients {
		sends.Add(1)
		go func() {
			defer sends.Done()
			for k := range each {
				if _, err := cl.send(map[string]any{"type": "SendMessage", "room": "general", "content": fmt.Sprintf("c%d m%d", i, k)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	sends.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("send: %v", err)
	}
	wg.Wait()
	for i := range clients {
		if len(got[i]) != total {
			t.Fatalf("client %d (node %d): got %d messages, want %d", i, i%len(tc.addrs)+1, len(got[i]), total)
		}
		if !slices.Equal(got[i], got[0]) {
			t.Errorf("client %d (node %d): got order %v, want client 0's %v", i, i%len(tc.addrs)+1, got[i], got[0])
		}
	}
	if !slices.IsSorted(got[0]) {
		t.Errorf("ids do not sort in delivery order: %v", got[0])
	}
	for n, addr := range tc.addrs {
		late := dial(t, addr)
		if h := late.join("general", "").ids(); !slices.Equal(h, got[0][len(got[0])-len(h):]) || len(h) == 0 {
			t.Errorf("History on node %d: got %v, want the last %d of %v", n+1, h, len(h), got[0])
		}
	}
	// Each node's /metrics says how far it delivered: at least through
	// the last message every client got.
	for n, node := range tc.nodes {
		if pos, want := metricValue(t, node, "parley_cluster_delivered_position"), float64(total); pos < want {
			t.Errorf("node %d: parley_cluster_delivered_position %v, want at least %v", n+1, pos, want)
		}
		if behind := metricValue(t, node, "parley_cluster_delivery_behind"); behind != 0 {
			t.Errorf("node %d: parley_cluster_delivery_behind %v, want 0 once every message is delivered", n+1, behind)
		}
		if away := metricValue(t, node, "parley_cluster_store_away"); away != 0 {
			t.Errorf("node %d: parley_cluster_store_away %v, want 0", n+1, away)
		}
	}
}

// metricValue reads one unlabelled metric from a node's admin handler.
func metricValue(t *testing.T, s *server.Server, name string) float64 {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Host = "127.0.0.1"
	rec := httptest.NewRecorder()
	s.AdminHandler().ServeHTTP(rec, req)
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics (%d) has no %s", rec.Code, name)
	return 0
}

// Promise 3: a client that drops from one node and comes back to another
// with since gets exactly what it missed, also while the store has none of
// it (no node writes: the stream alone has the messages).
func TestCatchUpOnAnotherNode(t *testing.T) {
	tc := startCluster(t, 2, func(_ int, c *cluster.Config) { c.NoWriter = true })
	a, b := tc.addrs[0], tc.addrs[1]
	watcher := dial(t, b)
	watcher.join("general", "")
	sender := dial(t, b)
	sender.join("general", "")
	away := dial(t, a)
	away.join("general", "")

	var seen []string
	for i := range 5 {
		sender.do(map[string]any{"type": "SendMessage", "room": "general", "content": fmt.Sprint("before ", i)})
	}
	for len(seen) < 5 {
		if f := away.next(); f.str("type") == "Message" {
			seen = append(seen, f.str("id"))
		}
	}
	away.c.CloseNow()
	for i := range 7 {
		sender.do(map[string]any{"type": "SendMessage", "room": "general", "content": fmt.Sprint("while away ", i)})
	}
	var all []string
	for len(all) < 12 {
		if f := watcher.next(); f.str("type") == "Message" {
			all = append(all, f.str("id"))
		}
	}
	if !slices.Equal(all[:5], seen) {
		t.Fatalf("the watcher's first five: got %v, want what the client saw %v", all[:5], seen)
	}
	back := dial(t, b)
	if got, want := back.join("general", seen[4]).ids(), all[5:]; !slices.Equal(got, want) {
		t.Errorf("catch-up on the other node: got %v, want %v", got, want)
	}
	if got, want := dial(t, a).join("general", "").ids(), all; !slices.Equal(got, want) {
		t.Errorf("History on the first node: got %v, want %v", got, want)
	}
}

// Cluster mode refuses a SQLite store: two nodes cannot share a file.
func TestClusterNeedsPostgres(t *testing.T) {
	_, err := server.New(t.Context(), server.Config{DB: t.TempDir() + "/chat.db", Cluster: cluster.Config{URLs: "nats://127.0.0.1:1"}})
	if err == nil {
		t.Fatal("got a server on SQLite in cluster mode, want an error")
	}
}

// sendUntilAcked sends content until it is acknowledged, retrying after
// server_busy (the cluster is recovering), within testkit.WaitLimit. It
// returns the id and how many sends were refused.
func sendUntilAcked(t *testing.T, cl *client, room, content string) (string, int) {
	t.Helper()
	deadline := time.Now().Add(testkit.WaitLimit)
	for refused := 0; ; refused++ {
		ref, err := cl.send(map[string]any{"type": "SendMessage", "room": room, "content": content, "nonce": content})
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		for {
			f := cl.next()
			if f.str("ref") != ref {
				continue
			}
			if f.str("type") == "Ack" {
				return f.str("id"), refused
			}
			if f.str("code") != "server_busy" {
				t.Fatalf("send %q: got %v, want an Ack or server_busy", content, f)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("send %q: still refused after %v", content, testkit.WaitLimit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nextMessage returns the next Message frame cl gets, skipping others.
func nextMessage(cl *client) frame {
	cl.t.Helper()
	for {
		if f := cl.next(); f.str("type") == "Message" {
			return f
		}
	}
}

// acrossTwoNodes connects a sender to the first node and a member to the
// second, both in general.
func acrossTwoNodes(t *testing.T, tc *testCluster) (sender, member *client) {
	t.Helper()
	sender = dial(t, tc.addrs[0])
	sender.join("general", "")
	member = dial(t, tc.addrs[1])
	member.join("general", "")
	return sender, member
}

// sendSeen has sender send n messages into general, each acknowledged and
// then received by member (on another node) before the next, and returns
// their ids.
func sendSeen(t *testing.T, sender, member *client, prefix string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id, _ := sendUntilAcked(t, sender, "general", fmt.Sprint(prefix, " ", i))
		ids = append(ids, id)
		if got := nextMessage(member).str("id"); got != id {
			t.Fatalf("member on the other node: got %s, want %s", got, id)
		}
	}
	return ids
}

// Promises 2 and 5: with every NATS server down, a send fails at once with
// server_busy (it does not hang); when NATS comes back the nodes recover by
// themselves, and nothing acknowledged before is lost. With one NATS server
// down (of three, every message kept by all three), sends go on.
func TestNATSOutage(t *testing.T) {
	tc := startCluster(t, 2, nil)
	sender, member := acrossTwoNodes(t, tc)
	acked := sendSeen(t, sender, member, "before", 3)

	tc.nats.Stop(0) // one of three: a majority keeps every message
	id, _ := sendUntilAcked(t, sender, "general", "one NATS server down")
	acked = append(acked, id)
	if got := nextMessage(member).str("id"); got != id {
		t.Fatalf("with one NATS server down, the member got %s, want %s", got, id)
	}

	for i := 1; i < tc.nats.Size(); i++ {
		tc.nats.Stop(i)
	}
	ref, err := sender.send(map[string]any{"type": "SendMessage", "room": "general", "content": "into the void"})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	for {
		f := sender.next() // bounded by testkit.WaitLimit: a hang fails here
		if f.str("ref") != ref {
			continue
		}
		if f.str("type") != "Error" || f.str("code") != "server_busy" {
			t.Fatalf("send with NATS down: got %v, want server_busy", f)
		}
		break
	}

	for i := range tc.nats.Size() {
		tc.nats.Restart(i)
	}
	tc.nats.WaitReady()
	id, _ = sendUntilAcked(t, sender, "general", "NATS is back")
	acked = append(acked, id)
	for {
		got := nextMessage(member).str("id")
		if got == id {
			break
		}
		if !slices.Contains(acked, got) && got > id {
			t.Fatalf("after the outage the member got %s, want %s", got, id)
		}
	}
	// A new connection needs the names bucket, which may still be
	// electing its leader: it is refused ("try again") until then.
	var late *client
	for deadline := time.Now().Add(testkit.WaitLimit); late == nil; {
		var err error
		if late, err = tryDial(t, tc.addrs[1], nil); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("connect after the outage: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	h := late.join("general", "").ids()
	for _, id := range acked {
		if !slices.Contains(h, id) {
			t.Errorf("acknowledged %s: missing from History %v", id, h)
		}
	}
}

// A resend of a message (same account, same nonce) that lands on another
// node is answered with the first message's id, and the room has it once.
func TestNonceResendOnAnotherNode(t *testing.T) {
	tc := startCluster(t, 3, nil)
	_, token, err := tc.nodes[0].Accounts().Register(t.Context(), "ann", "correct horse battery staple", "127.0.0.1")
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	first, resend := dialAs(t, tc.addrs[0], token), dialAs(t, tc.addrs[1], token)
	watcher := dial(t, tc.addrs[2])
	for _, cl := range []*client{first, resend, watcher} {
		cl.join("general", "")
	}
	req := func() map[string]any {
		return map[string]any{"type": "SendMessage", "room": "general", "content": "only once", "nonce": "n-1"}
	}
	acks := func(fs []frame) string { return fs[len(fs)-1].str("id") }
	id1 := acks(first.do(req()))
	id2 := acks(resend.do(req()))
	if id2 != id1 {
		t.Errorf("resend on another node: got id %s, want the first's %s", id2, id1)
	}
	marker := acks(first.do(map[string]any{"type": "SendMessage", "room": "general", "content": "marker"}))
	var got []string
	for len(got) == 0 || got[len(got)-1] != marker {
		got = append(got, nextMessage(watcher).str("id"))
	}
	if want := []string{id1, marker}; !slices.Equal(got, want) {
		t.Errorf("the room's messages: got %v, want %v", got, want)
	}
}
