package migratecmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/internal/accounts"
	"parley/internal/pgtest"
	"parley/persistence"
	"parley/persistence/pgstore"
	"parley/persistence/storetest"
)

// testLimit bounds every step of these tests: generous, for a loaded
// 2-core machine.
const testLimit = 60 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testLimit)
	t.Cleanup(cancel)
	return ctx
}

// cheapHash keeps the tests' argon2id hashes fast; both sides' services
// use it, so a login does not rehash.
var cheapHash = accounts.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

func service(t testing.TB, st accounts.Store) *accounts.Service {
	t.Helper()
	s, err := accounts.New(accounts.Config{Store: st, Hash: cheapHash, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func id(i int) string { return fmt.Sprintf("01JC%022d", i) }

// chat is what fill put in the SQLite database that the test checks on
// the PostgreSQL side.
type chat struct {
	annToken string // a session of Ann's
	rooms    []string
}

// fill makes a SQLite chat at path through the real stores: rooms (one
// without messages), room messages (some with nonces, some edited, one
// deleted), private messages kept between accounts and a guest's (with
// nonces), accounts (one admin) with sessions, their rooms and read
// markers.
func fill(t *testing.T, path string) chat {
	ctx := testCtx(t)
	st, err := persistence.Open(ctx, path, persistence.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Errorf("close the SQLite store: %v", err)
		}
	}()
	svc := service(t, st)
	_, annToken, err := svc.Register(ctx, "Ann", "ann's long password", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Register(ctx, "Ben", "ben's long password", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Login(ctx, "Ben", "ben's long password", "192.0.2.2"); err != nil { // a second session
		t.Fatal(err)
	}
	ann, err := st.AccountBySkeleton(ctx, actors.Skeleton("Ann"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, accounts.Account{Username: "Cid", Skeleton: actors.Skeleton("Cid"),
		PasswordHash: ann.PasswordHash, Role: accounts.RoleAdmin, CreatedAt: storetest.BaseTime}); err != nil {
		t.Fatal(err)
	}

	rooms := []string{"general", "tech", "quiet"}
	for i, r := range rooms {
		if err := st.CreateRoom(ctx, r, storetest.BaseTime.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	var msgs []*actors.StoredMessage
	for i := range 130 {
		var m *actors.StoredMessage
		switch {
		case i%10 == 3: // a guest's private message, with a nonce: stored, kept by no one
			m = storetest.PrivMsg(id(i), "guest7", "Ann", i)
			m.Nonce = fmt.Sprintf("pm-%d", i)
		case i%10 == 7: // kept between Ann and Ben
			m = storetest.PrivMsg(id(i), "Ann", "Ben", i)
			m.Kept = true
		case i%10 == 8:
			m = storetest.PrivMsg(id(i), "Ben", "Ann", i)
			m.Kept = true
		case i%3 == 0:
			m = storetest.RoomMsg(id(i), "tech", "Ben", i)
		default:
			m = storetest.RoomMsg(id(i), "general", "Ann", i)
			if i%4 == 0 {
				m.Nonce = fmt.Sprintf("n-%d", i)
			}
			if i%4 == 1 {
				m.Mentions = []string{"Ben"}
			}
		}
		msgs = append(msgs, m)
	}
	storetest.AppendAll(t, st, msgs)
	for k, r := range []actors.Reaction{
		{ID: id(1), Room: "general", Emoji: "👍", Reactor: "a:" + actors.Skeleton("Ben"), Name: "Ben", On: true},
		{ID: id(1), Room: "general", Emoji: "🎉", Reactor: "a:" + actors.Skeleton("Ann"), Name: "Ann", On: true},
		{ID: id(9), Room: "tech", Emoji: "👀", Reactor: "g:boot:7", Name: "guest7", On: true},
	} {
		r.At, r.Max = storetest.BaseTime.Add(time.Duration(k)*time.Second), 20
		if _, _, err := st.React(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	at := storetest.BaseTime.Add(time.Hour)
	for _, c := range []actors.MessageChange{
		{ID: id(1), Room: "general", Content: "edited once", At: at},
		{ID: id(2), Room: "general", Content: "edited", At: at},
		{ID: id(2), Room: "general", Content: "edited twice", At: at.Add(time.Second)},
		{ID: id(5), Room: "general", Deleted: true, At: at.Add(2 * time.Second)},
		{ID: id(6), Room: "tech", Deleted: true, At: at.Add(3 * time.Second)},
		{ID: id(17), Private: true, Content: "kept, edited", At: at.Add(4 * time.Second)},
		{ID: id(28), Private: true, Deleted: true, At: at.Add(5 * time.Second)},
		{ID: id(13), Private: true, Content: "a guest's, edited", At: at.Add(6 * time.Second)},
	} {
		if err := st.ChangeMessage(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	annK, benK := actors.Skeleton("Ann"), actors.Skeleton("Ben")
	for _, j := range []struct {
		owner, room, last string
	}{{annK, "general", id(10)}, {annK, "tech", ""}, {benK, "general", ""}, {benK, "quiet", ""}} {
		if err := st.SetAccountRoom(ctx, j.owner, j.room, true, j.last, 20); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct {
		owner actors.Owner
		mark  actors.ReadState
	}{
		{actors.Owner{Key: annK, Name: "Ann"}, actors.ReadState{Room: "general", Read: id(41)}},
		{actors.Owner{Key: benK, Name: "Ben"}, actors.ReadState{Room: "general", Read: id(100)}},
		{actors.Owner{Key: annK, Name: "Ann"}, actors.ReadState{Peer: benK, Read: id(38)}},
	} {
		if _, err := st.MarkRead(ctx, m.owner, m.mark); err != nil {
			t.Fatal(err)
		}
	}
	return chat{annToken: annToken, rooms: rooms}
}

// store is what the comparison reads, on either engine.
type store interface {
	actors.Store
	accounts.Store
	Close() error
}

// utc puts a message's times in UTC: both engines return the same
// instants, but not necessarily in the same location.
func utc(msgs []actors.StoredMessage) []actors.StoredMessage {
	for i := range msgs {
		msgs[i].Timestamp = msgs[i].Timestamp.UTC()
		if !msgs[i].EditedAt.IsZero() {
			msgs[i].EditedAt = msgs[i].EditedAt.UTC()
		}
	}
	return msgs
}

// snapshot is everything a server reads, as one engine returns it: rooms,
// every history page, the changes a rejoin catches up on, conversations
// and their pages, account rooms, markers and unread counts, accounts,
// a stored nonce, a deleted message.
func snapshot(t *testing.T, ctx context.Context, st store, c chat) map[string]any {
	t.Helper()
	snap := map[string]any{}
	put := func(key string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		snap[key] = v
	}
	rooms, err := st.Rooms(ctx)
	for i := range rooms {
		rooms[i].CreatedAt = rooms[i].CreatedAt.UTC()
	}
	put("Rooms", rooms, err)
	for _, r := range c.rooms {
		before := ""
		for page := 0; ; page++ {
			msgs, more, err := st.History(ctx, actors.HistoryQuery{Room: r, Before: before, Limit: 9})
			if err == nil {
				err = st.Annotate(ctx, msgs, "a:"+actors.Skeleton("Ben"))
			}
			put(fmt.Sprintf("History %s page %d", r, page), utc(msgs), err)
			if !more || len(msgs) == 0 {
				break
			}
			before = msgs[0].ID
		}
		ch, err := st.Changes(ctx, actors.ChangesQuery{Room: r, Through: id(200), After: storetest.BaseTime, Limit: 50})
		put("Changes "+r, utc(ch), err)
		last, err := st.LastID(ctx, r)
		put("LastID "+r, last, err)
	}
	for _, name := range []string{"Ann", "Ben", "Cid"} {
		owner := actors.Owner{Key: actors.Skeleton(name), Name: name}
		convs, more, err := st.Conversations(ctx, owner, 10)
		for i := range convs {
			utc([]actors.StoredMessage{convs[i].Last})
			convs[i].Last.Timestamp = convs[i].Last.Timestamp.UTC()
		}
		put("Conversations "+name, fmt.Sprint(convs, more), err)
		ar, err := st.AccountRooms(ctx, owner.Key)
		put("AccountRooms "+name, ar, err)
		rr, err := st.RoomsRead(ctx, owner, c.rooms)
		put("RoomsRead "+name, rr, err)
		ch, err := st.Changes(ctx, actors.ChangesQuery{Owner: owner.Key, Peer: actors.Skeleton("Ben"), Through: id(200), After: storetest.BaseTime, Limit: 50})
		put("Changes of "+name+" with Ben", utc(ch), err)
		before := ""
		for page := 0; ; page++ {
			msgs, more, err := st.Conversation(ctx, actors.ConversationQuery{Owner: owner.Key, Peer: actors.Skeleton("Ben"), Before: before, Limit: 4})
			put(fmt.Sprintf("Conversation %s with Ben page %d", name, page), utc(msgs), err)
			if !more || len(msgs) == 0 {
				break
			}
			before = msgs[0].ID
		}
	}
	accs, err := st.Accounts(ctx)
	for i := range accs {
		accs[i].CreatedAt = accs[i].CreatedAt.UTC()
	}
	put("Accounts", accs, err)
	nid, nts, ok, err := st.FindNonce(ctx, actors.NonceKey{Recipient: "ann", Username: "guest7", Nonce: "pm-13"})
	put("FindNonce pm-13", fmt.Sprint(nid, nts.UTC(), ok), err)
	nid, nts, ok, err = st.FindNonce(ctx, actors.NonceKey{Room: "general", Username: "ann", Nonce: "n-4"})
	put("FindNonce n-4", fmt.Sprint(nid, nts.UTC(), ok), err)
	m, err := st.Message(ctx, id(5))
	put("Message 5 (deleted)", utc([]actors.StoredMessage{m}), err)

	svc := service(t, st)
	auth, err := svc.Authenticate(ctx, c.annToken)
	auth.CreatedAt, auth.Expires = auth.CreatedAt.UTC(), auth.Expires.UTC()
	put("Authenticate Ann's token", auth, err)
	for _, login := range []struct{ name, password string }{{"Ann", "ann's long password"}, {"Cid", "ann's long password"}} {
		auth, _, err := svc.Login(ctx, login.name, login.password, "192.0.2.9")
		put("Login "+login.name, fmt.Sprint(auth.AccountID, auth.Username, auth.Role), err)
	}
	if _, _, err := svc.Login(ctx, "Ben", "wrong password", "192.0.2.9"); !errors.Is(err, accounts.ErrBadCredentials) {
		t.Errorf("Login with a wrong password: got %v, want ErrBadCredentials", err)
	}
	return snap
}

// compare fails for each entry of want that got differs in.
func compare(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok || !reflect.DeepEqual(g, w) {
			t.Errorf("%s on PostgreSQL:\n got %+v\nwant %+v (as on SQLite)", k, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d things read, want %d", len(got), len(want))
	}
}

// onBatch is a log handler that calls do once, when the first batch of
// table is logged as committed: where a kill would leave whole batches
// behind, or where a running server would write next.
type onBatch struct {
	table string
	do    func()
	once  *sync.Once
	attrs []slog.Attr
}

func (h onBatch) Enabled(context.Context, slog.Level) bool { return true }
func (h onBatch) WithGroup(string) slog.Handler            { return h }
func (h onBatch) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}
func (h onBatch) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "migrate-store: batch" {
		return nil
	}
	for _, a := range h.attrs {
		if a.Key == "table" && a.Value.String() == h.table {
			h.once.Do(h.do)
		}
	}
	return nil
}

func byTable(rs []TableResult) map[string]TableResult {
	m := map[string]TableResult{}
	for _, r := range rs {
		m[r.Table] = r
	}
	return m
}

func count(t *testing.T, dsn, table string) int64 {
	t.Helper()
	db, err := sqlx.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.GetContext(testCtx(t), &n, "SELECT count(*) FROM "+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestMigrate(t *testing.T) {
	srv := pgtest.Start(t)
	path := filepath.Join(t.TempDir(), "chat.db")
	c := fill(t, path)
	before := sum(t, path)
	dsn := srv.NewDB(t)
	const batch = 7
	quiet := slog.New(slog.DiscardHandler)

	// Interrupted after the first batch of messages: that batch and the
	// tables before it are there, nothing after it.
	ctx, cancel := context.WithCancel(testCtx(t))
	res, err := Migrate(ctx, Config{From: path, To: dsn, Batch: batch,
		Logger: slog.New(onBatch{table: "messages", do: cancel, once: new(sync.Once)})})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: got %v, want context.Canceled", err)
	}
	if got := byTable(res)["messages"]; got.Copied != batch {
		t.Errorf("interrupted run: messages copied: got %d, want %d (one batch)", got.Copied, batch)
	}
	if got := count(t, dsn, "messages"); got != batch {
		t.Errorf("after the interruption: %d messages in PostgreSQL, want %d", got, batch)
	}
	if got := count(t, dsn, "accounts"); got != 0 {
		t.Errorf("after the interruption: %d accounts in PostgreSQL, want 0 (copied after messages)", got)
	}

	// The second run goes on after that batch and finishes. Its batches
	// of two resume every table from a cursor at least once, whatever
	// its key's type (text, composite, integer, blob).
	res, err = Migrate(testCtx(t), Config{From: path, To: dsn, Batch: 2, Logger: quiet})
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	for _, r := range res {
		wantSkipped := int64(0)
		switch r.Table {
		case "rooms":
			wantSkipped = r.Source
		case "messages":
			wantSkipped = batch
		}
		if r.Copied+r.Skipped != r.Source || r.Skipped != wantSkipped {
			t.Errorf("second run, %s: got copied %d skipped %d, want %d skipped of %d", r.Table, r.Copied, r.Skipped, wantSkipped, r.Source)
		}
		if r.Source == 0 {
			t.Errorf("%s: the test's chat has no rows in it; fill should", r.Table)
		}
	}

	// A third run copies nothing, through the command line.
	var out, errOut bytes.Buffer
	if err := Run(testCtx(t), []string{"-from", "sqlite:" + path, "-to", dsn}, &out, &errOut); err != nil {
		t.Fatalf("third run: %v\n%s", err, errOut.String())
	}
	t.Logf("third run:\n%s", out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != len(tables)+2 {
		t.Fatalf("summary: got %d lines, want a header, %d tables and a total:\n%s", len(lines), len(tables), out.String())
	}
	if f := strings.Fields(lines[len(lines)-1]); len(f) != 4 || f[0] != "total" || f[2] != "0" || f[1] != f[3] {
		t.Errorf("summary's total: got %q, want total N 0 N", lines[len(lines)-1])
	}
	if sum(t, path) != before {
		t.Errorf("the source file changed: it must be opened read-only")
	}

	// What a server reads is the same on both sides.
	ctx = testCtx(t)
	sq, err := persistence.Open(ctx, path, persistence.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, ctx, sq, c)
	if err := sq.Close(); err != nil {
		t.Fatal(err)
	}
	pg, err := pgstore.Open(ctx, dsn, pgstore.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	compare(t, snapshot(t, ctx, pg, c), want)

	// The accounts' identity moved past the copied ids: a new account
	// does not collide with one.
	auth, _, err := service(t, pg).Register(ctx, "Dan", "dan's long password", "192.0.2.3")
	if err != nil || auth.AccountID != 4 {
		t.Errorf("Register after the copy: got id %d, %v, want 4", auth.AccountID, err)
	}
}

// A copy into a database that has accounts of its own is refused; so is a
// second copy at once.
func TestRefusesTargetWithAccounts(t *testing.T) {
	srv := pgtest.Start(t)
	path := filepath.Join(t.TempDir(), "chat.db")
	fill(t, path)
	dsn := srv.NewDB(t)
	ctx := testCtx(t)
	pg, err := pgstore.Open(ctx, dsn, pgstore.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pg.CreateAccount(ctx, accounts.Account{Username: "Zed", Skeleton: "zed", PasswordHash: "x",
		Role: accounts.RoleUser, CreatedAt: storetest.BaseTime}); err != nil {
		t.Fatal(err)
	}
	if err := pg.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Migrate(ctx, Config{From: path, To: dsn, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "accounts of its own") {
		t.Errorf("copy into a database with accounts: got %v, want a refusal", err)
	}
	if got := count(t, dsn, "messages"); got != 0 {
		t.Errorf("after the refusal: %d messages copied, want 0", got)
	}
}

// What is not a parley SQLite database of this build's schema, or not a
// PostgreSQL URL, is refused before anything is written. None of these
// reaches the target.
func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "chat.db")
	st, err := persistence.Open(testCtx(t), good, persistence.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// altered is a copy of the good database changed by stmt.
	altered := func(name, stmt string) string {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(good)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := sqlx.Open("sqlite3", p)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		return p
	}
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, bytes.Repeat([]byte("not a database\n"), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	pgURL := "postgres://nobody@127.0.0.1:1/none?sslmode=disable" // never reached
	for _, tc := range []struct {
		what, from, to, want string
	}{
		{"no -from", "", pgURL, "-from is missing"},
		{"no -to", good, "", "-to is missing"},
		{"-to not PostgreSQL", good, "mysql://u:secret@h/db", "want a PostgreSQL URL"},
		{"-to a file", good, "other.db", "want a PostgreSQL URL"},
		{"missing file", filepath.Join(dir, "nope.db"), pgURL, "no such file"},
		{"a directory", dir, pgURL, "is a directory"},
		{"not a database", text, pgURL, "not a parley SQLite database"},
		{"another SQLite database", altered("other.db", "PRAGMA user_version = 0; DROP TABLE messages"), pgURL, "not a parley SQLite database"},
		{"newer schema", altered("newer.db", fmt.Sprintf("PRAGMA user_version = %d", sqliteVersion+1)), pgURL, "newer than this build copies"},
		{"older schema", altered("older.db", fmt.Sprintf("PRAGMA user_version = %d", sqliteVersion-1)), pgURL, "older than this build's"},
		{"unknown table", altered("extra.db", "CREATE TABLE polls (id TEXT)"), pgURL, `table "polls" that this build does not know`},
		{"unknown column", altered("col.db", "ALTER TABLE rooms ADD COLUMN topic TEXT"), pgURL, `column "topic" that this build does not know`},
	} {
		_, err := Migrate(testCtx(t), Config{From: tc.from, To: tc.to, Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.what, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error shows the password: %v", tc.what, err)
		}
	}
	// -h prints the help and is no error.
	var out, errOut bytes.Buffer
	if err := Run(testCtx(t), []string{"-h"}, &out, &errOut); err != nil || !strings.Contains(errOut.String(), "parley migrate-store -from FILE") {
		t.Errorf("-h: got %v, %q, want the usage", err, errOut.String())
	}
}

// The table list is the SQLite schema's: a build that adds a migration
// must teach migrate-store its tables and columns (tables.go), which then
// the run-time check and TestMigrate hold it to.
func TestTablesCoverTheSchema(t *testing.T) {
	if got, want := persistence.SchemaVersion(), sqliteVersion; got != want {
		t.Errorf("persistence's schema version: got %d, want %d: list the new tables or columns in tables.go and raise sqliteVersion", got, want)
	}
}

// With the server still running on the file (its store open, its WAL in
// use), the copy reads the snapshot of when it began: everything
// committed by then, and not what the server writes during the copy
// (which it can: the copy's reads do not hold it up).
func TestCopiesASnapshotOfALiveDatabase(t *testing.T) {
	srv := pgtest.Start(t)
	// Batches of 2,000 rows: more than one INSERT's worth (rowsPerInsert)
	// each, so that a batch is written in several statements.
	const live = 2500
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := testCtx(t)
	st, err := persistence.Open(ctx, path, persistence.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateRoom(ctx, "general", storetest.BaseTime); err != nil {
		t.Fatal(err)
	}
	var msgs []*actors.StoredMessage
	for i := range live {
		msgs = append(msgs, storetest.RoomMsg(id(i), "general", "Ann", i))
	}
	storetest.AppendAll(t, st, msgs)
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("the live database has no WAL file: %v", err)
	}
	dsn := srv.NewDB(t)
	// During the copy, after its first batch of messages, the server
	// stores one more (its id sorts after all: a copy that read past its
	// snapshot would take it).
	late := func() {
		storetest.AppendAll(t, st, []*actors.StoredMessage{storetest.RoomMsg(id(live), "general", "Ann", live)})
	}
	res, err := Migrate(ctx, Config{From: path, To: dsn, Batch: 2000,
		Logger: slog.New(onBatch{table: "messages", do: late, once: new(sync.Once)})})
	if err != nil {
		t.Fatal(err)
	}
	if got := byTable(res)["messages"]; got.Copied != live || got.Source != live {
		t.Errorf("messages: got %+v, want %d of %d copied", got, live, live)
	}
	if got := count(t, dsn, "messages"); got != live {
		t.Errorf("messages in PostgreSQL: got %d, want %d (the snapshot's)", got, live)
	}
	if got, err := st.LastID(ctx, "general"); err != nil || got != id(live) {
		t.Errorf("the server's last message: got %s, %v, want %s (stored during the copy)", got, err, id(live))
	}
}
