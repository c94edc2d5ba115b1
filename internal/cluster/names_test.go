package cluster_test

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"parley/actors"
	"parley/internal/cluster"
	"parley/internal/testkit"
)

// rename sends SetUsername and returns the reply: its Ack or its Error.
func rename(cl *client, name string) frame {
	cl.t.Helper()
	ref, err := cl.send(map[string]any{"type": "SetUsername", "username": name})
	if err != nil {
		cl.t.Fatalf("send: %v", err)
	}
	for {
		if f := cl.next(); f.str("ref") == ref {
			return f
		}
	}
}

// nextPrivate returns the next PrivateMessage frame cl gets.
func nextPrivate(cl *client) frame {
	cl.t.Helper()
	for {
		if f := cl.next(); f.str("type") == "PrivateMessage" {
			return f
		}
	}
}

// Promise 4, names and private messages: a guest's name is unique across
// the nodes, free again once its holder leaves, and a private message
// reaches its recipient on another node (and comes back the other way).
func TestNamesAndPrivateMessagesAcrossNodes(t *testing.T) {
	tc := startCluster(t, 2, nil)
	zoe := dial(t, tc.addrs[0])
	if f := rename(zoe, "zoe"); f.str("type") != "Ack" {
		t.Fatalf("zoe on node 1: got %v, want an Ack", f)
	}
	zoe.name = "zoe"
	other := dial(t, tc.addrs[1])
	for _, name := range []string{"zoe", "ZOE", "z0e"} {
		if f := rename(other, name); f.str("code") != "username_taken" {
			t.Errorf("%q on node 2 while zoe is on node 1: got %v, want username_taken", name, f)
		}
	}
	if f := rename(other, "yan"); f.str("type") != "Ack" {
		t.Fatalf("yan on node 2: got %v, want an Ack", f)
	}

	other.do(map[string]any{"type": "PrivateMessage", "to": "zoe", "content": "hi from node 2"})
	if f := nextPrivate(zoe); f.str("from") != "yan" || f.str("content") != "hi from node 2" {
		t.Errorf("zoe got %v, want yan's message", f)
	}
	zoe.do(map[string]any{"type": "PrivateMessage", "to": "yan", "content": "hi back"})
	if f := nextPrivate(other); f.str("from") != "zoe" || f.str("content") != "hi back" {
		t.Errorf("yan got %v, want zoe's reply", f)
	}

	// zoe leaves node 1: her name is free on node 2 once node 1 has seen
	// her go (the release follows the connection's end).
	zoe.c.CloseNow()
	taker := dial(t, tc.addrs[1])
	deadline := time.Now().Add(testkit.WaitLimit)
	for {
		f := rename(taker, "zoe")
		if f.str("type") == "Ack" {
			break
		}
		if f.str("code") != "username_taken" || time.Now().After(deadline) {
			t.Fatalf("zoe after she left: got %v, want an Ack within %v", f, testkit.WaitLimit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A claim left by a node that died (no heartbeat) does not keep the name.
func TestDeadNodesNameIsFree(t *testing.T) {
	tc := startCluster(t, 1, nil)
	nc, err := nats.Connect(tc.nats.URLs())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	kv, err := js.KeyValue(t.Context(), "parley_names")
	if err != nil {
		t.Fatalf("names bucket: %v", err)
	}
	claim, _ := json.Marshal(map[string]string{"node": "gone", "name": "ghost"})
	if _, err := kv.Put(t.Context(), "s"+hex.EncodeToString([]byte(actors.Skeleton("ghost"))), claim); err != nil {
		t.Fatalf("put: %v", err)
	}
	cl := dial(t, tc.addrs[0])
	if f := rename(cl, "ghost"); f.str("type") != "Ack" {
		t.Errorf("a name held by a dead node: got %v, want an Ack", f)
	}
}

// members returns the names of the next Members frame of room cl gets.
func members(cl *client, room string) []string {
	cl.t.Helper()
	for {
		f := cl.next()
		if f.str("type") != "Members" || f.str("room") != room {
			continue
		}
		var names []string
		list, _ := f["usernames"].([]any)
		for _, n := range list {
			s, _ := n.(string)
			names = append(names, s)
		}
		return names
	}
}

// nextPresence returns the next UserJoined or UserLeft of room cl gets
// about someone else.
func nextPresence(cl *client, room string) frame {
	cl.t.Helper()
	for {
		f := cl.next()
		if (f.str("type") == "UserJoined" || f.str("type") == "UserLeft") && f.str("room") == room && f.str("username") != cl.name {
			return f
		}
	}
}

// Promise 4, presence: Members, UserJoined and UserLeft and the room
// list's member counts cover every node, and the people of a node that
// stops beating leave.
func TestPresenceAcrossNodes(t *testing.T) {
	tc := startCluster(t, 2, func(_ int, c *cluster.Config) { c.NodeTimeout = 3 * time.Second })
	ann := dial(t, tc.addrs[0])
	rename(ann, "ann")
	ann.name = "ann"
	ann.join("general", "")
	bob := dial(t, tc.addrs[1])
	rename(bob, "bob")
	bob.name = "bob"
	bob.do(map[string]any{"type": "JoinRoom", "room": "general"})
	if got, want := members(bob, "general"), []string{"ann", "bob"}; !slices.Equal(got, want) {
		t.Errorf("bob's Members on node 2: got %v, want %v", got, want)
	}
	if f := nextPresence(ann, "general"); f.str("type") != "UserJoined" || f.str("username") != "bob" {
		t.Errorf("ann on node 1: got %v, want UserJoined bob", f)
	}
	ref, err := bob.send(map[string]any{"type": "ListRooms"})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	for {
		f := bob.next()
		if f.str("ref") != ref {
			continue
		}
		rooms, _ := f["rooms"].([]any)
		for _, r := range rooms {
			if r, _ := r.(map[string]any); r["name"] == "general" && r["members"] != float64(2) {
				t.Errorf("RoomList on node 2: general has %v members, want 2", r["members"])
			}
		}
		break
	}
	bob.do(map[string]any{"type": "LeaveRoom", "room": "general"})
	if f := nextPresence(ann, "general"); f.str("type") != "UserLeft" || f.str("username") != "bob" {
		t.Errorf("ann after bob left on node 2: got %v, want UserLeft bob", f)
	}

	// A node that says its people are in, then falls silent.
	nc, err := nats.Connect(tc.nats.URLs())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	ghost, _ := json.Marshal(actors.Presence{Node: "ghost", Op: actors.PresenceOn, Name: "casper"})
	if err := nc.Publish("parley.presence."+hex.EncodeToString([]byte("general")), ghost); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if f := nextPresence(ann, "general"); f.str("type") != "UserJoined" || f.str("username") != "casper" {
		t.Errorf("ann: got %v, want UserJoined casper from the ghost node", f)
	}
	if f := nextPresence(ann, "general"); f.str("type") != "UserLeft" || f.str("username") != "casper" {
		t.Errorf("ann, once the ghost node fell silent: got %v, want UserLeft casper", f)
	}
}
