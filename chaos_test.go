package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	_ "github.com/mattn/go-sqlite3"
)

// TestKill9LosesNoAckedMessage is the JetStream-style crash test: several
// clients drive acknowledged traffic (every send has a ref and a nonce) into
// a few rooms of the real binary; the process is killed with SIGKILL at a
// random moment and restarted on the same database, N times
// (PARLEY_CHAOS_CYCLES, default 5; `make chaos` runs 50). After every kill the
// database passes PRAGMA integrity_check and the server starts again (WAL
// recovery). A client that lost its connection resends its unacknowledged
// messages with their nonces after the restart, as a real client does. At
// the end, after one more restart that settles every pending message and a
// SIGTERM:
//
//   - every acknowledged message is in the database exactly once, with the
//     id it was acknowledged with;
//   - per sender and room, the stored messages in id order are exactly the
//     acknowledged ones in acknowledgement order (ids strictly increase in
//     ack order, across restarts too);
//   - PRAGMA integrity_check says ok.
func TestKill9LosesNoAckedMessage(t *testing.T) {
	cycles := envCount(t, "PARLEY_CHAOS_CYCLES", 5, 1)
	const (
		nClients = 6
		window   = 8 // sends a client may have unacknowledged at once
	)
	rooms := []string{"general", "chaos-a", "chaos-b"}
	db := filepath.Join(t.TempDir(), "chat.db")
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	clients := make([]*chaosClient, nClients)
	for i := range clients {
		clients[i] = &chaosClient{id: i, name: fmt.Sprintf("chaos%d", i), rooms: rooms, window: window,
			msgs: map[string]*chaosMsg{}, acks: map[string][]string{}, rng: rand.New(rand.NewPCG(uint64(seed), uint64(i+1)))}
	}
	committedUnacked := 0 // messages on disk but not acknowledged when the process died
	args := []string{"-db", db, "-rate", "100000", "-burst", "100000", "-log-level", "info"}

	for cycle := 1; cycle <= cycles; cycle++ {
		cmd, url := startBinary(t, args...)
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }() // exits when the process does
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Add(1)
			go func() { // exits when the connection fails (the kill)
				defer wg.Done()
				c.run(context.Background(), url, true)
			}()
		}
		// A random moment: sometimes while clients are still connecting
		// and resending, mostly under full load.
		time.Sleep(time.Duration(50+rng.IntN(1200)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case <-exited:
		case <-time.After(waitLimit):
			t.Fatal("parley did not die on SIGKILL")
		}
		if !waitGroupTimeout(&wg, 2*waitLimit) {
			t.Fatal("clients did not notice the kill")
		}
		if err := integrityCheck(db); err != nil {
			t.Fatalf("cycle %d: after kill -9: %v", cycle, err)
		}
		inDB := markCommittedUnacked(t, db, clients)
		committedUnacked += inDB
		acked, pending := chaosCounts(clients)
		t.Logf("cycle %d: killed; %d acknowledged so far, %d pending (%d of them in the database)", cycle, acked, pending, inDB)
	}

	// Settle: restart, let every client resend what is pending, stop cleanly.
	cmd, url := startBinary(t, args...)
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() { // exits when its pending messages are settled or the server stops
			defer wg.Done()
			c.run(context.Background(), url, false)
		}()
	}
	deadline := time.Now().Add(3 * waitLimit)
	for {
		_, pending := chaosCounts(clients)
		if pending == 0 {
			break
		}
		for _, c := range clients {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			if err != nil {
				t.Fatalf("client %s: %v", c.name, err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages still unacknowledged after the last restart", pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := terminate(t, cmd); err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", err)
	}
	if !waitGroupTimeout(&wg, 2*waitLimit) {
		t.Fatal("clients did not finish")
	}
	for _, c := range clients {
		if c.err != nil {
			t.Errorf("client %s: %v", c.name, c.err)
		}
	}

	// Check the database against the acknowledgements.
	if err := integrityCheck(db); err != nil {
		t.Fatal(err)
	}
	sdb, err := sql.Open("sqlite3", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	rows, err := sdb.Query(`SELECT id, room, username, content, IFNULL(nonce, '') FROM messages WHERE is_private = 0 ORDER BY room, id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ id, room, user, content, nonce string }
	byContent := map[string][]row{}
	byRoomUser := map[string][]string{} // room + "\x00" + user -> ids in id order
	total := 0
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.room, &r.user, &r.content, &r.nonce); err != nil {
			t.Fatal(err)
		}
		total++
		byContent[r.content] = append(byContent[r.content], r)
		byRoomUser[r.room+"\x00"+r.user] = append(byRoomUser[r.room+"\x00"+r.user], r.id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var acked, found, dups, lost, wrongID, unordered int
	for _, c := range clients {
		for _, m := range c.msgs {
			if m.ackID == "" {
				continue
			}
			acked++
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
			if m.preAckID != "" && m.preAckID != m.ackID {
				wrongID++
				t.Errorf("%s was stored as %s before the kill, acknowledged on resend as %s", m.key, m.preAckID, m.ackID)
			}
			if rs[0].id != m.ackID || rs[0].room != m.room || rs[0].user != c.name || rs[0].nonce != m.key {
				wrongID++
				t.Errorf("%s acked as %s in %s by %s, stored as %+v", m.key, m.ackID, m.room, c.name, rs[0])
				continue
			}
			found++
		}
		for _, room := range rooms {
			ackOrder := c.acks[room]
			for i := 1; i < len(ackOrder); i++ {
				if ackOrder[i] <= ackOrder[i-1] {
					unordered++
					t.Errorf("%s in %s: ack %d has id %s, not after %s", c.name, room, i, ackOrder[i], ackOrder[i-1])
				}
			}
			if stored := byRoomUser[room+"\x00"+c.name]; !slices.Equal(stored, ackOrder) {
				t.Errorf("%s in %s: stored %d messages, acknowledged %d, or in another order", c.name, room, len(stored), len(ackOrder))
			}
		}
	}
	var errs map[string]int
	for _, c := range clients {
		for code, n := range c.errCodes {
			if errs == nil {
				errs = map[string]int{}
			}
			errs[code] += n
		}
	}
	if len(errs) > 0 {
		t.Logf("errors answered (resent after the next restart): %v", errs)
	}
	line := fmt.Sprintf("%d kill -9 cycles: acked %d, found %d, duplicates %d, lost %d", cycles, acked, found, dups, lost)
	t.Logf("%d messages were on disk but unacknowledged at a kill; their resends were acknowledged with the first id", committedUnacked)
	t.Log(line)
	if testing.Verbose() {
		fmt.Println(line)
	}
	if acked == 0 {
		t.Fatal("nothing was acknowledged")
	}
	if wrongID > 0 || unordered > 0 {
		t.Errorf("%d stored with another id or room, %d acks out of order", wrongID, unordered)
	}
	if total != acked {
		t.Errorf("the database holds %d room messages, %d were acknowledged", total, acked)
	}
}

// chaosMsg is one message a chaos client sends, until acknowledged.
type chaosMsg struct {
	key   string // the ref, the nonce and the content
	room  string
	ackID string // set once acknowledged

	// preAckID is the id the database held for the message after a kill
	// that left it unacknowledged: its resend must be acked with this id.
	preAckID string
}

// chaosClient is a client whose state outlives its connections: the
// messages it has sent, which are acknowledged, and in what order.
type chaosClient struct {
	id     int
	name   string
	rooms  []string
	window int
	rng    *rand.Rand // owned by the writer goroutine of the current run

	// token, if set, is an account's session token: the client connects
	// as that account (named name) instead of taking name as a guest.
	token string
	// track: the client records the ids of the room messages it receives
	// (got, under mu), live or in a join's History, and rejoins each room
	// with since its last one, as a client that must miss nothing does.
	track bool

	mu       sync.Mutex
	got      map[string][]string // room -> ids received, in order (track)
	seq      int
	msgs     map[string]*chaosMsg
	pending  []*chaosMsg         // sent, not acknowledged, in send order
	acks     map[string][]string // room -> acknowledged ids in ack order
	errCodes map[string]int
	err      error // a protocol violation seen by the client
}

func (c *chaosClient) counts() (acked, pending int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs) - len(c.pending), len(c.pending)
}

func chaosCounts(cs []*chaosClient) (acked, pending int) {
	for _, c := range cs {
		a, p := c.counts()
		acked += a
		pending += p
	}
	return acked, pending
}

func (c *chaosClient) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// run connects, takes the client's name, joins its rooms, resends what is
// pending, and then (if load) sends new messages until the connection
// fails; without load it returns once nothing is pending.
func (c *chaosClient) run(ctx context.Context, url string, load bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*waitLimit)
	defer cancel()
	var opts *websocket.DialOptions
	if c.token != "" {
		opts = &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + c.token}}}
	}
	ws, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		if load {
			return // killed before we got in
		}
		c.fail(fmt.Errorf("dial: %w", err))
		return
	}
	defer ws.CloseNow()
	ws.SetReadLimit(1 << 22)
	send := func(v map[string]any) error {
		b, _ := json.Marshal(v)
		return ws.Write(ctx, websocket.MessageText, b)
	}
	type reply struct {
		Type, Ref, ID, Code, Message string
	}
	// record's, for this connection (touched by this goroutine only): the
	// rooms whose join History was recorded, and whose failed.
	synced, failed := map[string]bool{}, map[string]bool{}
	// readRef reads until the reply to ref.
	readRef := func(ref string) (reply, error) {
		for {
			_, b, err := ws.Read(ctx)
			if err != nil {
				return reply{}, err
			}
			if c.track {
				c.record(b, synced, failed) // live messages of the rooms joined already
			}
			var r reply
			if json.Unmarshal(b, &r) == nil && r.Ref == ref && (r.Type == "Ack" || r.Type == "Error") {
				return r, nil
			}
		}
	}
	setup := func() error {
		if c.token == "" {
			if err := send(map[string]any{"type": "SetUsername", "username": c.name, "ref": "name"}); err != nil {
				return err
			}
			if r, err := readRef("name"); err != nil {
				return err
			} else if r.Type != "Ack" {
				return fmt.Errorf("SetUsername: %+v", r)
			}
		}
		for _, room := range c.rooms {
			join := map[string]any{"type": "JoinRoom", "room": room, "ref": "join-" + room}
			c.mu.Lock()
			if got := c.got[room]; c.track && len(got) > 0 {
				join["since"] = got[len(got)-1]
			}
			c.mu.Unlock()
			if err := send(join); err != nil {
				return err
			}
			if r, err := readRef("join-" + room); err != nil {
				return err
			} else if r.Type != "Ack" {
				return fmt.Errorf("JoinRoom %s: %+v", room, r)
			}
		}
		return nil
	}
	if err := setup(); err != nil {
		if !load {
			c.fail(fmt.Errorf("setup: %w", err))
		}
		return
	}

	// What was pending from the last connection is resent first, with
	// its nonce: messages that had reached the database are acknowledged
	// with their first id, the others are stored now.
	c.mu.Lock()
	resend := slices.Clone(c.pending)
	c.mu.Unlock()

	slots := make(chan struct{}, c.window)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the writer; exits when the reader is done or a write fails
		defer wg.Done()
		sendOne := func(m *chaosMsg) bool {
			select {
			case slots <- struct{}{}:
			case <-done:
				return false
			}
			return send(map[string]any{"type": "SendMessage", "room": m.room, "content": m.key, "nonce": m.key, "ref": m.key}) == nil
		}
		for _, m := range resend {
			if !sendOne(m) {
				return
			}
		}
		for load {
			c.mu.Lock()
			c.seq++
			m := &chaosMsg{key: fmt.Sprintf("%s-%d", c.name, c.seq), room: c.rooms[c.rng.IntN(len(c.rooms))]}
			c.msgs[m.key] = m
			c.pending = append(c.pending, m)
			c.mu.Unlock()
			if !sendOne(m) {
				return
			}
		}
	}()
	defer func() { close(done); wg.Wait() }()

	for {
		if !load {
			if _, p := c.counts(); p == 0 {
				return
			}
		}
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		if c.track {
			c.record(b, synced, failed)
		}
		var r reply
		if json.Unmarshal(b, &r) != nil || r.Ref == "" || (r.Type != "Ack" && r.Type != "Error") {
			continue
		}
		c.mu.Lock()
		m := c.msgs[r.Ref]
		switch {
		case m == nil:
		case r.Type == "Error" && !load:
			if c.err == nil {
				c.err = fmt.Errorf("%s: %s %s while settling", m.key, r.Code, r.Message)
			}
		case r.Type == "Error":
			// Nothing stored; it stays pending and is resent after the
			// next restart.
			if c.errCodes == nil {
				c.errCodes = map[string]int{}
			}
			c.errCodes[r.Code]++
		case m.ackID != "":
			if c.err == nil {
				c.err = fmt.Errorf("%s acknowledged twice: %s then %s", m.key, m.ackID, r.ID)
			}
		default:
			m.ackID = r.ID
			c.acks[m.room] = append(c.acks[m.room], r.ID)
			c.pending = slices.DeleteFunc(c.pending, func(p *chaosMsg) bool { return p == m })
		}
		c.mu.Unlock()
		if m != nil {
			<-slots
		}
	}
}

// record notes the ids of the History answering one of its joins (which
// asked since its last one) in got, and then those of the room's Message
// frames on this connection (synced: the rooms whose join History came).
// An account's connection is in its rooms before it asks anything
// (Resume): what it gets of them before its own join's History is not
// recorded, as that History has it.
func (c *chaosClient) record(b []byte, synced, failed map[string]bool) {
	var f struct {
		Type, Room, ID, Ref string
		Messages            []struct{ ID string }
	}
	if json.Unmarshal(b, &f) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.got == nil {
		c.got = map[string][]string{}
	}
	switch f.Type {
	case "Message":
		if synced[f.Room] {
			c.got[f.Room] = append(c.got[f.Room], f.ID)
		}
	case "Error":
		// The join's History could not be read (the server then sends an
		// empty one): nothing of the room is recorded on this connection,
		// and the next rejoins since the last message recorded, as a
		// client that must miss nothing does.
		if room, ok := strings.CutPrefix(f.Ref, "join-"); ok {
			synced[room] = false
			failed[room] = true
		}
	case "History":
		if f.Ref != "join-"+f.Room || failed[f.Room] {
			return
		}
		synced[f.Room] = true
		for _, m := range f.Messages {
			c.got[f.Room] = append(c.got[f.Room], m.ID)
		}
	}
}

// markCommittedUnacked looks up, after a kill, which pending messages had
// reached the database, records their ids and returns how many did.
func markCommittedUnacked(t *testing.T, path string, cs []*chaosClient) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	for _, c := range cs {
		c.mu.Lock()
		for _, m := range c.pending {
			var id string
			err := db.QueryRow(`SELECT id FROM messages WHERE nonce = ? AND room = ?`, m.key, m.room).Scan(&id)
			switch {
			case err == sql.ErrNoRows:
			case err != nil:
				c.mu.Unlock()
				t.Fatal(err)
			default:
				m.preAckID = id
				n++
			}
		}
		c.mu.Unlock()
	}
	return n
}

// integrityCheck opens the database read-only and runs PRAGMA
// integrity_check.
func integrityCheck(path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("integrity_check: %s", res)
	}
	return nil
}

// waitGroupTimeout waits for wg at most d and reports whether it finished.
func waitGroupTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }() // exits when wg is done; leaks only if the test fails anyway
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
