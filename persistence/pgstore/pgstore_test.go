package pgstore

import (
	"context"
	"errors"
	"fmt"
	"parley/persistence/storetest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"parley/actors"
	"parley/internal/pgtest"
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawConn is a connection of the test's own, as psql would have.
func rawConn(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(testCtx(t), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// PostgreSQL-only promises: the schema's versions, opening on a DSN,
// a batch failing whole and the writer recovering.
func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)

	t.Run("migrations are versioned in a table, once, and a newer schema is refused", func(t *testing.T) {
		dsn := srv.NewDB(t)
		// Three nodes starting at once: one migrates, the others wait
		// for it and find nothing to do.
		var wg sync.WaitGroup
		errs := make([]error, 3)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := Open(testCtx(t), dsn, Options{})
				if err == nil {
					err = s.Close()
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("concurrent Open #%d: %v", i, err)
			}
		}
		conn := rawConn(t, dsn)
		var versions []int32
		rows, _ := conn.Query(testCtx(t), "SELECT version FROM schema_migrations ORDER BY version")
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil || !slices.Equal(versions, []int32{1, 2, 3, 4, 5}) {
			t.Errorf("schema_migrations: got %v, %v, want [1 2 3 4 5]", versions, err)
		}
		if _, err := conn.Exec(testCtx(t), "INSERT INTO schema_migrations (version) VALUES (99)"); err != nil {
			t.Fatal(err)
		}
		_, err = Open(testCtx(t), dsn, Options{})
		if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer than this build knows (5)") {
			t.Errorf("Open of a newer schema: got %v, want it refused", err)
		}
	})

	t.Run("open errors name the database, without its password", func(t *testing.T) {
		dsn := strings.Replace(srv.DSN("no_such_db"), "postgres@", "postgres:s3cret@", 1)
		_, err := Open(testCtx(t), dsn, Options{})
		if err == nil || !strings.Contains(err.Error(), "no_such_db") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open of a missing database: got %v, want an error naming it without the password", err)
		}
	})

	t.Run("a batch the server refuses fails whole, and the writer goes on", func(t *testing.T) {
		dsn := srv.NewDB(t)
		s := openTest(t, dsn, Options{BatchMax: 3, BatchDelay: time.Hour})
		if _, err := rawConn(t, dsn).Exec(testCtx(t), "ALTER TABLE messages ADD CONSTRAINT no_poison CHECK (content <> 'poison')"); err != nil {
			t.Fatal(err)
		}
		msg := func(id, content string) *actors.StoredMessage {
			return &actors.StoredMessage{ID: id, Room: "general", Username: "alice", Content: content, Timestamp: time.Now()}
		}
		errs := make(chan error, 6)
		done := func(err error) { errs <- err }
		for _, m := range []*actors.StoredMessage{msg("a1", "fine"), msg("a2", "poison"), msg("a3", "fine"),
			msg("b1", "fine"), msg("b2", "fine"), msg("b3", "fine")} {
			if !s.Append(m, done) {
				t.Fatalf("Append(%s) = false", m.ID)
			}
		}
		for i := range 6 {
			var err error
			select {
			case err = <-errs:
			case <-time.After(10 * time.Second):
				t.Fatalf("after 10s, %d of 6 done callbacks called", i)
			}
			if failed := i < 3; failed != (err != nil) || errors.Is(err, actors.ErrDuplicate) {
				t.Errorf("done #%d: got %v, want failed: %t (and never ErrDuplicate)", i, err, failed)
			}
		}
		msgs, _, err := s.History(testCtx(t), actors.HistoryQuery{Room: "general", Limit: 10})
		if got := fmt.Sprint(storetest.HistoryIDs(msgs)); err != nil || got != "[b1 b2 b3]" {
			t.Errorf("stored: %s, %v, want the second batch alone", got, err)
		}
		if st := s.Stats(); st.FailedBatches != 1 || st.Batches != 1 || st.FailedRows != 3 || st.Rows != 3 {
			t.Errorf("Stats() = %+v, want one failed batch of 3 and one of 3 committed", st)
		}
	})
}

// A server that goes away fails the batches written meanwhile (no Ack,
// never ErrDuplicate), not the writer: once it is back, the next batch is
// written, and only what was acknowledged is stored.
func TestServerGoneAndBack(t *testing.T) {
	srv := pgtest.Start(t) // a server of its own: this test stops it
	s := openTest(t, srv.NewDB(t), Options{WriteTimeout: 5 * time.Second})
	send := func(id string) error {
		t.Helper()
		errs := make(chan error, 1)
		m := &actors.StoredMessage{ID: id, Room: "general", Username: "alice", Content: "c", Timestamp: time.Now()}
		if !s.Append(m, func(err error) { errs <- err }) {
			t.Fatalf("Append(%s) = false", id)
		}
		select {
		case err := <-errs:
			return err
		case <-time.After(15 * time.Second):
			t.Fatalf("done(%s) not called within 15s", id)
			return nil
		}
	}
	if err := send("m1"); err != nil {
		t.Fatalf("done(m1) = %v", err)
	}
	srv.Stop(t)
	if err := send("m2"); err == nil || errors.Is(err, actors.ErrDuplicate) {
		t.Errorf("done(m2) with the server gone = %v, want an error other than ErrDuplicate", err)
	}
	srv.Start(t)
	// The pool's connections died with the server: the first batch may
	// find one and fail; the writer backs off and tries the next.
	var ok string
	for i := 0; ok == "" && i < 50; i++ {
		id := fmt.Sprintf("m3-%02d", i)
		if err := send(id); err == nil {
			ok = id
		} else {
			t.Logf("after the restart, done(%s) = %v", id, err)
		}
	}
	if ok == "" {
		t.Fatal("after the server came back, 50 messages failed")
	}
	msgs, _, err := s.History(testCtx(t), actors.HistoryQuery{Room: "general", Limit: 100})
	if got := fmt.Sprint(storetest.HistoryIDs(msgs)); err != nil || got != "[m1 "+ok+"]" {
		t.Errorf("stored: %s, %v, want [m1 %s]: the acknowledged ones alone", got, err, ok)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db":                       "postgresql://u@h/db",
		"host=h user=u":                             "host=h user=u",
		"host=h password=pw user=u":                 "host=h password=xxxxx user=u",
		"host=h password='p w\\'x' user=u":          "host=h password=xxxxx user=u",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
