package persistence

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"parley/actors"
	"parley/persistence/storetest"
)

func TestSchemaVersionAndColumns(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	ctx := testCtx(t)

	var version int
	if err := w.rdb.GetContext(ctx, &version, "PRAGMA user_version"); err != nil {
		t.Fatal(err)
	}
	if got, want := version, len(migrations); got != want || want != 9 {
		t.Errorf("user_version = %d, want %d (and 8 migrations, got %d)", got, want, len(migrations))
	}

	type column struct {
		CID     int     `db:"cid"`
		Name    string  `db:"name"`
		Type    string  `db:"type"`
		NotNull bool    `db:"notnull"`
		Default *string `db:"dflt_value"`
		PK      int     `db:"pk"`
	}
	strip := func(cols []column) []string {
		var out []string
		for _, c := range cols {
			out = append(out, fmt.Sprintf("%s %s notnull=%t pk=%d", c.Name, c.Type, c.NotNull, c.PK))
		}
		return out
	}
	for _, tc := range []struct {
		table string
		want  []string
	}{
		{"messages", []string{
			// The original Rust chat's six, by its names, in its order.
			"id TEXT notnull=true pk=1", /* WITHOUT ROWID: a primary key is NOT NULL, as the Rust chat meant */
			"room TEXT notnull=true pk=0",
			"username TEXT notnull=true pk=0",
			"content TEXT notnull=true pk=0",
			"timestamp TEXT notnull=true pk=0",
			"is_private BOOLEAN notnull=true pk=0",
			// Then parley's.
			"recipient TEXT notnull=false pk=0",
			"nonce TEXT notnull=false pk=0",
			// Version 5, additive.
			"edited_at TEXT notnull=false pk=0",
			"deleted BOOLEAN notnull=true pk=0",
		}},
		{"rooms", []string{
			"name TEXT notnull=false pk=1",
			"created_at TEXT notnull=true pk=0",
		}},
		// Version 2, additive.
		{"accounts", []string{
			"id INTEGER notnull=false pk=1",
			"username TEXT notnull=true pk=0",
			"skeleton TEXT notnull=true pk=0",
			"password_hash TEXT notnull=true pk=0",
			"role TEXT notnull=true pk=0",
			"created_at TEXT notnull=true pk=0",
		}},
		{"sessions", []string{
			"token_hash BLOB notnull=true pk=1",
			"account_id INTEGER notnull=true pk=0",
			"created_at TEXT notnull=true pk=0",
			"expires_at TEXT notnull=true pk=0",
			"last_seen TEXT notnull=true pk=0",
		}},
		// Version 3, additive; version 8 adds edited_at.
		{"conversation_messages", []string{
			"owner TEXT notnull=true pk=1",
			"peer TEXT notnull=true pk=2",
			"id TEXT notnull=true pk=3",
			"edited_at TEXT notnull=false pk=0",
		}},
		// Version 6: reactions and mentions, tables of their own.
		{"reactions", []string{
			"id TEXT notnull=true pk=1",
			"emoji TEXT notnull=true pk=2",
			"reactor TEXT notnull=true pk=3",
			"name TEXT notnull=true pk=0",
			"at TEXT notnull=true pk=0",
		}},
		{"mentions", []string{
			"who TEXT notnull=true pk=1",
			"room TEXT notnull=true pk=2",
			"id TEXT notnull=true pk=3",
			"pos INTEGER notnull=true pk=0",
			"name TEXT notnull=true pk=0",
		}},
	} {
		var cols []column
		if err := w.rdb.SelectContext(ctx, &cols, "PRAGMA table_info("+tc.table+")"); err != nil {
			t.Fatal(err)
		}
		if got := strip(cols); !slices.Equal(got, tc.want) {
			t.Errorf("table_info(%s):\n got %q\nwant %q", tc.table, got, tc.want)
		}
	}

	var indexes []struct {
		Seq     int    `db:"seq"`
		Name    string `db:"name"`
		Unique  bool   `db:"unique"`
		Origin  string `db:"origin"`
		Partial bool   `db:"partial"`
	}
	if err := w.rdb.SelectContext(ctx, &indexes, "PRAGMA index_list(messages)"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ix := range indexes {
		if ix.Origin == "c" { // created by CREATE INDEX, not by the primary key
			got = append(got, fmt.Sprintf("%s unique=%t partial=%t", ix.Name, ix.Unique, ix.Partial))
		}
	}
	slices.Sort(got)
	if want := []string{"messages_nonce unique=true partial=true", "messages_room_edited unique=false partial=true", "messages_room_id unique=false partial=false"}; !slices.Equal(got, want) {
		t.Errorf("indexes on messages: got %q, want %q", got, want)
	}

	// Reopening must not run version 1 again (its CREATE TABLE would fail).
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2 := openTest(t, path, Options{})
	if err := w2.rdb.GetContext(ctx, &version, "PRAGMA user_version"); err != nil {
		t.Fatal(err)
	}
	if version != len(migrations) {
		t.Errorf("after reopen, user_version = %d, want %d", version, len(migrations))
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rawDB(t, path).Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(testCtx(t), path, Options{Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Fatalf("Open of a version 99 database: got %v, want a 'schema version 99 is newer' error", err)
	}
}

func TestWriterPragmas(t *testing.T) {
	ctx := testCtx(t)
	// FULL's per-commit sync is the acker's (durable.go): the connections
	// themselves commit at NORMAL, and the writer's never checkpoints.
	for _, tc := range []struct {
		sync    string
		want    int
		durable bool
	}{{"", 1, true}, {"FULL", 1, true}, {"normal", 1, false}, {"off", 0, false}} {
		t.Run("synchronous="+tc.sync, func(t *testing.T) {
			w := openTest(t, tempDB(t), Options{Synchronous: tc.sync})
			if w.durable != tc.durable {
				t.Errorf("durable = %v, want %v", w.durable, tc.durable)
			}
			// The writer's own connection: the one that commits.
			var mode string
			var level, busy, autockpt int
			if err := w.wconn.GetContext(ctx, &mode, "PRAGMA journal_mode"); err != nil {
				t.Fatal(err)
			}
			if err := w.wconn.GetContext(ctx, &level, "PRAGMA synchronous"); err != nil {
				t.Fatal(err)
			}
			if err := w.wconn.GetContext(ctx, &busy, "PRAGMA busy_timeout"); err != nil {
				t.Fatal(err)
			}
			if err := w.wconn.GetContext(ctx, &autockpt, "PRAGMA wal_autocheckpoint"); err != nil {
				t.Fatal(err)
			}
			if mode != "wal" || level != tc.want || busy != 5000 || autockpt != 0 {
				t.Errorf("writer connection: journal_mode=%s synchronous=%d busy_timeout=%d wal_autocheckpoint=%d, want wal %d 5000 0",
					mode, level, busy, autockpt, tc.want)
			}
			// The checkpointer's: never OFF unless everything is, as its
			// checkpoints must sync the WAL and the database file.
			if err := w.cconn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
				t.Fatal(err)
			}
			if level != tc.want {
				t.Errorf("checkpoint connection: synchronous=%d, want %d", level, tc.want)
			}
		})
	}

	t.Run("read pool is read-only", func(t *testing.T) {
		w := openTest(t, tempDB(t), Options{})
		_, err := w.rdb.ExecContext(ctx, "INSERT INTO rooms (name, created_at) VALUES ('x', 'y')")
		var se sqlite3.Error
		if !errors.As(err, &se) || se.Code != sqlite3.ErrReadonly {
			t.Errorf("insert through the read pool: got %v, want SQLITE_READONLY", err)
		}
	})
}

func TestAppendCommitsAndSurvivesReopen(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	var all []*actors.StoredMessage
	want := map[string][]string{} // room -> ids in order
	for i := range 600 {
		id := fmt.Sprintf("%06d", i)
		var m *actors.StoredMessage
		switch i % 6 {
		case 0:
			m = privMsg(id, "alice", "bob", i)
			m.Nonce = "n" + id
		case 1, 2:
			m = roomMsg(id, "random", "bob", i)
		default:
			m = roomMsg(id, "general", "alice", i)
			m.Nonce = "n" + id
		}
		all = append(all, m)
		if !m.Private {
			want[m.Room] = append(want[m.Room], id)
		}
	}
	appendAll(t, w, all)
	st := w.Stats()
	if st.Rows != 600 || st.Batches < 1 || st.FailedRows != 0 || st.FailedBatches != 0 || st.QueueBytes != 0 {
		t.Errorf("Stats() = %+v, want 600 rows in at least 1 batch, no failures, 0 queued bytes", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = openTest(t, path, Options{})
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
		if got := historyIDs(msgs); !slices.Equal(got, ids) || more {
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
	var private []struct {
		Room      string `db:"room"`
		Recipient string `db:"recipient"`
	}
	if err := w.rdb.SelectContext(ctx, &private, "SELECT room, recipient FROM messages WHERE is_private = 1"); err != nil {
		t.Fatal(err)
	}
	if len(private) != 100 || private[0].Room != "" || private[0].Recipient != "bob" {
		t.Errorf("private rows: got %d, first %+v; want 100 with room '' and recipient bob", len(private), private)
	}
	if last, err := w.LastID(ctx, "nope"); err != nil || last != "" {
		t.Errorf(`LastID("nope") = %q, %v; want "", nil`, last, err)
	}
}

func TestTimestampsAndTheRustChatsQuery(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	zone := time.FixedZone("UTC+2", 2*3600)
	early := roomMsg("m1", "general", "alice", 0)
	early.Timestamp = time.Date(2024, 1, 1, 14, 0, 0, 123456789, zone) // 12:00:00.123456789Z
	late := roomMsg("m2", "general", "bob", 0)
	late.Timestamp = time.Date(2024, 1, 1, 12, 0, 1, 0, time.UTC)
	appendAll(t, w, []*actors.StoredMessage{early, late})
	if err := w.CreateRoom(testCtx(t), "general", early.Timestamp); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// The Rust chat's README one-liner, through a connection of our own.
	var rows []struct {
		ID        string `db:"id"`
		Room      string `db:"room"`
		Username  string `db:"username"`
		Content   string `db:"content"`
		Timestamp string `db:"timestamp"`
		Private   bool   `db:"is_private"`
		Recipient *string
		Nonce     *string
		// Version 5's columns follow the Rust chat's six, which it reads by place.
		EditedAt *string `db:"edited_at"`
		Deleted  bool    `db:"deleted"`
	}
	db := rawDB(t, path)
	if err := db.Select(&rows, "SELECT * FROM messages ORDER BY timestamp DESC LIMIT 10;"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.ID+" "+r.Timestamp)
	}
	if want := []string{"m2 2024-01-01T12:00:01.000Z", "m1 2024-01-01T12:00:00.123Z"}; !slices.Equal(got, want) {
		t.Errorf("the Rust chat's query: got %q, want %q", got, want)
	}
	var created string
	if err := db.Get(&created, "SELECT created_at FROM rooms WHERE name = 'general'"); err != nil || created != "2024-01-01T12:00:00.123Z" {
		t.Errorf("rooms.created_at = %q, %v; want 2024-01-01T12:00:00.123Z", created, err)
	}

	// And through the sqlite3 shell, as the Rust chat's README runs it.
	shell, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Logf("sqlite3 shell not installed; the Rust chat's query was checked through the driver only")
		return
	}
	out, err := exec.Command(shell, path, "SELECT * FROM messages ORDER BY timestamp DESC LIMIT 10;").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 shell: %v: %s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "m2|general|bob|") || !strings.Contains(lines[1], "|2024-01-01T12:00:00.123Z|0||") {
		t.Errorf("sqlite3 shell output:\n%s\nwant m2 then m1 with the Rust chat's columns first", out)
	}
}

// The history query is answered from messages_room_id alone (what it
// returns is the conformance suite's, persistence/storetest).
func TestHistoryQueryPlan(t *testing.T) {
	w := openTest(t, tempDB(t), Options{})
	ctx := testCtx(t)
	var plan []struct {
		ID     int    `db:"id"`
		Parent int    `db:"parent"`
		NotUse int    `db:"notused"`
		Detail string `db:"detail"`
	}
	q := "EXPLAIN QUERY PLAN " + historySelect + " AND id > ? ORDER BY id DESC LIMIT ?"
	if err := w.rdb.SelectContext(ctx, &plan, q, "a", "0002", 3); err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || !strings.Contains(plan[0].Detail, "messages_room_id") {
		t.Errorf("history query plan = %+v, want a search of messages_room_id alone", plan)
	}
}

// FindNonce is answered from the messages_nonce index (what it returns is
// the conformance suite's, persistence/storetest).
func TestFindNonceQueryPlan(t *testing.T) {
	w := openTest(t, tempDB(t), Options{})
	var plan []struct {
		ID     int    `db:"id"`
		Parent int    `db:"parent"`
		NotUse int    `db:"notused"`
		Detail string `db:"detail"`
	}
	if err := w.rdb.SelectContext(testCtx(t), &plan, "EXPLAIN QUERY PLAN "+findNonceSQL, "general", "", "alice", "x1"); err != nil {
		t.Fatal(err)
	}
	if len(plan) != 1 || !strings.Contains(plan[0].Detail, "USING INDEX messages_nonce") {
		t.Errorf("FindNonce query plan = %+v, want a search of messages_nonce", plan)
	}
}

// A row refused by a constraint, or invalid, fails alone: its neighbours in
// the same transaction (and the same multi-row statement) are committed.
func TestBadRowsFailAlone(t *testing.T) {
	w := openTest(t, tempDB(t), Options{BatchMax: 12, BatchDelay: time.Hour})
	first := roomMsg("m00", "general", "alice", 0)
	first.Nonce = "n"
	r0 := newResults(2)
	for _, m := range []*actors.StoredMessage{first, roomMsg("m01", "general", "alice", 1)} {
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
	for i := 2; i < 14; i++ { // 12 rows: one chunk of 8, then 4 single rows
		batch = append(batch, roomMsg(fmt.Sprintf("m%02d", i), "general", "alice", i))
	}
	batch[1].Nonce, batch[1].Username = "n", "ALICE" // m03: nonce already used by alice in general
	batch[5].ID = "m01"                              // id already stored
	batch[9].Recipient = "bob"                       // m11: a room message with a recipient
	wantBad := map[int]error{1: actors.ErrDuplicate, 5: actors.ErrDuplicate, 9: nil}

	r := newResults(len(batch))
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
		case !bad:
			wantIDs = append(wantIDs, m.ID)
		}
	}
	msgs, _, err := w.History(testCtx(t), actors.HistoryQuery{Room: "general", After: "m01", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got := historyIDs(msgs); !slices.Equal(got, wantIDs) {
		t.Errorf("stored after m01: %q, want %q", got, wantIDs)
	}
	if st := w.Stats(); st.FailedRows != 3 || st.FailedBatches != 0 || st.Rows != 11 || st.LastBatchSize != 12 {
		t.Errorf("Stats() = %+v, want FailedRows 3, FailedBatches 0, Rows 11, LastBatchSize 12", st)
	}
}

// A refused row may sit anywhere in a full multi-row statement, which keeps
// the rows before it (INSERT OR FAIL): the writer must fail exactly that row,
// whether it is the first, a middle or the last, and store all the others.
func TestRefusedRowAnywhereInStatement(t *testing.T) {
	n := chunkSizes[0]
	for _, pos := range []int{0, n / 2, n - 1} {
		t.Run(fmt.Sprintf("row=%d", pos), func(t *testing.T) {
			w := openTest(t, tempDB(t), Options{BatchMax: n, BatchDelay: time.Hour})
			stored := roomMsg("a000", "room-0", "alice", 0)
			r0 := newResults(1)
			if !w.Append(stored, r0.Done(stored.ID)) {
				t.Fatal("Append(a000) = false")
			}
			if err := w.Sync(testCtx(t)); err != nil { // the barrier ends the batch
				t.Fatal(err)
			}
			if err := r0.Wait(t, 1)[stored.ID]; err != nil {
				t.Fatalf("done(a000) = %v", err)
			}

			rooms := []string{"room-0", "room-1", "room-2"}
			r := newResults(n)
			want := map[string][]string{"room-0": {"a000"}}
			for i := range n {
				room := rooms[i%len(rooms)]
				id := fmt.Sprintf("b%03d", i)
				if i == pos {
					id = stored.ID // already stored
				} else {
					want[room] = append(want[room], id)
				}
				if !w.Append(roomMsg(id, room, "alice", i), r.Done(fmt.Sprint(i))) {
					t.Fatalf("Append(%d) = false", i)
				}
			}
			got := r.Wait(t, n) // BatchMax reached: one transaction, one statement
			for i := range n {
				err := got[fmt.Sprint(i)]
				if i == pos && !errors.Is(err, actors.ErrDuplicate) {
					t.Errorf("done(%d) = %v, want %v", i, err, actors.ErrDuplicate)
				}
				if i != pos && err != nil {
					t.Errorf("done(%d) = %v, want nil", i, err)
				}
			}
			for _, room := range rooms {
				msgs, _, err := w.History(testCtx(t), actors.HistoryQuery{Room: room, Limit: 2 * n})
				if err != nil {
					t.Fatal(err)
				}
				if got := historyIDs(msgs); !slices.Equal(got, want[room]) {
					t.Errorf("stored in %s: %q, want %q", room, got, want[room])
				}
			}
		})
	}
}

func TestAppendRefusedWhenQueueFull(t *testing.T) {
	t.Run("messages", func(t *testing.T) {
		w := openTest(t, tempDB(t), Options{QueueMessages: 4, BatchMax: 1})
		release := blockWriter(t, w)
		r := newResults(4)
		var accepted []string
		for i := 1; i <= 4; i++ {
			m := roomMsg(fmt.Sprintf("m%d", i), "general", "alice", i)
			if !w.Append(m, r.Done(m.ID)) {
				t.Fatalf("Append(%s) into a queue with room = false", m.ID)
			}
			accepted = append(accepted, m.ID)
		}
		var refusedCalled atomic.Bool
		if w.Append(roomMsg("m5", "general", "alice", 5), func(error) { refusedCalled.Store(true) }) {
			t.Fatal("Append into a full queue = true, want false")
		}
		if st := w.Stats(); st.Rejected != 1 || st.QueueDepth != 4 {
			t.Errorf("Stats() = %+v, want Rejected 1, QueueDepth 4", st)
		}
		release()
		checkOnlyAccepted(t, w, r, accepted, &refusedCalled)
	})

	t.Run("bytes", func(t *testing.T) {
		size := messageSize(roomMsg("m1", "general", "alice", 1))
		w := openTest(t, tempDB(t), Options{QueueBytes: 3 * size, BatchMax: 1})
		release := blockWriter(t, w) // its bytes are given back before its done runs
		r := newResults(3)
		var accepted []string
		for i := 1; i <= 3; i++ {
			m := roomMsg(fmt.Sprintf("m%d", i), "general", "alice", i)
			if !w.Append(m, r.Done(m.ID)) {
				t.Fatalf("Append(%s) within the byte budget = false", m.ID)
			}
			accepted = append(accepted, m.ID)
		}
		var refusedCalled atomic.Bool
		if w.Append(roomMsg("m4", "general", "alice", 4), func(error) { refusedCalled.Store(true) }) {
			t.Fatal("Append beyond the byte budget = true, want false")
		}
		if st := w.Stats(); st.Rejected != 1 || st.QueueBytes != 3*size || st.QueueDepth != 3 {
			t.Errorf("Stats() = %+v, want Rejected 1, QueueBytes %d, QueueDepth 3", st, 3*size)
		}
		release()
		checkOnlyAccepted(t, w, r, accepted, &refusedCalled)
	})

	t.Run("closed", func(t *testing.T) {
		w := openTest(t, tempDB(t), Options{})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var called atomic.Bool
		if w.Append(roomMsg("m1", "general", "alice", 1), func(error) { called.Store(true) }) {
			t.Error("Append after Close = true, want false")
		}
		if err := w.Sync(testCtx(t)); !errors.Is(err, ErrClosed) {
			t.Errorf("Sync after Close = %v, want ErrClosed", err)
		}
		if err := w.CreateRoom(testCtx(t), "x", baseTime); !errors.Is(err, ErrClosed) {
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
func checkOnlyAccepted(t *testing.T, w *Store, r *storetest.Results, accepted []string, refusedCalled *atomic.Bool) {
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
	msgs, _, err := w.History(testCtx(t), actors.HistoryQuery{Room: "general", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := historyIDs(msgs), append([]string{"blocker"}, accepted...); !slices.Equal(got, want) {
		t.Errorf("stored: %q, want %q", got, want)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 400)), 0o644); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "file")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		opts       Options
		want       string
		is         error
	}{
		{"empty path", "", Options{}, "empty path", nil},
		{"missing directory", filepath.Join(dir, "no", "such", "chat.db"), Options{}, "no such file or directory", fs.ErrNotExist},
		{"path is a directory", dir, Options{}, "is a directory", nil},
		{"parent is a file", filepath.Join(aFile, "chat.db"), Options{}, "not a directory", nil},
		{"not a database", notDB, Options{}, "file is not a database", nil},
		{"bad synchronous", filepath.Join(dir, "ok.db"), Options{Synchronous: "SOMETIMES"}, `invalid synchronous mode "SOMETIMES"`, nil},
		{"synchronous EXTRA", filepath.Join(dir, "ok.db"), Options{Synchronous: "extra"}, `invalid synchronous mode "extra" (want FULL, NORMAL or OFF)`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Logger = quietLogger()
			w, err := Open(testCtx(t), tc.path, tc.opts)
			if err == nil {
				_ = w.Close()
				t.Fatalf("Open(%q) = nil error, want one containing %q", tc.path, tc.want)
			}
			prefix := fmt.Sprintf("open database %q: ", tc.path)
			if !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q) error = %q, want %q...%q", tc.path, err, prefix, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Open(%q) error = %v, want one wrapping %v", tc.path, err, tc.is)
			}
		})
	}
}

// The database locked by another connection (SQLite locks it the same way
// for another process) for longer than the busy timeout fails Open.
func TestOpenLocked(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	other := rawDB(t, path)
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.Exec("INSERT INTO rooms (name, created_at) VALUES ('held', 'x')"); err != nil {
		t.Fatal(err) // now holds the write lock
	}
	_, err = Open(testCtx(t), path, Options{BusyTimeout: 50 * time.Millisecond, Logger: quietLogger()})
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy || !strings.HasPrefix(err.Error(), fmt.Sprintf("open database %q: ", path)) {
		t.Errorf("Open of a locked database = %v, want an 'open database' error wrapping SQLITE_BUSY", err)
	}
}

func TestStatsCountBatches(t *testing.T) {
	w := openTest(t, tempDB(t), Options{BatchMax: 4, BatchDelay: time.Hour})
	var msgs []*actors.StoredMessage
	for i := range 8 {
		msgs = append(msgs, roomMsg(fmt.Sprint(i), "general", "alice", i))
	}
	appendAll(t, w, msgs) // BatchMax ends each batch: exactly two
	// A barrier alone is no transaction: it must not count as a batch.
	if err := w.Sync(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Batches != 2 || st.Rows != 8 || st.LastBatchSize != 4 || st.LastCommit <= 0 || st.QueueDepth != 0 || st.QueueBytes != 0 {
		t.Errorf("Stats() = %+v, want 2 batches, 8 rows, last batch 4, a commit time, empty queue", st)
	}
}
