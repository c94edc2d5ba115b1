package cluster_test

import (
	"testing"
)

// A member typing in a room on node A is seen typing by a member of that
// room on node B: the room relays the notice over core NATS, and node B's
// room hands it to its members.
func TestTypingAcrossNodes(t *testing.T) {
	tc := startCluster(t, 2, nil)
	typist := dial(t, tc.addrs[0])
	watcher := dial(t, tc.addrs[1])
	watcher.join("general", "")
	typist.join("general", "")
	// Until the room has the watcher's ready (after its History and
	// Members), it holds frames for it and drops typing notices; the
	// typist's arrival, held or not, comes after it.
	for f := watcher.next(); f.str("type") != "UserJoined" || f.str("username") != typist.name; f = watcher.next() {
	}
	if _, err := typist.send(map[string]any{"type": "Typing", "room": "general"}); err != nil {
		t.Fatalf("send Typing: %v", err)
	}
	for {
		f := watcher.next() // fails the test if nothing comes within testkit.WaitLimit
		if f.str("type") != "UserTyping" {
			continue
		}
		if f.str("room") != "general" || f.str("username") != typist.name {
			t.Fatalf("on node 2: got %v, want UserTyping of %s in general", f, typist.name)
		}
		return
	}
}

// Typing to one person (Typing{with}) reaches that person on another node.
func TestTypingToAPersonOnAnotherNode(t *testing.T) {
	tc := startCluster(t, 2, nil)
	typist := dial(t, tc.addrs[0])
	recipient := dial(t, tc.addrs[1])
	if _, err := typist.send(map[string]any{"type": "Typing", "with": recipient.name}); err != nil {
		t.Fatalf("send Typing: %v", err)
	}
	for {
		f := recipient.next() // fails the test if nothing comes within testkit.WaitLimit
		if f.str("type") != "UserTyping" {
			continue
		}
		if f.str("with") != typist.name || f.str("username") != typist.name || f.str("room") != "" {
			t.Fatalf("on node 2: got %v, want UserTyping with %s", f, typist.name)
		}
		return
	}
}
