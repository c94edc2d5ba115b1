package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/pgtest"
	"parley/internal/server"
	"parley/internal/testkit"
	"parley/persistence"
	"parley/persistence/pgstore"
)

// -db's scheme picks the engine: a plain path or sqlite: is SQLite (the
// file is created where the path says), postgres:// and postgresql:// are
// PostgreSQL.
func TestOpenStorePicksTheEngineByScheme(t *testing.T) {
	pg := pgtest.Start(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	for _, tc := range []struct {
		db       string
		postgres bool
		file     string // the SQLite file it must have created
	}{
		{db: filepath.Join(dir, "plain.db"), file: filepath.Join(dir, "plain.db")},
		{db: "sqlite:" + filepath.Join(dir, "prefixed.db"), file: filepath.Join(dir, "prefixed.db")},
		{db: "sqlite://" + filepath.Join(dir, "url.db"), file: filepath.Join(dir, "url.db")},
		{db: pg.NewDB(t), postgres: true},
		{db: strings.Replace(pg.NewDB(t), "postgres://", "postgresql://", 1), postgres: true},
	} {
		st, err := server.OpenStore(ctx, tc.db, persistence.Options{})
		if err != nil {
			t.Errorf("OpenStore(%q): %v", tc.db, err)
			continue
		}
		_, isPG := st.(*pgstore.Store)
		_, isSQLite := st.(*persistence.Store)
		if isPG != tc.postgres || isSQLite == tc.postgres {
			t.Errorf("OpenStore(%q): got a %T, want PostgreSQL: %t", tc.db, st, tc.postgres)
		}
		if tc.file != "" {
			if _, err := os.Stat(tc.file); err != nil {
				t.Errorf("OpenStore(%q): the SQLite file: %v", tc.db, err)
			}
		}
		if err := st.Close(); err != nil {
			t.Errorf("Close(%q): %v", tc.db, err)
		}
	}
}

// A server runs single-node on PostgreSQL: a message sent is acknowledged,
// and the next server on the same database serves it as history.
func TestServerOnPostgres(t *testing.T) {
	dsn := pgtest.Start(t).NewDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	srv := testkit.StartServer(t, server.Config{DB: dsn})
	if _, ok := srv.Store().(*pgstore.Store); !ok {
		t.Fatalf("server on %s: store is a %T, want *pgstore.Store", dsn, srv.Store())
	}
	c, _, err := websocket.Dial(ctx, "ws://"+srv.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, v := range []map[string]any{
		{"type": "JoinRoom", "room": "general"},
		{"type": "SendMessage", "room": "general", "content": "kept in postgres", "ref": "m"},
	} {
		b, _ := json.Marshal(v)
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	var id string
	for id == "" {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		if json.Unmarshal(b, &m) == nil && m["type"] == "Ack" && m["ref"] == "m" {
			id, _ = m["id"].(string)
		}
	}
	testkit.Stop(t, srv)

	next := testkit.NewServer(t, server.Config{DB: dsn})
	msgs, _, err := next.Store().History(ctx, actors.HistoryQuery{Room: "general", Limit: 10})
	if err != nil || len(msgs) != 1 || msgs[0].ID != id || msgs[0].Content != "kept in postgres" {
		t.Errorf("history on the next server: got %+v, %v, want the acknowledged message %s", msgs, err, id)
	}
	rooms, err := next.Store().Rooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0].Name != "general" {
		t.Errorf("rooms on the next server: got %+v, %v, want general", rooms, err)
	}
}
