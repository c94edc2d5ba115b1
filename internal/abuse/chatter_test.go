package abuse

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/coder/websocket"

	"parley/internal/testkit"
)

// chatter is a WebSocket client that speaks parley's JSON protocol: the
// attacker or the bystander of a test. Its methods run on the test
// goroutine.
type chatter struct {
	t    *testing.T
	c    *websocket.Conn
	name string
	ref  int
}

// frame is one decoded server frame.
type frame map[string]any

func (f frame) str(k string) string { s, _ := f[k].(string); return s }

// connect dials addr's WebSocket with the extra headers h (nil for none)
// and reads its Welcome.
func connect(t *testing.T, addr string, h http.Header) *chatter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetReadLimit(1 << 22)
	t.Cleanup(func() { c.CloseNow() })
	ch := &chatter{t: t, c: c}
	w := ch.next()
	if w.str("type") != "Welcome" {
		t.Fatalf("first frame: got %v, want Welcome", w)
	}
	ch.name = w.str("username")
	return ch
}

// send writes req with a fresh ref, and returns the ref.
func (ch *chatter) send(req map[string]any) string {
	ch.t.Helper()
	ch.ref++
	ref := strconv.Itoa(ch.ref)
	req["ref"] = ref
	b, _ := json.Marshal(req)
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	if err := ch.c.Write(ctx, websocket.MessageText, b); err != nil {
		ch.t.Fatalf("%s: write: %v", ch.name, err)
	}
	return ref
}

// next reads one frame, failing the test after the wait limit.
func (ch *chatter) next() frame {
	ch.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	_, b, err := ch.c.Read(ctx)
	if err != nil {
		ch.t.Fatalf("%s: read: %v", ch.name, err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		ch.t.Fatalf("%s: frame %q: %v", ch.name, b, err)
	}
	return f
}

// reply reads until the reply to ref (Ack, Error or a reply frame).
func (ch *chatter) reply(ref string) frame {
	ch.t.Helper()
	for {
		if f := ch.next(); f.str("ref") == ref {
			return f
		}
	}
}

// do sends req and returns its reply.
func (ch *chatter) do(req map[string]any) frame {
	ch.t.Helper()
	return ch.reply(ch.send(req))
}

// code is the Error code of a reply, "" for any other reply.
func code(f frame) string {
	if f.str("type") == "Error" {
		return f.str("code")
	}
	return ""
}
