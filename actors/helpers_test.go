package actors_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
	"parley/internal/testkit"
	"parley/persistence"
	"parley/transport/outbound"
)

const waitLimit = testkit.WaitLimit

type fixture struct {
	t     *testing.T
	ctx   context.Context
	clock *manualClock
	store *persistence.Store
	hub   *actors.Hub
	path  string
	// wrap, if set, puts a fault injector in front of the real store.
	wrap func(actors.Store) actors.Store
}

// newFixture starts a Hub on a real SQLite file in t.TempDir with a manual
// clock. cfg's Store and Clock are filled in.
func newFixture(t *testing.T, cfg actors.Config) *fixture {
	t.Helper()
	return newFixtureWrapped(t, cfg, nil)
}

// newFixtureWrapped is newFixture with the Hub's store wrapped by wrap, a
// fault injector in front of the real store (which the fixture closes).
func newFixtureWrapped(t *testing.T, cfg actors.Config, wrap func(actors.Store) actors.Store) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), clock: newManualClock(), path: filepath.Join(t.TempDir(), "chat.db"), wrap: wrap}
	f.open(cfg)
	return f
}

func (f *fixture) open(cfg actors.Config) {
	f.t.Helper()
	store, err := persistence.Open(f.ctx, f.path, persistence.Options{})
	if err != nil {
		f.t.Fatalf("open store: %v", err)
	}
	cfg.Store, cfg.Clock = store, f.clock
	if f.wrap != nil {
		cfg.Store = f.wrap(store)
	}
	hub, err := actors.NewHub(f.ctx, cfg)
	if err != nil {
		store.Close()
		f.t.Fatalf("new hub: %v", err)
	}
	f.store, f.hub = store, hub
	f.t.Cleanup(f.close)
}

// close stops the hub and the store; safe to call twice.
func (f *fixture) close() {
	if f.hub == nil {
		return
	}
	f.hub.CloseAll(protocol.CloseGoingAway, "test over")
	ctx, cancel := context.WithTimeout(f.ctx, waitLimit)
	defer cancel()
	if err := f.hub.Shutdown(ctx); err != nil {
		f.t.Errorf("hub shutdown: %v", err)
	}
	if err := f.store.Close(); err != nil {
		f.t.Errorf("store close: %v", err)
	}
	f.hub, f.store = nil, nil
}

// frame is one decoded server message.
type frame map[string]any

func (fr frame) str(k string) string { s, _ := fr[k].(string); return s }

// client is a session driven directly, without a network: requests go to
// Handle, frames come out of its outbound queue, drained by the test
// instead of a writer.
type client struct {
	t       *testing.T
	f       *fixture
	s       *actors.Session
	q       *outbound.Queue // the session's peer
	backlog []frame
	buf     [][]byte
	// An account's: what its Resume sent, Joined to Unread (connectAccount).
	resumeFrames []frame
}

func (f *fixture) connect() *client {
	f.t.Helper()
	c := &client{t: f.t, f: f, q: outbound.New(f.hub.OutboxLimits())}
	c.s = f.hub.Connect("127.0.0.1:1", c.q)
	if w := c.next(); w.str("type") != "Welcome" || w["account"] != false {
		f.t.Fatalf("first frame: got %v, want a guest's Welcome (account false)", w)
	}
	return c
}

func (c *client) do(req protocol.Request) { c.s.Handle(c.f.ctx, req) }

// named connects one client per name and gives each its name.
func (f *fixture) named(names ...string) []*client {
	f.t.Helper()
	cl := make([]*client, len(names))
	for i, name := range names {
		cl[i] = f.connect()
		cl[i].rename(name)
	}
	return cl
}

// aliceAndBob connects alice and bob and, unless room is "", has both join
// it, alice seeing bob arrive.
func (f *fixture) aliceAndBob(room string) (a, b *client) {
	f.t.Helper()
	cl := f.named("alice", "bob")
	a, b = cl[0], cl[1]
	if room != "" {
		a.join(room)
		b.join(room)
		a.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == "bob" })
	}
	return a, b
}

// take moves what the queue holds into the backlog, decoded.
func (c *client) take() {
	c.t.Helper()
	c.buf = c.q.Take(c.buf)
	for _, b := range c.buf {
		var fr frame
		if err := json.Unmarshal(b, &fr); err != nil {
			c.t.Fatalf("frame %q is not JSON: %v", b, err)
		}
		c.backlog = append(c.backlog, fr)
	}
}

// next returns the next frame, failing the test if none comes in time.
func (c *client) next() frame {
	c.t.Helper()
	deadline := time.After(waitLimit)
	for len(c.backlog) == 0 {
		select {
		case <-c.q.Wake():
		case <-c.q.Done():
			// A closed queue still yields what was queued.
		case <-deadline:
			c.t.Fatalf("%s: no frame within %v", c.s.Username(), waitLimit)
		}
		c.take()
		if len(c.backlog) == 0 {
			select {
			case <-c.q.Done():
				c.t.Fatalf("%s: queue closed with nothing queued", c.s.Username())
			default:
			}
		}
	}
	fr := c.backlog[0]
	c.backlog = c.backlog[1:]
	return fr
}

// tryNext returns the next frame if one is queued now, without waiting.
func (c *client) tryNext() (frame, bool) {
	c.t.Helper()
	if len(c.backlog) == 0 {
		c.take()
	}
	if len(c.backlog) == 0 {
		return nil, false
	}
	fr := c.backlog[0]
	c.backlog = c.backlog[1:]
	return fr, true
}

// expect returns the next frame and checks its type.
func (c *client) expect(typ string) frame {
	c.t.Helper()
	fr := c.next()
	if got := fr.str("type"); got != typ {
		c.t.Fatalf("%s: got frame %v, want type %s", c.s.Username(), fr, typ)
	}
	return fr
}

// waitFor skips frames until one of type typ for which ok (if non-nil) holds.
func (c *client) waitFor(typ string, ok func(frame) bool) frame {
	c.t.Helper()
	for {
		fr := c.next()
		if fr.str("type") == typ && (ok == nil || ok(fr)) {
			return fr
		}
	}
}

// quiet checks that nothing is queued right now.
func (c *client) quiet() {
	c.t.Helper()
	c.buf = c.q.Take(c.buf)
	if len(c.backlog) > 0 || len(c.buf) > 0 {
		c.t.Fatalf("%s: got unexpected frames %v %q", c.s.Username(), c.backlog, c.buf)
	}
}

// join joins room and consumes the join reply up to the joiner's UserJoined.
func (c *client) join(room string) (history frame) {
	c.t.Helper()
	c.do(protocol.Request{Type: "JoinRoom", Room: room, Ref: "j-" + room})
	if ack := c.expect("Ack"); ack.str("room") != room || ack.str("ref") != "j-"+room {
		c.t.Fatalf("join ack: got %v, want room %s", ack, room)
	}
	history = c.expect("History")
	c.expect("Members")
	c.waitFor("UserJoined", func(fr frame) bool { return fr.str("username") == c.s.Username() })
	return history
}

func (c *client) rename(name string) {
	c.t.Helper()
	c.do(protocol.Request{Type: "SetUsername", Username: name, Ref: "n"})
	if ack := c.waitFor("Ack", nil); ack.str("username") != name {
		c.t.Fatalf("rename ack: got %v, want username %s", ack, name)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
