package cluster_test

import "testing"

// nextOf returns the next frame of type typ cl gets.
func nextOf(cl *client, typ string) frame {
	cl.t.Helper()
	for {
		if f := cl.next(); f.str("type") == typ {
			return f
		}
	}
}

// An edit and a deletion of a private message reach the other side on
// another node, its frame naming the author in with.
func TestPrivateEditAcrossNodes(t *testing.T) {
	tc := startCluster(t, 2, nil)
	zoe := dial(t, tc.addrs[0])
	if f := rename(zoe, "zoe"); f.str("type") != "Ack" {
		t.Fatalf("zoe on node 1: got %v, want an Ack", f)
	}
	zoe.name = "zoe"
	yan := dial(t, tc.addrs[1])
	if f := rename(yan, "yan"); f.str("type") != "Ack" {
		t.Fatalf("yan on node 2: got %v, want an Ack", f)
	}
	yan.name = "yan"

	got := zoe.do(map[string]any{"type": "PrivateMessage", "to": "yan", "content": "helo"})
	id := got[len(got)-1].str("id")
	if f := nextPrivate(yan); f.str("id") != id {
		t.Fatalf("yan got %v, want zoe's message %s", f, id)
	}
	got = zoe.do(map[string]any{"type": "EditMessage", "id": id, "with": "yan", "content": "hello"})
	if f := got[len(got)-2]; f.str("type") != "MessageEdited" || f.str("with") != "yan" {
		t.Errorf("zoe before her Ack: got %v, want MessageEdited with yan", f)
	}
	if f := nextOf(yan, "MessageEdited"); f.str("id") != id || f.str("with") != "zoe" || f.str("content") != "hello" {
		t.Errorf("yan on node 2: got %v, want MessageEdited of %s with zoe reading hello", f, id)
	}
	zoe.do(map[string]any{"type": "DeleteMessage", "id": id})
	if f := nextOf(yan, "MessageDeleted"); f.str("id") != id || f.str("with") != "zoe" {
		t.Errorf("yan on node 2: got %v, want MessageDeleted of %s with zoe", f, id)
	}
}
