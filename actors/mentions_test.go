package actors_test

import (
	"slices"
	"testing"

	"parley/actors"
	"parley/internal/protocol"
)

func names(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, x.(string))
	}
	return out
}

// @name names a connected person or an account (as displayed, each once,
// not the sender), in the Message and in History; an account away counts
// the mentions among its unread, and a MarkRead past them clears them.
func TestMentions(t *testing.T) {
	f := newFixture(t, actors.Config{Names: newRegistry("Ann")})
	ann := f.connectAccount("Ann")
	ann.join("lobby")
	ann.s.Close()
	a, b := f.aliceAndBob("lobby")

	content := "hi @ANN, @bob and @bob- and @nobody, @alice, mail@bob.example"
	id := a.send("lobby", content)
	fr := b.waitFor("Message", func(fr frame) bool { return fr.str("id") == id })
	if got, want := names(fr["mentions"]), []string{"Ann", "bob"}; !slices.Equal(got, want) {
		t.Errorf("Message mentions: got %v, want %v", got, want)
	}
	if got := names(b.history("lobby")[id]["mentions"]); !slices.Equal(got, []string{"Ann", "bob"}) {
		t.Errorf("History mentions: got %v, want [Ann bob]", got)
	}
	a.send("lobby", "no mention here")

	ann = f.connectAccount("Ann")
	un := ann.resumeFrames[len(ann.resumeFrames)-1]
	rooms, _ := un["rooms"].([]any)
	if len(rooms) != 1 || rooms[0].(map[string]any)["unread"] != 2.0 || rooms[0].(map[string]any)["mentions"] != 1.0 {
		t.Fatalf("Ann's Unread: got %v, want lobby with 2 unread, 1 mention", un)
	}
	ann.do(protocol.Request{Type: "MarkRead", Room: "lobby", ID: id, Ref: "m"})
	if rm := ann.waitFor("ReadMarker", nil); rm["unread"] != 1.0 || rm["mentions"] != nil {
		t.Errorf("ReadMarker past the mention: got %v, want 1 unread and no mentions", rm)
	}
}
