package storetest

// The cases of messages and rooms: the writer's queue, its batches and the
// reads of a room.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"parley/actors"
)

// Every message appended is committed, acknowledged, and read back as it
// was given, in id order per room, after the store is reopened.
func testAppendCommitsAndSurvivesReopen(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	var all []*actors.StoredMessage
	want := map[string][]string{} // room -> ids in order
	for i := range 600 {
		id := fmt.Sprintf("%06d", i)
		var m *actors.StoredMessage
		switch i % 6 {
		case 0:
			m = PrivMsg(id, "alice", "bob", i)
			m.Nonce = "n" + id
		case 1, 2:
			m = RoomMsg(id, "random", "bob", i)
		default:
			m = RoomMsg(id, "general", "alice", i)
			m.Nonce = "n" + id
		}
		all = append(all, m)
		if !m.Private {
			want[m.Room] = append(want[m.Room], id)
		}
	}
	AppendAll(t, w, all)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = open(t, Options{})
	ctx := testCtx(t)
	byID := map[string]*actors.StoredMessage{}
	for _, m := range all {
		byID[m.ID] = m
	}
	for room, ids := range want {
		msgs, more, err := w.History(ctx, actors.HistoryQuery{Room: room, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if got := HistoryIDs(msgs); !slices.Equal(got, ids) || more {
			t.Fatalf("History(%s) after reopen: got %d ids (more=%t), want %d in order", room, len(got), more, len(ids))
		}
		for _, m := range msgs {
			if orig := byID[m.ID]; !reflect.DeepEqual(m, *orig) {
				t.Fatalf("message %s after reopen:\n got %+v\nwant %+v", m.ID, m, *orig)
			}
		}
		last, err := w.LastID(ctx, room)
		if err != nil || last != ids[len(ids)-1] {
			t.Errorf("LastID(%s) = %q, %v; want %q", room, last, err, ids[len(ids)-1])
		}
	}
	// Private messages are stored with room "": LastID("") is the last of them.
	if last, err := w.LastID(ctx, ""); err != nil || last != "000594" {
		t.Errorf(`LastID("") = %q, %v; want the last private message, 000594`, last, err)
	}
	if last, err := w.LastID(ctx, "nope"); err != nil || last != "" {
		t.Errorf(`LastID("nope") = %q, %v; want "", nil`, last, err)
	}
}

func testHistory(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	var msgs []*actors.StoredMessage
	id := func(i int) string { return fmt.Sprintf("%04d", i) }
	for i := 1; i <= 10; i++ {
		msgs = append(msgs, RoomMsg(id(i), "a", "alice", i))
	}
	for i := 11; i <= 13; i++ {
		msgs = append(msgs, RoomMsg(id(i), "b", "bob", i))
	}
	for i := 14; i <= 15; i++ {
		msgs = append(msgs, PrivMsg(id(i), "alice", "bob", i))
	}
	AppendAll(t, w, msgs)

	ids := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, id(i))
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		q        actors.HistoryQuery
		want     []string
		wantMore bool
	}{
		{"newest 3", actors.HistoryQuery{Room: "a", Limit: 3}, ids(8, 10), true},
		{"exactly all", actors.HistoryQuery{Room: "a", Limit: 10}, ids(1, 10), false},
		{"more than all", actors.HistoryQuery{Room: "a", Limit: 50}, ids(1, 10), false},
		{"after", actors.HistoryQuery{Room: "a", After: id(7), Limit: 10}, ids(8, 10), false},
		{"after, newest of range", actors.HistoryQuery{Room: "a", After: id(2), Limit: 3}, ids(8, 10), true},
		{"before", actors.HistoryQuery{Room: "a", Before: id(4), Limit: 10}, ids(1, 3), false},
		{"before, limited", actors.HistoryQuery{Room: "a", Before: id(4), Limit: 2}, ids(2, 3), true},
		{"through is inclusive", actors.HistoryQuery{Room: "a", Through: id(4), Limit: 10}, ids(1, 4), false},
		{"after and through", actors.HistoryQuery{Room: "a", After: id(2), Through: id(5), Limit: 10}, ids(3, 5), false},
		{"after and before, limited", actors.HistoryQuery{Room: "a", After: id(2), Before: id(5), Limit: 1}, ids(4, 4), true},
		{"zero limit still reports more", actors.HistoryQuery{Room: "a", Limit: 0}, nil, true},
		{"other room", actors.HistoryQuery{Room: "b", Limit: 10}, ids(11, 13), false},
		{"unknown room", actors.HistoryQuery{Room: "nope", Limit: 10}, nil, false},
		{"private messages are never served", actors.HistoryQuery{Room: "", Limit: 10}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, more, err := w.History(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := HistoryIDs(msgs); !slices.Equal(got, tc.want) || more != tc.wantMore {
				t.Errorf("History(%+v) = %q, more=%t; want %q, more=%t", tc.q, got, more, tc.want, tc.wantMore)
			}
		})
	}
	if _, _, err := w.History(ctx, actors.HistoryQuery{Room: "a", Limit: -1}); err == nil {
		t.Error("History with Limit -1: got nil error, want one")
	}
}

// Ids sort as bytes, whatever the database's locale: a ULID's capitals
// and digits, and the lower-case and punctuation some tests use.
func testIDsSortAsBytes(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ids := []string{"01A", "01B", "01a", "01b", "A-1", "A_1", "a-1"} // byte order
	var msgs []*actors.StoredMessage
	for i, id := range slices.Backward(ids) {
		msgs = append(msgs, RoomMsg(id, "general", "alice", i))
	}
	AppendAll(t, w, msgs)
	if got := allIDs(t, w, "general"); !slices.Equal(got, ids) {
		t.Errorf("History order: got %q, want byte order %q", got, ids)
	}
}

func testFindNonce(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	inRoom := RoomMsg("r1", "general", "Alice", 1)
	inRoom.Nonce = "x1"
	private := PrivMsg("p1", "Alice", "Bob", 2)
	private.Nonce = "x1" // same nonce, other target: a different send
	other := RoomMsg("r2", "general", "bob", 3)
	other.Nonce = "x1" // same nonce, other sender
	plain := RoomMsg("r3", "general", "carol", 4)
	AppendAll(t, w, []*actors.StoredMessage{inRoom, private, other, plain})

	for _, tc := range []struct {
		key    actors.NonceKey
		wantID string
		wantTS time.Time
	}{
		{actors.NonceKey{Room: "general", Username: "alice", Nonce: "x1"}, "r1", inRoom.Timestamp},
		{actors.NonceKey{Recipient: "bob", Username: "alice", Nonce: "x1"}, "p1", private.Timestamp},
		{actors.NonceKey{Room: "general", Username: "bob", Nonce: "x1"}, "r2", other.Timestamp},
		{actors.NonceKey{Room: "random", Username: "alice", Nonce: "x1"}, "", time.Time{}},
		{actors.NonceKey{Room: "general", Username: "alice", Nonce: "x2"}, "", time.Time{}},
		{actors.NonceKey{Recipient: "carol", Username: "alice", Nonce: "x1"}, "", time.Time{}},
		{actors.NonceKey{Room: "general", Username: "carol", Nonce: ""}, "", time.Time{}},
	} {
		id, ts, ok, err := w.FindNonce(ctx, tc.key)
		if err != nil {
			t.Fatalf("FindNonce(%+v): %v", tc.key, err)
		}
		if id != tc.wantID || ok != (tc.wantID != "") || !ts.Equal(tc.wantTS) {
			t.Errorf("FindNonce(%+v) = %q, %v, %t; want %q, %v, %t", tc.key, id, ts, ok, tc.wantID, tc.wantTS, tc.wantID != "")
		}
	}
}

// A row refused as a duplicate (its id, or its sender's nonce in the room,
// names compared case-insensitively), or invalid, fails alone: its
// neighbours in the same transaction are committed.
func testBadRowsFailAlone(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{BatchMax: 12, BatchDelay: time.Hour})
	first := RoomMsg("m00", "general", "alice", 0)
	first.Nonce = "n"
	r0 := NewResults(2)
	for _, m := range []*actors.StoredMessage{first, RoomMsg("m01", "general", "alice", 1)} {
		if !w.Append(m, r0.Done(m.ID)) {
			t.Fatalf("Append(%s) = false", m.ID)
		}
	}
	if err := w.Sync(testCtx(t)); err != nil { // the barrier ends the batch
		t.Fatal(err)
	}
	for id, err := range r0.Wait(t, 2) {
		if err != nil {
			t.Fatalf("done(%s) = %v", id, err)
		}
	}

	var batch []*actors.StoredMessage
	for i := 2; i < 14; i++ {
		batch = append(batch, RoomMsg(fmt.Sprintf("m%02d", i), "general", "alice", i))
	}
	batch[1].Nonce, batch[1].Username = "n", "ALICE" // m03: nonce already used by alice in general
	batch[5].ID = "m01"                              // id already stored
	batch[9].Recipient = "bob"                       // m11: a room message with a recipient
	batch[10].Private = true                         // m12: a private message in a room
	wantBad := map[int]error{1: actors.ErrDuplicate, 5: actors.ErrDuplicate, 9: nil, 10: nil}

	r := NewResults(len(batch))
	for i, m := range batch {
		if !w.Append(m, r.Done(fmt.Sprint(i))) {
			t.Fatalf("Append(%s) = false", m.ID)
		}
	}
	got := r.Wait(t, len(batch)) // BatchMax reached: one transaction
	var wantIDs []string
	for i, m := range batch {
		err := got[fmt.Sprint(i)]
		wantErr, bad := wantBad[i]
		switch {
		case !bad && err != nil:
			t.Errorf("done(%s) = %v, want nil", m.ID, err)
		case bad && err == nil:
			t.Errorf("done(%s) = nil, want an error", m.ID)
		case bad && wantErr != nil && !errors.Is(err, wantErr):
			t.Errorf("done(%s) = %v, want %v", m.ID, err, wantErr)
		case bad && wantErr == nil && errors.Is(err, actors.ErrDuplicate):
			t.Errorf("done(%s) = %v, want an error that is not ErrDuplicate", m.ID, err)
		case !bad:
			wantIDs = append(wantIDs, m.ID)
		}
	}
	msgs, _, err := w.History(testCtx(t), actors.HistoryQuery{Room: "general", After: "m01", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := HistoryIDs(msgs); !slices.Equal(got, wantIDs) {
		t.Errorf("stored after m01: %q, want %q", got, wantIDs)
	}
}

// Two messages of one batch that clash with each other (one id, or one
// nonce from one sender to one room or recipient): the first is stored,
// the second refused as a duplicate.
func testDuplicatesWithinOneBatch(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{BatchMax: 6, BatchDelay: time.Hour})
	a := RoomMsg("d1", "general", "alice", 1)
	aAgain := RoomMsg("d1", "general", "alice", 2)
	n1 := RoomMsg("d2", "general", "bob", 3)
	n1.Nonce = "k"
	n2 := RoomMsg("d3", "general", "BOB", 4)
	n2.Nonce = "k"
	p1 := PrivMsg("d4", "bob", "Cid", 5)
	p1.Nonce = "k"
	p2 := PrivMsg("d5", "Bob", "cid", 6)
	p2.Nonce = "k"
	batch := []*actors.StoredMessage{a, aAgain, n1, n2, p1, p2}
	r := NewResults(len(batch))
	for i, m := range batch {
		if !w.Append(m, r.Done(fmt.Sprint(i))) {
			t.Fatalf("Append(%s) = false", m.ID)
		}
	}
	got := r.Wait(t, len(batch))
	for i := range batch {
		err := got[fmt.Sprint(i)]
		if dup := i%2 == 1; dup != errors.Is(err, actors.ErrDuplicate) || (!dup && err != nil) {
			t.Errorf("done of message %d (%s) = %v; want ErrDuplicate: %t", i, batch[i].ID, err, dup)
		}
	}
	if ids := allIDs(t, w, "general"); !slices.Equal(ids, []string{"d1", "d2"}) {
		t.Errorf("stored in general: %q, want d1, d2", ids)
	}
	msgs, _, err := w.History(testCtx(t), actors.HistoryQuery{Room: "general", Limit: 10})
	if err != nil || len(msgs) != 2 || msgs[0].Content != a.Content {
		t.Errorf("d1 as stored: %+v, %v; want the first of the two", msgs, err)
	}
}

// CreateRoom keeps a room's first creation time; Rooms lists the rooms
// that hold a message, the others being forgotten.
func testCreateRoomIsIdempotent(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	t1, t2 := BaseTime, BaseTime.Add(time.Hour)
	for _, c := range []struct {
		name string
		at   time.Time
	}{{"random", t2}, {"general", t1}, {"general", t2}, {"never-written", t1}} {
		if err := w.CreateRoom(ctx, c.name, c.at); err != nil {
			t.Fatalf("CreateRoom(%s): %v", c.name, err)
		}
	}
	AppendAll(t, w, []*actors.StoredMessage{RoomMsg("01JE0000000000000000000001", "general", "ann", 1), RoomMsg("01JE0000000000000000000002", "random", "ann", 2)})
	want := []actors.RoomRecord{{Name: "general", CreatedAt: t1}, {Name: "random", CreatedAt: t2}}
	if got, err := w.Rooms(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Rooms() = %+v, %v; want %+v", got, err, want)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, Options{})
	if got, err := w.Rooms(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Rooms() after reopen = %+v, %v; want %+v", got, err, want)
	}
}

func testAppendRefusedWhenQueueFull(t *testing.T, _ Opener, e Engine) {
	t.Run("messages", func(t *testing.T) {
		open := e.NewDB(t) // a database of its own
		w := open(t, Options{QueueMessages: 4, BatchMax: 1})
		release := BlockWriter(t, w)
		r := NewResults(4)
		var accepted []string
		for i := 1; i <= 4; i++ {
			m := RoomMsg(fmt.Sprintf("m%d", i), "general", "alice", i)
			if !w.Append(m, r.Done(m.ID)) {
				t.Fatalf("Append(%s) into a queue with room = false", m.ID)
			}
			accepted = append(accepted, m.ID)
		}
		var refusedCalled atomic.Bool
		if w.Append(RoomMsg("m5", "general", "alice", 5), func(error) { refusedCalled.Store(true) }) {
			t.Fatal("Append into a full queue = true, want false")
		}
		release()
		checkOnlyAccepted(t, w, r, accepted, &refusedCalled)
	})

	t.Run("bytes", func(t *testing.T) {
		open := e.NewDB(t) // a database of its own
		size := e.MessageSize(RoomMsg("m1", "general", "alice", 1))
		w := open(t, Options{QueueBytes: 3 * size, BatchMax: 1})
		release := BlockWriter(t, w) // its bytes are given back before its done runs
		r := NewResults(3)
		var accepted []string
		for i := 1; i <= 3; i++ {
			m := RoomMsg(fmt.Sprintf("m%d", i), "general", "alice", i)
			if !w.Append(m, r.Done(m.ID)) {
				t.Fatalf("Append(%s) within the byte budget = false", m.ID)
			}
			accepted = append(accepted, m.ID)
		}
		var refusedCalled atomic.Bool
		if w.Append(RoomMsg("m4", "general", "alice", 4), func(error) { refusedCalled.Store(true) }) {
			t.Fatal("Append beyond the byte budget = true, want false")
		}
		release()
		checkOnlyAccepted(t, w, r, accepted, &refusedCalled)
	})

	t.Run("closed", func(t *testing.T) {
		open := e.NewDB(t) // a database of its own
		w := open(t, Options{})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var called atomic.Bool
		if w.Append(RoomMsg("m1", "general", "alice", 1), func(error) { called.Store(true) }) {
			t.Error("Append after Close = true, want false")
		}
		if w.Append(nil, nil) {
			t.Error("Append(nil) = true, want false")
		}
		if err := w.Sync(testCtx(t)); !errors.Is(err, e.ErrClosed) {
			t.Errorf("Sync after Close = %v, want ErrClosed", err)
		}
		if err := w.CreateRoom(testCtx(t), "x", BaseTime); !errors.Is(err, e.ErrClosed) {
			t.Errorf("CreateRoom after Close = %v, want ErrClosed", err)
		}
		if called.Load() {
			t.Error("done of a refused Append was called")
		}
	})
}

// checkOnlyAccepted waits for the accepted messages, then checks that they,
// the blocker, and nothing else were stored, and that the refused message's
// done was never called.
func checkOnlyAccepted(t *testing.T, w Store, r *Results, accepted []string, refusedCalled *atomic.Bool) {
	t.Helper()
	for id, err := range r.Wait(t, len(accepted)) {
		if err != nil {
			t.Errorf("done(%s) = %v", id, err)
		}
	}
	if err := w.Sync(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if refusedCalled.Load() {
		t.Error("done of the refused message was called")
	}
	if got, want := allIDs(t, w, "general"), append([]string{"blocker"}, accepted...); !slices.Equal(got, want) {
		t.Errorf("stored: %q, want %q", got, want)
	}
}

func testSync(t *testing.T, _ Opener, e Engine) {
	t.Run("barrier writes what came before at once", func(t *testing.T) {
		open := e.NewDB(t) // a database of its own
		// With an hour of BatchDelay, only the barrier can end this batch.
		w := open(t, Options{BatchDelay: time.Hour})
		r := NewResults(10)
		for i := range 10 {
			m := RoomMsg(fmt.Sprint(i), "general", "alice", i)
			if !w.Append(m, r.Done(m.ID)) {
				t.Fatal("Append = false")
			}
		}
		if err := w.Sync(testCtx(t)); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		// Every done before the barrier's has been called: nothing to wait for.
		if got := len(r.ch); got != 10 {
			t.Fatalf("after Sync, %d of 10 done callbacks called", got)
		}
		for range 10 {
			if res := <-r.ch; res.err != nil {
				t.Errorf("done(%s) = %v", res.id, res.err)
			}
		}
	})

	t.Run("honours ctx", func(t *testing.T) {
		open := e.NewDB(t) // a database of its own
		w := open(t, Options{QueueMessages: 1, BatchMax: 1})
		release := BlockWriter(t, w)
		if !w.Append(RoomMsg("m1", "general", "alice", 1), nil) {
			t.Fatal("Append = false")
		}
		// The queue is full and nobody reads it: the send must give up.
		ctx, cancel := context.WithTimeout(testCtx(t), 20*time.Millisecond)
		defer cancel()
		if err := w.Sync(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Sync with a full, stuck queue = %v, want DeadlineExceeded", err)
		}
		if err := w.CreateRoom(ctx, "x", BaseTime); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("CreateRoom with a full, stuck queue = %v, want DeadlineExceeded", err)
		}
		release()
		if err := w.Sync(testCtx(t)); err != nil {
			t.Errorf("Sync after release: %v", err)
		}
	})
}

// Close races with many appenders: no panic, every accepted message's done is
// called exactly once, everything acknowledged is stored and nothing else,
// nothing is accepted after Close has returned.
func testCloseWhileAppending(t *testing.T, open Opener, _ Engine) {
	// An hour of BatchDelay: batches end only when full, so Close finds a
	// partial batch and a queue to drain.
	w := open(t, Options{QueueMessages: 256, BatchMax: 64, BatchDelay: time.Hour})
	const appenders = 8
	var (
		mu         sync.Mutex
		calls      = map[string]int{}
		committed  = map[string]bool{}
		accepted   atomic.Int64
		late       atomic.Int64 // accepted after Close returned: must stay 0
		closed     atomic.Bool
		reached    = make(chan struct{})
		reachOnce  sync.Once
		wg         sync.WaitGroup
		acceptedBy [appenders][]string
	)
	done := func(id string) func(error) {
		return func(err error) {
			mu.Lock()
			defer mu.Unlock()
			calls[id]++
			if err == nil {
				committed[id] = true
				if len(committed) == 1000 {
					reachOnce.Do(func() { close(reached) })
				}
			}
		}
	}
	for g := range appenders {
		wg.Add(1)
		go func() { // appender g: Appends until it has tried once after Close returned
			defer wg.Done()
			for i := 0; ; i++ {
				id := fmt.Sprintf("g%d-%08d", g, i)
				wasClosed := closed.Load()
				if w.Append(RoomMsg(id, "general", "alice", i), done(id)) {
					acceptedBy[g] = append(acceptedBy[g], id)
					accepted.Add(1)
					if wasClosed {
						late.Add(1)
					}
				} else {
					runtime.Gosched() // queue full: let the writer run
				}
				if wasClosed {
					return
				}
			}
		}()
	}
	WaitClosed(t, reached, "1000 commits before closing")
	var closers sync.WaitGroup
	closeErrs := make([]error, 2)
	for i := range closeErrs {
		closers.Add(1)
		go func() { // two concurrent Closes: both wait for the one close
			defer closers.Done()
			closeErrs[i] = w.Close()
		}()
	}
	closers.Wait()
	closed.Store(true)
	waitGroupDone(t, &wg, "appenders to stop")

	for i, err := range closeErrs {
		if err != nil {
			t.Errorf("Close #%d: %v", i, err)
		}
	}
	if n := late.Load(); n != 0 {
		t.Errorf("%d Appends accepted after Close returned", n)
	}
	mu.Lock()
	defer mu.Unlock()
	var all []string
	for g := range appenders {
		all = append(all, acceptedBy[g]...)
	}
	if int64(len(calls)) != accepted.Load() {
		t.Errorf("done called for %d messages, %d accepted", len(calls), accepted.Load())
	}
	for _, id := range all {
		if calls[id] != 1 {
			t.Fatalf("done(%s) called %d times, want 1", id, calls[id])
		}
	}
	stored := allIDs(t, open(t, Options{}), "general")
	if len(stored) != len(committed) {
		t.Errorf("%d rows stored, %d acknowledged", len(stored), len(committed))
	}
	for _, id := range stored {
		if !committed[id] {
			t.Errorf("stored %s was not acknowledged", id)
		}
	}
	t.Logf("%d accepted, %d committed, all acknowledged before Close returned", len(all), len(committed))
}

// DeleteRoom deletes a room's record, its messages, and every account's
// membership and marker in it; other rooms and private messages stay.
func testDeleteRoom(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	for _, room := range []string{"doomed", "kept"} {
		if err := w.CreateRoom(ctx, room, BaseTime); err != nil {
			t.Fatal(err)
		}
	}
	AppendAll(t, w, []*actors.StoredMessage{
		RoomMsg("01", "doomed", "bob", 1), RoomMsg("02", "kept", "bob", 2),
		RoomMsg("03", "doomed", "bob", 3), PrivMsg("04", "bob", "ann", 4),
	})
	ann := actors.Owner{Key: "ann", Name: "ann"}
	for _, room := range []string{"doomed", "kept"} {
		if err := w.SetAccountRoom(ctx, ann.Key, room, true, "01", 10); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.DeleteRoom(ctx, "doomed"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	if ids := allIDs(t, w, "doomed"); len(ids) != 0 {
		t.Errorf("History(doomed) after DeleteRoom: %q, want none", ids)
	}
	if ids := allIDs(t, w, "kept"); !slices.Equal(ids, []string{"02"}) {
		t.Errorf("History(kept) after DeleteRoom(doomed): %q, want 02", ids)
	}
	if last, err := w.LastID(ctx, ""); err != nil || last != "04" {
		t.Errorf(`LastID("") after DeleteRoom: %q, %v, want the private message 04 kept`, last, err)
	}
	if rooms, err := w.Rooms(ctx); err != nil || len(rooms) != 1 || rooms[0].Name != "kept" {
		t.Errorf("Rooms after DeleteRoom: %+v, %v, want kept alone", rooms, err)
	}
	if rooms, err := w.AccountRooms(ctx, ann.Key); err != nil || !slices.Equal(rooms, []string{"kept"}) {
		t.Errorf("AccountRooms after DeleteRoom: %q, %v, want kept alone", rooms, err)
	}
	// A room of the same name made again starts with no marker.
	got, err := w.RoomsRead(ctx, ann, []string{"doomed", "kept"})
	if want := []actors.ReadState{{Room: "doomed"}, {Room: "kept", Read: "01", Unread: 1}}; err != nil || !slices.Equal(got, want) {
		t.Errorf("RoomsRead after DeleteRoom: %+v, %v, want %+v", got, err, want)
	}
}
