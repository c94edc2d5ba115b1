//go:build unix

package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/server"
	"parley/transport"
)

// TestSoak runs an in-process server (under -race in `make soak`) under mixed
// load for PARLEY_SOAK (a duration, e.g. 10m; skipped when unset): chatters
// that join and leave rooms, send room and private messages, page through
// history, rename themselves and drop their connections abruptly; slow
// readers with a tiny receive buffer; dead peers that never answer a ping;
// flooders; and connections aborted mid-handshake and mid-frame. Every loop
// is bounded by the duration and everything runs on 127.0.0.1.
//
// It fails on any data race (the race detector fails the test by itself), on
// a protocol violation seen by a client (a message out of order, or for a
// room it has not joined, an unexpected error code), on a goroutine or heap
// leak at the end (as TestLeakConnectAbort: back within a few goroutines of
// the baseline taken after a warm-up, heap within 1.5x), and on any
// acknowledged message missing from the database.
func TestSoak(t *testing.T) {
	v := os.Getenv("PARLEY_SOAK")
	if v == "" {
		t.Skip("set PARLEY_SOAK to a duration (e.g. PARLEY_SOAK=10m) to run the soak")
	}
	dur, err := time.ParseDuration(v)
	if err != nil || dur <= 0 {
		t.Fatalf("PARLEY_SOAK=%q: want a duration such as 10m", v)
	}
	if dl, ok := t.Deadline(); ok && time.Until(dl) < dur+2*time.Minute {
		t.Fatalf("the test deadline is too close for a %v soak: run with -timeout 0 or -timeout %v", dur, dur+5*time.Minute)
	}
	s := startInProcess(t, server.Config{
		Hub: actors.Config{
			RoomIdle: 2 * time.Second,                                  // rooms come and go
			Outbox:   actors.OutboxLimits{Frames: 64, Bytes: 64 << 10}, // slow readers are cut off within seconds
		},
		Transport: transport.Options{PingInterval: 3 * time.Second, PingTimeout: 2 * time.Second, WriteTimeout: 5 * time.Second},
	})
	// The acknowledged ids go to a file, not the heap: the heap is what the
	// leak check measures, and it must be the server's.
	ackFile, err := os.Create(filepath.Join(t.TempDir(), "acked"))
	if err != nil {
		t.Fatal(err)
	}
	defer ackFile.Close()
	st := &soakState{ackLog: bufio.NewWriter(ackFile), errs: map[string]int{}}

	warm := min(max(dur/10, 3*time.Second), 15*time.Second)
	t.Logf("warm-up %v", warm)
	st.run(s, warm)
	baseG, baseHeap := s.settle(t, -1, 0)
	t.Logf("baseline after warm-up: %d goroutines, heap in use %d KiB", baseG, baseHeap>>10)

	start := time.Now()
	st.run(s, dur)
	elapsed := time.Since(start)
	g, heap := s.settle(t, baseG, baseHeap)
	s.checkRoomsEmpty(t)
	m := s.hub.Metrics()
	s.stop()
	acked, err := st.readAcks(ackFile)
	if err != nil {
		t.Fatal(err)
	}

	// Every acknowledged message is in the database.
	if err := integrityCheck(s.db); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+s.db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stored := map[string]string{}
	rows, err := db.Query(`SELECT id, room, is_private FROM messages`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, room string
		var private bool
		if err := rows.Scan(&id, &room, &private); err != nil {
			t.Fatal(err)
		}
		if private {
			room = "(pm)"
		}
		stored[id] = room
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost, misplaced := 0, 0
	for id, room := range acked {
		got, ok := stored[id]
		switch {
		case !ok:
			lost++
			if lost <= 10 {
				t.Errorf("lost: %s acknowledged in %s", id, room)
			}
		case got != room:
			misplaced++
			t.Errorf("%s acknowledged in %s, stored in %s", id, room, got)
		}
	}
	var codes []string
	for c, n := range st.errs {
		codes = append(codes, fmt.Sprintf("%s %d", c, n))
	}
	sort.Strings(codes)
	t.Logf("soak %v: %d sessions, %d requests; acked %d (%d private), stored %d, lost %d; %d history pages, %d renames, %d joins, %d leaves",
		elapsed.Round(time.Second), st.sessions.Load(), st.requests.Load(), len(acked), st.pmAcked.Load(), len(stored), lost,
		st.histories.Load(), st.renames.Load(), st.joins.Load(), st.leaves.Load())
	t.Logf("abuse: %d slow readers (%d cut off as slow by the server), %d dead peers, %d floods (%d closed with 1008), %d aborted connections; errors answered: %s",
		st.slow.Load(), m.Slow, st.dead.Load(), st.floods.Load(), st.floodClosed.Load(), st.aborts.Load(), strings.Join(codes, ", "))
	t.Logf("end: goroutines %d -> %d, heap in use %d KiB -> %d KiB (%.2fx)", baseG, g, baseHeap>>10, heap>>10, float64(heap)/float64(baseHeap))
	for _, v := range st.violations() {
		t.Error(v)
	}
	if len(acked) == 0 {
		t.Error("nothing was acknowledged")
	}
	if lost > 0 || misplaced > 0 {
		t.Errorf("%d acknowledged messages lost, %d stored elsewhere", lost, misplaced)
	}
}

// soakRooms are the rooms the soak uses; the default three always run, the
// others start and retire as members come and go.
var soakRooms = []string{"general", "random", "tech", "soak-a", "soak-b", "soak-c"}

type soakState struct {
	mu     sync.Mutex
	ackLog *bufio.Writer  // "id room" lines; "(pm)" for private messages
	errs   map[string]int // error codes answered
	viol   []string       // protocol violations

	names sync.Map // chatter index -> its current name (for PMs)

	sessions, requests, pmAcked, histories, renames, joins, leaves atomic.Int64
	slow, dead, floods, floodClosed, aborts                        atomic.Int64
}

func (st *soakState) violate(format string, args ...any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.viol) < 50 {
		st.viol = append(st.viol, fmt.Sprintf(format, args...))
	}
}

func (st *soakState) violations() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.viol
}

func (st *soakState) ack(id, room string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Fprintf(st.ackLog, "%s %s\n", id, room)
}

// readAcks reads the acknowledged ids back once the load has stopped.
func (st *soakState) readAcks(f *os.File) (map[string]string, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if err := st.ackLog.Flush(); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	acked := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, room, _ := strings.Cut(sc.Text(), " ")
		if prev, ok := acked[id]; ok && prev != room {
			st.viol = append(st.viol, fmt.Sprintf("id %s acknowledged in %s and in %s", id, prev, room))
		}
		acked[id] = room
	}
	return acked, sc.Err()
}

func (st *soakState) errCode(code string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.errs[code]++
}

// run runs every kind of load for d and returns when all of it has stopped
// and closed its connections.
func (st *soakState) run(s *inProcess, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	spawn := func(n int, f func(ctx context.Context, i int, rng *rand.Rand)) {
		for i := range n {
			wg.Add(1)
			go func() { // exits when ctx is done
				defer wg.Done()
				rng := rand.New(rand.NewPCG(rand.Uint64(), uint64(i)))
				for ctx.Err() == nil {
					f(ctx, i, rng)
				}
			}()
		}
	}
	spawn(10, func(ctx context.Context, i int, rng *rand.Rand) { st.chatter(ctx, s, i, rng) })
	spawn(1, func(ctx context.Context, _ int, rng *rand.Rand) { st.slowReader(ctx, s, rng) })
	spawn(1, func(ctx context.Context, _ int, rng *rand.Rand) { st.deadPeer(ctx, s, rng) })
	spawn(1, func(ctx context.Context, _ int, rng *rand.Rand) { st.flooder(ctx, s, rng) })
	spawn(1, func(ctx context.Context, i int, rng *rand.Rand) {
		n := rng.IntN(1 << 20)
		var err error
		switch n % 4 {
		case 0:
			err = abortTCP(s.host)
		case 1:
			err = abortHandshake(s.host)
		case 2:
			err = abortWebSocket(s.url)
		default:
			err = abortMidFrame(s.host, soakRooms[n%len(soakRooms)])
		}
		if err != nil && ctx.Err() == nil {
			st.violate("abort (kind %c): %v", 'a'+n%4, err)
		}
		st.aborts.Add(1)
		sleepCtx(ctx, time.Duration(20+rng.IntN(80))*time.Millisecond)
	})
	wg.Wait()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// soakConn is one client connection of the soak.
type soakConn struct {
	c     *websocket.Conn
	batch bool
}

func soakDial(ctx context.Context, url string, opts *websocket.DialOptions) (*soakConn, error) {
	dctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, opts)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(1 << 22)
	return &soakConn{c: c, batch: c.Subprotocol() == transport.BatchSubprotocol}, nil
}

func (c *soakConn) send(v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	return wsWriteJSON(ctx, c.c, v)
}

// soakMsg is every field of every server message the soak looks at.
type soakMsg struct {
	Type, Ref, ID, Room, Username, Code, Message, From, To string
	Messages                                               []soakMsg
}

// read calls f for each message until the connection fails or f returns
// false, and returns the close status (-1 if none).
func (c *soakConn) read(ctx context.Context, f func(soakMsg) bool) websocket.StatusCode {
	for {
		_, b, err := c.c.Read(ctx)
		if err != nil {
			return websocket.CloseStatus(err)
		}
		parts := []string{string(b)}
		if c.batch {
			parts = strings.Split(string(b), "\n")
		}
		for _, p := range parts {
			var m soakMsg
			if err := json.Unmarshal([]byte(p), &m); err != nil {
				m = soakMsg{Type: fmt.Sprintf("invalid JSON %q in a frame of %d bytes (%d parts) %.200q...%.200q", p, len(b), len(parts), b, b[max(0, len(b)-200):])}
			}
			if !f(m) {
				return -1
			}
		}
	}
}

// chatter is one connection's life: a name, a few rooms, a few seconds of
// paced requests of every kind, then an abrupt or a clean close.
func (st *soakState) chatter(ctx context.Context, s *inProcess, i int, rng *rand.Rand) {
	var opts *websocket.DialOptions
	if rng.IntN(2) == 0 {
		opts = &websocket.DialOptions{Subprotocols: []string{transport.BatchSubprotocol}}
	}
	c, err := soakDial(ctx, s.url, opts)
	if err != nil {
		if ctx.Err() == nil {
			st.violate("chatter %d: dial: %v", i, err)
		}
		return
	}
	defer c.c.CloseNow()
	st.sessions.Add(1)
	gen := st.sessions.Load()
	name := fmt.Sprintf("c%d-%d", i, gen)

	// The reader checks the ordering rule: per room, Message ids strictly
	// increase, start after the join's History, and come only while joined.
	var (
		rmu      sync.Mutex
		pending  = map[string]string{} // ref -> room, "(pm)" for private messages
		lastAck  atomic.Value          // a recently acknowledged room message id, for paging
		readDone = make(chan struct{})
		closing  atomic.Bool // the chatter has begun to close the connection
	)
	go func() { // exits when the connection ends
		defer close(readDone)
		last := map[string]string{} // joined room -> last id seen
		c.read(context.Background(), func(m soakMsg) bool {
			switch m.Type {
			case "Ack":
				rmu.Lock()
				room, ok := pending[m.Ref]
				delete(pending, m.Ref)
				rmu.Unlock()
				switch {
				case ok && m.ID == "":
					st.violate("%s: Ack for a send without an id: %+v", name, m)
				case ok:
					st.ack(m.ID, room)
					if room == "(pm)" {
						st.pmAcked.Add(1)
					} else {
						lastAck.Store(m.ID)
					}
				case strings.HasPrefix(m.Ref, "l:"):
					delete(last, m.Ref[2:]) // left: nothing more from that room
				}
			case "Error":
				rmu.Lock()
				delete(pending, m.Ref)
				rmu.Unlock()
				switch m.Code {
				case "no_such_user", "server_busy", "rate_limited":
					st.errCode(m.Code)
				default:
					st.violate("%s: unexpected error %+v", name, m)
				}
			case "History":
				if strings.HasPrefix(m.Ref, "j:") {
					room := m.Ref[2:]
					if _, in := last[room]; in {
						st.violate("%s: join History for %s, already joined", name, room)
					}
					last[room] = ""
					for _, h := range m.Messages {
						if h.ID <= last[room] {
							st.violate("%s: History of %s out of order: %s after %s", name, room, h.ID, last[room])
						}
						last[room] = h.ID
					}
				}
			case "Message":
				prev, in := last[m.Room]
				switch {
				case !in:
					st.violate("%s: Message %s in %s, not joined (or before its History)", name, m.ID, m.Room)
				case m.ID <= prev:
					st.violate("%s: Message %s in %s after %s", name, m.ID, m.Room, prev)
				default:
					last[m.Room] = m.ID
				}
			case "Welcome", "UserJoined", "UserLeft", "Members", "RoomList", "SystemMessage", "PrivateMessage":
			default:
				if closing.Load() && strings.HasPrefix(m.Type, "invalid JSON") {
					// coder/websocket's Close, racing this Read, discards the
					// rest of the message being read: the client's doing.
					return false
				}
				st.violate("%s: unexpected message %+v (closing: %v)", name, m, closing.Load())
			}
			return true
		})
	}()
	// Close abruptly most of the time, cleanly sometimes.
	defer func() {
		closing.Store(true)
		if rng.IntN(4) == 0 {
			cctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			go func() { <-cctx.Done(); c.c.CloseNow() }() // exits within a second
			_ = c.c.Close(websocket.StatusNormalClosure, "bye")
		}
		c.c.CloseNow()
		<-readDone
	}()

	seq := 0
	req := func(v map[string]any, pendingRoom string) bool {
		seq++
		ref := fmt.Sprintf("%s%d", v["ref"], seq)
		if r, ok := v["ref"].(string); ok && strings.HasSuffix(r, ":") {
			ref = r + fmt.Sprint(seq)
		} else if ok {
			ref = r
		}
		v["ref"] = ref
		if pendingRoom != "" {
			rmu.Lock()
			pending[ref] = pendingRoom
			rmu.Unlock()
		}
		st.requests.Add(1)
		return c.send(v) == nil
	}
	if !req(map[string]any{"type": "SetUsername", "username": name, "ref": "n:"}, "") {
		return
	}
	st.names.Store(i, name)
	joined := []string{}
	join := func(room string) bool {
		joined = append(joined, room)
		st.joins.Add(1)
		return req(map[string]any{"type": "JoinRoom", "room": room, "ref": "j:" + room}, "")
	}
	for _, r := range rng.Perm(len(soakRooms))[:1+rng.IntN(3)] {
		if !join(soakRooms[r]) {
			return
		}
	}

	life := time.Duration(2000+rng.IntN(8000)) * time.Millisecond
	end := time.Now().Add(life)
	tick := time.NewTicker(120 * time.Millisecond) // about 8 requests/s: under the rate limit
	defer tick.Stop()
	renames := 0
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			return
		case <-readDone:
			return // the server closed it (a ping lost under load, say)
		case <-tick.C:
		}
		ok := true
		switch p := rng.IntN(100); {
		case p < 75:
			room := joined[rng.IntN(len(joined))]
			ok = req(map[string]any{"type": "SendMessage", "room": room, "content": soakContent(rng), "ref": "m:"}, room)
		case p < 82:
			to, _ := st.names.Load(rng.IntN(10))
			if to == nil {
				continue
			}
			ok = req(map[string]any{"type": "PrivateMessage", "to": to, "content": soakContent(rng), "ref": "p:"}, "(pm)")
		case p < 88:
			st.histories.Add(1)
			h := map[string]any{"type": "History", "room": joined[rng.IntN(len(joined))], "limit": 1 + rng.IntN(200), "ref": "h:"}
			if id, _ := lastAck.Load().(string); id != "" && rng.IntN(2) == 0 {
				h["before"] = id
			}
			ok = req(h, "")
		case p < 91:
			renames++
			name = fmt.Sprintf("c%d-%d-%d", i, gen, renames)
			st.renames.Add(1)
			ok = req(map[string]any{"type": "SetUsername", "username": name, "ref": "n:"}, "")
			st.names.Store(i, name)
		case p < 95:
			if len(joined) > 1 { // leave one
				k := rng.IntN(len(joined))
				room := joined[k]
				joined = append(joined[:k], joined[k+1:]...)
				st.leaves.Add(1)
				ok = req(map[string]any{"type": "LeaveRoom", "room": room, "ref": "l:" + room}, "")
			} else { // join another
				room := soakRooms[rng.IntN(len(soakRooms))]
				if room != joined[0] {
					ok = join(room)
				}
			}
		default:
			ok = req(map[string]any{"type": "ListRooms", "ref": "r:"}, "")
		}
		if !ok {
			return
		}
	}
}

// soakContent is a message body: mostly short, sometimes a few KiB, so that
// slow readers fill their queues.
func soakContent(rng *rand.Rand) string {
	if rng.IntN(5) == 0 {
		return strings.Repeat("soak ", 100+rng.IntN(600))
	}
	return fmt.Sprintf("hello %d", rng.Uint32())
}

// slowReader joins every room with a tiny receive buffer and never
// reads: the server must cut it off (its outbox overflows, or its writes
// time out) without slowing anyone else.
func (st *soakState) slowReader(ctx context.Context, s *inProcess, rng *rand.Rand) {
	d := &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		}); err != nil {
			return err
		}
		return serr
	}}
	tr := &http.Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	c, err := soakDial(ctx, s.url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		if ctx.Err() == nil {
			st.violate("slow reader: dial: %v", err)
		}
		return
	}
	defer c.c.CloseNow()
	st.slow.Add(1)
	for _, room := range soakRooms {
		if c.send(map[string]any{"type": "JoinRoom", "room": room}) != nil {
			return
		}
	}
	sleepCtx(ctx, time.Duration(8000+rng.IntN(4000))*time.Millisecond) // reads nothing
}

// deadPeer joins a room and then neither reads nor answers pings: the
// heartbeat drops it.
func (st *soakState) deadPeer(ctx context.Context, s *inProcess, rng *rand.Rand) {
	c, err := soakDial(ctx, s.url, nil)
	if err != nil {
		if ctx.Err() == nil {
			st.violate("dead peer: dial: %v", err)
		}
		return
	}
	defer c.c.CloseNow()
	st.dead.Add(1)
	if c.send(map[string]any{"type": "JoinRoom", "room": soakRooms[rng.IntN(len(soakRooms))]}) != nil {
		return
	}
	sleepCtx(ctx, time.Duration(4000+rng.IntN(4000))*time.Millisecond)
}

// flooder sends as fast as it can: rate_limited, then close 1008. What it
// got acknowledged (its burst) must be stored like anything else.
func (st *soakState) flooder(ctx context.Context, s *inProcess, rng *rand.Rand) {
	c, err := soakDial(ctx, s.url, nil)
	if err != nil {
		if ctx.Err() == nil {
			st.violate("flooder: dial: %v", err)
		}
		return
	}
	defer c.c.CloseNow()
	st.floods.Add(1)
	room := soakRooms[rng.IntN(len(soakRooms))]
	var pmu sync.Mutex
	pending := map[string]bool{}
	if c.send(map[string]any{"type": "JoinRoom", "room": room, "ref": "j"}) != nil {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	go func() { // exits when fctx is done or a write fails
		for n := 0; fctx.Err() == nil; n++ {
			ref := fmt.Sprint("f", n)
			pmu.Lock()
			pending[ref] = true
			pmu.Unlock()
			if c.send(map[string]any{"type": "SendMessage", "content": "flood", "ref": ref}) != nil {
				return
			}
		}
	}()
	code := c.read(fctx, func(m soakMsg) bool {
		pmu.Lock()
		mine := pending[m.Ref]
		delete(pending, m.Ref)
		pmu.Unlock()
		switch {
		case m.Type == "Ack" && mine:
			st.ack(m.ID, room)
		case m.Type == "Error" && (m.Code == "rate_limited" || m.Code == "server_busy"):
			st.errCode("flood " + m.Code)
		case m.Type == "Error":
			st.violate("flooder: unexpected %+v", m)
		}
		return true
	})
	cancel()
	if code == websocket.StatusPolicyViolation {
		st.floodClosed.Add(1)
	} else if ctx.Err() == nil {
		st.violate("flooder: closed with %v, want 1008", code)
	}
	sleepCtx(ctx, time.Duration(500+rng.IntN(1000))*time.Millisecond)
}
