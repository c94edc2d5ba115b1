package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
	"parley/internal/testkit"
	"parley/persistence"
	"parley/transport"
)

// Helpers for the end-to-end tests. Unlike the harness's next/expect, the
// methods here return errors instead of failing the test, so that they can
// run on goroutines other than the test's; the goroutine's owner reports.

// timestampRE is the wire's timestamp: RFC 3339 UTC with milliseconds.
var timestampRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// guestRE is the name a new connection gets.
var guestRE = regexp.MustCompile(`^guest-\d+$`)

// httpURL is the server's base URL for plain HTTP requests.
func (s *server) httpURL() string { return "http://" + strings.TrimPrefix(s.url, "ws://") }

// host is the server's host:port.
func (s *server) host() string { return strings.TrimPrefix(s.url, "ws://") }

// dialBatch dials with the batch subprotocol.
func (s *server) dialBatch() *wsClient {
	s.t.Helper()
	w := dialOpts(s.t, s.url+"/ws", &websocket.DialOptions{Subprotocols: []string{transport.BatchSubprotocol}})
	if !w.batch {
		s.t.Fatalf("subprotocol: got %q, want %q", w.c.Subprotocol(), transport.BatchSubprotocol)
	}
	return w
}

// tryDial dials without failing the test: on success it reads the Welcome;
// on failure it returns the handshake response, if any. Test goroutine only.
func tryDial(t *testing.T, url string, opts *websocket.DialOptions) (*wsClient, *http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		return nil, resp, err
	}
	c.SetReadLimit(1 << 22)
	t.Cleanup(func() { c.CloseNow() })
	w := &wsClient{t: t, c: c, batch: c.Subprotocol() == transport.BatchSubprotocol}
	m, err := w.read(ctx)
	if err != nil {
		return nil, resp, fmt.Errorf("read Welcome: %w", err)
	}
	if m.str("type") != "Welcome" {
		return nil, resp, fmt.Errorf("first frame: got %v, want Welcome", m)
	}
	w.name = m.str("username")
	return w, resp, nil
}

// read returns the next server message. It never calls t.Fatal, so any one
// goroutine may use it (a client must be read by one goroutine at a time).
func (w *wsClient) read(ctx context.Context) (msg, error) {
	for len(w.backlog) == 0 {
		typ, b, err := w.c.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageText {
			return nil, fmt.Errorf("%s: got a binary frame", w.name)
		}
		parts := [][]byte{b}
		if w.batch {
			parts = splitLines(b)
		}
		for _, p := range parts {
			var m msg
			if err := json.Unmarshal(p, &m); err != nil {
				return nil, fmt.Errorf("%s: frame %q is not one JSON object: %v", w.name, p, err)
			}
			w.backlog = append(w.backlog, m)
		}
	}
	m := w.backlog[0]
	w.backlog = w.backlog[1:]
	return m, nil
}

// write sends v as one JSON text frame without failing the test.
func (w *wsClient) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.c.Write(ctx, websocket.MessageText, b)
}

// sendRaw sends b as one frame of type typ, failing the test on error.
func (w *wsClient) sendRaw(typ websocket.MessageType, b []byte) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := w.c.Write(ctx, typ, b); err != nil {
		w.t.Fatalf("%s: write: %v", w.name, err)
	}
}

// readUntil reads messages until one satisfies stop, and returns every
// message read, the last one included. ctx bounds the wait.
func (w *wsClient) readUntil(ctx context.Context, stop func(msg) bool) ([]msg, error) {
	var got []msg
	for {
		m, err := w.read(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, m)
		if stop(m) {
			return got, nil
		}
	}
}

// until reads messages until one satisfies stop and returns them all,
// failing the test after waitLimit. Test goroutine only.
func (w *wsClient) until(stop func(msg) bool) []msg {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	got, err := w.readUntil(ctx, stop)
	if err != nil {
		w.t.Fatalf("%s: read: %v (after %d messages: %v)", w.name, err, len(got), got)
	}
	return got
}

// reply waits for the direct reply carrying ref (Ack, Error, RoomList or
// History), skipping other traffic, and checks that it has type typ (if
// typ is not empty).
func (w *wsClient) reply(ref, typ string) msg {
	w.t.Helper()
	got := w.until(func(m msg) bool { return m.str("ref") == ref })
	m := got[len(got)-1]
	if typ != "" && m.str("type") != typ {
		w.t.Fatalf("%s: reply to %q: got %v, want type %s", w.name, ref, m, typ)
	}
	return m
}

// expectError waits for the reply to ref and checks it is an Error with code.
func (w *wsClient) expectError(ref, code string) msg {
	w.t.Helper()
	m := w.reply(ref, "Error")
	if m.str("code") != code {
		w.t.Fatalf("%s: reply to %q: got code %q (%v), want %q", w.name, ref, m.str("code"), m, code)
	}
	return m
}

// setName sets the client's username and waits for its Ack.
func (w *wsClient) setName(name string) {
	w.t.Helper()
	ref := "name-" + name
	w.send(map[string]any{"type": "SetUsername", "username": name, "ref": ref})
	if m := w.reply(ref, "Ack"); m.str("username") != name {
		w.t.Fatalf("%s: SetUsername ack: got %v, want username %q", w.name, m, name)
	}
	w.name = name
}

// waitLeft reads until the UserLeft of who in room.
func (w *wsClient) waitLeft(who, room string) {
	w.t.Helper()
	w.until(func(m msg) bool {
		return m.str("type") == "UserLeft" && m.str("username") == who && m.str("room") == room
	})
}

// aliceAndBob dials two clients named alice and bob, both joined to room,
// alice having seen bob join.
func (s *server) aliceAndBob(room string) (a, b *wsClient) {
	a, b = s.dial(), s.dial()
	a.setName("alice")
	b.setName("bob")
	a.join(room)
	b.join(room)
	a.waitJoined("bob", room)
	return a, b
}

// waitJoined reads until the UserJoined of who in room.
func (w *wsClient) waitJoined(who, room string) {
	w.t.Helper()
	w.until(func(m msg) bool {
		return m.str("type") == "UserJoined" && m.str("username") == who && m.str("room") == room
	})
}

// closeErr reads until the connection closes and returns its close code,
// discarding what it reads; ctx bounds the wait. Any goroutine.
func closeErr(ctx context.Context, c *websocket.Conn) (websocket.StatusCode, error) {
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				return -1, fmt.Errorf("connection not closed: %w", ctx.Err())
			}
			return websocket.CloseStatus(err), nil
		}
	}
}

// messages returns the Message frames among ms.
func messages(ms []msg) []msg {
	var out []msg
	for _, m := range ms {
		if m.str("type") == "Message" {
			out = append(out, m)
		}
	}
	return out
}

// historyMsgs returns the messages of a History frame.
func historyMsgs(t *testing.T, h msg) []msg {
	t.Helper()
	raw, ok := h["messages"].([]any)
	if !ok {
		t.Fatalf("History: got messages %v (%T), want a list", h["messages"], h["messages"])
	}
	out := make([]msg, len(raw))
	for i, r := range raw {
		m, ok := r.(map[string]any)
		if !ok {
			t.Fatalf("History: entry %d is %T, want an object", i, r)
		}
		out[i] = m
	}
	return out
}

func ids(ms []msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.str("id")
	}
	return out
}

func storedIDs(ms []actors.StoredMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// storedHistory reads every stored message of room from an open store,
// once what was handed to the store so far is committed (rooms deliver a
// message before its commit).
func storedHistory(t *testing.T, st actors.Store, room string) []actors.StoredMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := st.Sync(ctx); err != nil {
		t.Fatalf("sync store: %v", err)
	}
	msgs, more, err := st.History(ctx, actors.HistoryQuery{Room: room, Limit: 1 << 20})
	if err != nil {
		t.Fatalf("history of %s: %v", room, err)
	}
	if more {
		t.Fatalf("history of %s: more than %d messages", room, 1<<20)
	}
	return msgs
}

// reopenHistory opens the database at path (after the server stopped) and
// returns every stored message of room.
func reopenHistory(t *testing.T, path, room string) []actors.StoredMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := persistence.Open(ctx, path, persistence.Options{Logger: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatalf("reopen %s: %v", path, err)
	}
	defer st.Close()
	return storedHistory(t, st, room)
}

// strictlyIncreasing reports the first index at which ids do not strictly
// increase, or -1.
func strictlyIncreasing(ids []string) int {
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			return i
		}
	}
	return -1
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// collectErrs receives n results from errs and returns the non-nil ones,
// plus an error if they do not all arrive within d.
func collectErrs(errs <-chan error, n int, d time.Duration) []error {
	var out []error
	timer := time.NewTimer(d)
	defer timer.Stop()
	for range n {
		select {
		case err := <-errs:
			if err != nil {
				out = append(out, err)
			}
		case <-timer.C:
			return append(out, errors.New("timed out waiting for goroutines"))
		}
	}
	return out
}

// joinSkip joins room like the harness's join, but first skips whatever
// traffic was already waiting (the harness's join wants the Ack next). It
// returns the History.
func (w *wsClient) joinSkip(room string) msg {
	w.t.Helper()
	ref := "join-" + room
	w.send(map[string]any{"type": "JoinRoom", "room": room, "ref": ref})
	w.reply(ref, "Ack")
	h := w.expect("History")
	w.expect("Members")
	w.waitJoined(w.name, strings.ToLower(room))
	return h
}

// takeName sets the client's username to one that a departing session is
// releasing. The server frees a name just after announcing its holder's
// UserLeft (so that no client sees the new holder join before the old one
// leaves), and sends nothing when it does: retry, bounded, on username_taken.
func (w *wsClient) takeName(name string) {
	w.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for i := 0; ; i++ {
		ref := fmt.Sprint("take-", i)
		w.send(map[string]any{"type": "SetUsername", "username": name, "ref": ref})
		m := w.reply(ref, "")
		if m.str("type") == "Ack" && m.str("username") == name {
			w.name = name
			return
		}
		if m.str("code") != "username_taken" || time.Now().After(deadline) {
			w.t.Fatalf("%s: SetUsername %s: got %v, want an Ack within %v", w.name, name, m, waitLimit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
