package transport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/accounts"
	parley "parley/internal/server"
	"parley/internal/testkit"
	"parley/transport"
)

const waitLimit = testkit.WaitLimit

// server is a real parley server (internal/server) on 127.0.0.1 with a
// random port and a real SQLite file.
type server struct {
	t      *testing.T
	srv    *parley.Server
	dbPath string
	store  parley.Store
	tsrv   *transport.Server
	url    string // ws://127.0.0.1:port
}

type serverConfig struct {
	hub       actors.Config
	transport transport.Options
	accounts  accounts.Config
	dbPath    string // reuse a database (restart tests); empty for a fresh one
	noPoller  bool   // run as on a system without epoll
	// wrapStore, if set, puts a fault injector in front of the real store.
	wrapStore func(actors.Store) actors.Store
}

func startServer(t *testing.T, cfg serverConfig) *server {
	t.Helper()
	srv := testkit.NewServer(t, parley.Config{DB: cfg.dbPath, Hub: cfg.hub, Transport: cfg.transport, Accounts: cfg.accounts, WrapStore: cfg.wrapStore})
	if cfg.noPoller {
		transport.DisablePoller(srv.Transport())
	}
	addr := testkit.Listen(t, srv)
	return &server{t: t, srv: srv, dbPath: srv.DB(), store: srv.Store(), tsrv: srv.Transport(), url: "ws://" + addr}
}

// stop shuts the server down (the test's cleanup does it too).
func (s *server) stop() { testkit.Stop(s.t, s.srv) }

// wsClient is a real WebSocket client.
type wsClient struct {
	t       *testing.T
	c       *websocket.Conn
	name    string
	backlog []msg
	batch   bool
}

// msg is one decoded server message.
type msg map[string]any

func (m msg) str(k string) string { s, _ := m[k].(string); return s }

func dialOpts(t *testing.T, url string, opts *websocket.DialOptions) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(1 << 22)
	w := &wsClient{t: t, c: c, batch: c.Subprotocol() == transport.BatchSubprotocol}
	t.Cleanup(func() { c.CloseNow() })
	welcome := w.expect("Welcome")
	if welcome["account"] != false {
		t.Fatalf("Welcome: got %v, want a guest's (account false)", welcome)
	}
	w.name = welcome.str("username")
	return w
}

func (s *server) dial() *wsClient { return dialOpts(s.t, s.url+"/ws", nil) }

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("%s: write: %v", w.name, err)
	}
}

// next returns the next server message, failing the test after waitLimit.
func (w *wsClient) next() msg {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	m, err := w.read(ctx)
	if err != nil {
		w.t.Fatalf("%s: read: %v", w.name, err)
	}
	return m
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range strings.Split(string(b), "\n") {
		out = append(out, []byte(l))
	}
	return out
}

func (w *wsClient) expect(typ string) msg {
	w.t.Helper()
	m := w.next()
	if m.str("type") != typ {
		w.t.Fatalf("%s: got %v, want type %s", w.name, m, typ)
	}
	return m
}

// waitFor skips messages until one of type typ for which ok (if non-nil) holds.
func (w *wsClient) waitFor(typ string, ok func(msg) bool) msg {
	w.t.Helper()
	for {
		if m := w.next(); m.str("type") == typ && (ok == nil || ok(m)) {
			return m
		}
	}
}

// join joins room and reads the reply through the joiner's own UserJoined.
func (w *wsClient) join(room string) msg {
	w.t.Helper()
	w.send(map[string]any{"type": "JoinRoom", "room": room, "ref": "join"})
	w.expect("Ack")
	h := w.expect("History")
	w.expect("Members")
	w.waitFor("UserJoined", func(m msg) bool { return m.str("username") == w.name })
	return h
}

// closeStatus reads until the connection closes and returns its close code.
func (w *wsClient) closeStatus() websocket.StatusCode {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for {
		_, _, err := w.c.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				w.t.Fatalf("%s: connection not closed within %v", w.name, waitLimit)
			}
			return websocket.CloseStatus(err)
		}
	}
}

func httpGet(t *testing.T, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}
