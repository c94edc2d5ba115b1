package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"parley/internal/testkit"
)

// client is a WebSocket client of one node. A reader goroutine decodes every
// frame into frames; the test goroutine sends and waits.
type client struct {
	t      *testing.T
	c      *websocket.Conn
	name   string
	frames chan frame // written by the reader goroutine, closed when it stops
	ref    int
	mu     sync.Mutex // guards ref against concurrent senders
}

type frame map[string]any

// frameLimit bounds the wait for a client's next frame: longer than
// testkit.WaitLimit, since a cluster test's frame may wait on a stream
// leader's election or a consumer's recreation, which take seconds on a
// loaded two-core machine running the race detector.
const frameLimit = 3 * testkit.WaitLimit

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

// ids returns the ids of a History frame's messages.
func (f frame) ids() []string {
	var ids []string
	msgs, _ := f["messages"].([]any)
	for _, m := range msgs {
		if mm, ok := m.(map[string]any); ok {
			id, _ := mm["id"].(string)
			ids = append(ids, id)
		}
	}
	return ids
}

// dial connects to addr as a guest and waits for the Welcome.
func dial(t *testing.T, addr string) *client {
	t.Helper()
	return dialWith(t, addr, nil)
}

// dialAs connects to addr with an account's session token.
func dialAs(t *testing.T, addr, token string) *client {
	t.Helper()
	return dialWith(t, addr, http.Header{"Authorization": {"Bearer " + token}})
}

func dialWith(t *testing.T, addr string, h http.Header) *client {
	t.Helper()
	cl, err := tryDial(t, addr, h)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// tryDial connects to addr and waits for the Welcome, reporting what went
// wrong instead of failing the test.
func tryDial(t *testing.T, addr string, h http.Header) (*client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c.SetReadLimit(1 << 22)
	cl := &client{t: t, c: c, frames: make(chan frame, 4096)}
	go func() { // the reader: stops when the connection ends
		defer close(cl.frames)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var f frame
			if json.Unmarshal(b, &f) == nil {
				cl.frames <- f
			}
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	select {
	case w, ok := <-cl.frames:
		if !ok || w.str("type") != "Welcome" {
			return nil, fmt.Errorf("first frame from %s: got %v, want Welcome", addr, w)
		}
		cl.name = w.str("username")
		return cl, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: no Welcome within %v", addr, testkit.WaitLimit)
	}
}

// next returns the next frame, failing the test if none comes in time.
func (cl *client) next() frame {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), frameLimit)
	defer cancel()
	select {
	case f, ok := <-cl.frames:
		if !ok {
			cl.t.Fatalf("%s: connection ended", cl.name)
		}
		return f
	case <-ctx.Done():
		cl.t.Fatalf("%s: no frame within %v", cl.name, frameLimit)
	}
	return nil
}

// send writes req with a fresh ref and returns the ref. Safe from several
// goroutines; it reports a write error instead of failing the test.
func (cl *client) send(req map[string]any) (string, error) {
	cl.mu.Lock()
	cl.ref++
	ref := strconv.Itoa(cl.ref)
	cl.mu.Unlock()
	req["ref"] = ref
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	return ref, cl.c.Write(ctx, websocket.MessageText, b)
}

// do sends req and returns the frames up to its Ack (or Error) for ref,
// failing the test on an Error.
func (cl *client) do(req map[string]any) []frame {
	cl.t.Helper()
	ref, err := cl.send(req)
	if err != nil {
		cl.t.Fatalf("%s: send %v: %v", cl.name, req, err)
	}
	var got []frame
	for {
		f := cl.next()
		got = append(got, f)
		if f.str("ref") != ref {
			continue
		}
		switch f.str("type") {
		case "Error":
			cl.t.Fatalf("%s: %v: got %v", cl.name, req, f)
		case "Ack":
			return got
		}
	}
}

// join joins room (with since, if not "") and returns its History.
func (cl *client) join(room, since string) frame {
	cl.t.Helper()
	req := map[string]any{"type": "JoinRoom", "room": room}
	if since != "" {
		req["since"] = since
	}
	cl.do(req)
	for {
		if f := cl.next(); f.str("type") == "History" && f.str("room") == room {
			return f
		}
	}
}
