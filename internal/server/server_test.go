package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/server"
	"parley/internal/testkit"
	"parley/persistence"
)

// TestShutdownDrainsInOrder: a client's acknowledged message is on disk
// after Shutdown, the client was closed with 1001 (the transport closed it
// before the store), Shutdown called again (and at once from another
// goroutine) returns the same, and a listener offered afterwards is refused.
func TestShutdownDrainsInOrder(t *testing.T) {
	srv := testkit.StartServer(t, server.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+srv.Addr()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	send := func(v map[string]any) {
		b, _ := json.Marshal(v)
		if err := c.Write(ctx, websocket.MessageText, b); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "JoinRoom", "room": "general"})
	send(map[string]any{"type": "SendMessage", "room": "general", "content": "kept", "ref": "m"})
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

	errs := make(chan error, 2)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { // returns when Shutdown does
			defer wg.Done()
			errs <- srv.Shutdown(ctx)
		}()
	}
	wg.Wait()
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("shutdown: got %v, want nil", err)
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown again: got %v, want nil", err)
	}
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusGoingAway {
				t.Errorf("client: got close %v (%v), want %v", code, err, websocket.StatusGoingAway)
			}
			break
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve after Shutdown: got %v, want http.ErrServerClosed", err)
	}

	st, err := persistence.Open(ctx, srv.DB(), persistence.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	msgs, _, err := st.History(ctx, actors.HistoryQuery{Room: "general", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != id || msgs[0].Content != "kept" {
		t.Errorf("stored: got %+v, want the one acknowledged message %s", msgs, id)
	}
}

// TestStartServesWebAndAdmin: Start serves the web client on Addr and
// /healthz on AdminAddr, until Shutdown closes both.
func TestStartServesWebAndAdmin(t *testing.T) {
	srv := testkit.NewServer(t, server.Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0"})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	get := func(url string) (int, string, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	if code, body, err := get("http://" + srv.Addr() + "/"); err != nil || code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Errorf("GET /: got %d %.40q %v, want 200 and the web client", code, body, err)
	}
	if code, _, err := get("http://" + srv.AdminAddr() + "/healthz"); err != nil || code != http.StatusOK {
		t.Errorf("GET /healthz: got %d %v, want 200", code, err)
	}
	testkit.Stop(t, srv)
	for _, addr := range []string{srv.Addr(), srv.AdminAddr()} {
		if _, _, err := get("http://" + addr + "/"); err == nil {
			t.Errorf("GET %s after Shutdown: got an answer, want none", addr)
		}
	}
}

// TestNewFailsOnABadDatabase: a database that cannot be opened fails New
// with the store's error, which names the file.
func TestNewFailsOnABadDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "chat.db")
	_, err := server.New(context.Background(), server.Config{DB: path, Logger: testkit.Logger(t, slog.LevelWarn)})
	if err == nil || !strings.Contains(err.Error(), "open database") || !strings.Contains(err.Error(), path) {
		t.Fatalf("New: got %v, want an 'open database' error naming %s", err, path)
	}
}
