package transport_test

import (
	"testing"

	"github.com/coder/websocket"

	"parley/actors"
)

// Search over real connections, after a restart: the index was kept with
// the messages; a deletion took its words out of it; hostile syntax is
// words; an empty query is a clear bad_request.
func TestSearchOverTheWire(t *testing.T) {
	const room = "search"
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	a := s.dial()
	a.setName("alice")
	a.join(room)
	var ids []string
	for _, c := range []string{"ship it on friday", "the secret plan: ship NEAR friday", "unrelated"} {
		a.send(map[string]any{"type": "SendMessage", "room": room, "content": c, "ref": c})
		ids = append(ids, a.reply(c, "Ack").str("id"))
	}
	a.send(map[string]any{"type": "DeleteMessage", "id": ids[1], "ref": "d"})
	a.reply("d", "Ack")
	a.c.Close(websocket.StatusNormalClosure, "")
	s.stop()

	s2 := startServer(t, serverConfig{dbPath: s.dbPath, hub: actors.Config{Limits: noRateLimit}})
	b := s2.dial()
	b.setName("bob")
	b.join(room)
	b.send(map[string]any{"type": "Search", "query": `ship" (fri*`, "ref": "q"})
	res := b.reply("q", "SearchResults")
	results, _ := res["results"].([]any)
	if len(results) != 1 || res["truncated"] != false || res.str("query") != `ship" (fri*` {
		t.Fatalf("SearchResults: got %v, want the one message left holding ship and friday", res)
	}
	r := msg(results[0].(map[string]any))
	if r.str("id") != ids[0] || r.str("room") != room || r.str("username") != "alice" || r.str("snippet") != "ship it on friday" {
		t.Errorf("result: got %v, want %s of alice in %s", r, ids[0], room)
	}
	b.send(map[string]any{"type": "Search", "query": "secret", "ref": "gone"})
	if res := b.reply("gone", "SearchResults"); len(res["results"].([]any)) != 0 {
		t.Errorf("Search for a deleted message's word: got %v, want nothing", res)
	}
	b.send(map[string]any{"type": "Search", "query": "   ", "ref": "empty"})
	b.expectError("empty", "bad_request")
}
