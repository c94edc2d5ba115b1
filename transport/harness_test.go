package transport_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/client"
	"parley/persistence"
	"parley/transport"
)

// waitLimit bounds every wait, so that a broken build fails instead of hanging.
const waitLimit = 10 * time.Second

// server is a real parley server on 127.0.0.1 with a random port and a real
// SQLite file.
type server struct {
	t      *testing.T
	dbPath string
	store  *persistence.Store
	hub    *actors.Hub
	tsrv   *transport.Server
	http   *httptest.Server
	url    string // ws://127.0.0.1:port
	stopHB context.CancelFunc
}

type serverConfig struct {
	hub       actors.Config
	transport transport.Options
	dbPath    string // reuse a database (restart tests); empty for a fresh one
	noPoller  bool   // run as on a system without epoll
}

// testLogger sends server logs to t.Logf.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tLogWriter struct{ t *testing.T }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("server: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

func startServer(t *testing.T, cfg serverConfig) *server {
	t.Helper()
	s := &server{t: t, dbPath: cfg.dbPath}
	if s.dbPath == "" {
		s.dbPath = filepath.Join(t.TempDir(), "chat.db")
	}
	ctx := context.Background()
	log := testLogger(t)
	store, err := persistence.Open(ctx, s.dbPath, persistence.Options{Logger: log})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	cfg.hub.Store, cfg.hub.Logger = store, log
	hub, err := actors.NewHub(ctx, cfg.hub)
	if err != nil {
		t.Fatalf("new hub: %v", err)
	}
	cfg.transport.Hub, cfg.transport.Logger, cfg.transport.Static = hub, log, client.Files
	s.store, s.hub = store, hub
	s.tsrv = transport.New(cfg.transport)
	if cfg.noPoller {
		transport.DisablePoller(s.tsrv)
	}
	s.http = httptest.NewUnstartedServer(s.tsrv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.http.Listener = ln
	s.http.Start()
	s.url = "ws://" + ln.Addr().String()
	var hbCtx context.Context
	hbCtx, s.stopHB = context.WithCancel(ctx)
	go s.tsrv.Heartbeat(hbCtx) // exits when stop cancels hbCtx
	t.Cleanup(s.stop)
	return s
}

// stop shuts the server down in main's order; safe to call twice.
func (s *server) stop() {
	if s.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	s.stopHB()
	s.http.Config.Shutdown(ctx)
	s.http.Listener.Close()
	if err := s.tsrv.Shutdown(ctx); err != nil {
		s.t.Errorf("transport shutdown: %v", err)
	}
	if err := s.hub.Shutdown(ctx); err != nil {
		s.t.Errorf("hub shutdown: %v", err)
	}
	if err := s.store.Close(); err != nil {
		s.t.Errorf("store close: %v", err)
	}
	s.store = nil
}

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
	for len(w.backlog) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		typ, b, err := w.c.Read(ctx)
		cancel()
		if err != nil {
			w.t.Fatalf("%s: read: %v", w.name, err)
		}
		if typ != websocket.MessageText {
			w.t.Fatalf("%s: got a binary frame", w.name)
		}
		parts := [][]byte{b}
		if w.batch {
			parts = splitLines(b)
		}
		for _, p := range parts {
			var m msg
			if err := json.Unmarshal(p, &m); err != nil {
				w.t.Fatalf("%s: frame %q is not one JSON object: %v", w.name, p, err)
			}
			w.backlog = append(w.backlog, m)
		}
	}
	m := w.backlog[0]
	w.backlog = w.backlog[1:]
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
