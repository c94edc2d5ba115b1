package actors_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/protocol"
)

// searchIDs sends req as a Search and returns its results' ids, with the
// frame.
func (c *client) searchIDs(req protocol.Request) ([]string, frame) {
	c.t.Helper()
	req.Type, req.Ref = "Search", "q-"+req.Query
	c.do(req)
	fr := c.waitFor("SearchResults", func(fr frame) bool { return fr.str("ref") == req.Ref })
	var ids []string
	for _, r := range entries(c.t, fr, "results") {
		ids = append(ids, r.str("id"))
	}
	return ids, fr
}

// A Search finds what the connection may read: the rooms it is in (all,
// or the one named), best ranked first; a snippet is the content as text
// with the matched words' ranges; an edited message is found by its new
// words, a deleted one by none.
func TestSearchRoomsOneIsIn(t *testing.T) {
	f := newFixture(t, editsConfig)
	a, b := f.aliceAndBob("lobby")
	a.join("dev")
	b.join("secret")
	lunch := a.send("lobby", "<b>deploy</b> after lunch")
	f.clock.Advance(time.Millisecond)
	twice := b.send("lobby", "Deploy deploy!")
	f.clock.Advance(time.Millisecond)
	dev := a.send("dev", "deploying the 🎉 deployment")
	b.send("secret", "deploy the secret thing")
	typo := a.send("lobby", "teh typo")

	ids, fr := a.searchIDs(protocol.Request{Query: "deploy"})
	if want := []string{twice, lunch}; !slices.Equal(ids, want) || fr["truncated"] != false || fr.str("query") != "deploy" {
		t.Errorf("Search deploy in every room: got %v, want %v (never secret, which alice is not in)", fr, want)
	}
	res := entries(t, fr, "results")[1]
	if res.str("room") != "lobby" || res.str("username") != "alice" || res.str("snippet") != "<b>deploy</b> after lunch" || res.str("timestamp") == "" {
		t.Errorf("result: got %v, want lobby, alice, the content as text", res)
	}
	if h := fmt.Sprint(res["highlights"]); h != "[[3 9]]" {
		t.Errorf("highlights: got %s, want [[3 9]]", h)
	}
	ids, fr = a.searchIDs(protocol.Request{Query: "deploy*", Room: "dev"})
	if h := fmt.Sprint(entries(t, fr, "results")[0]["highlights"]); !slices.Equal(ids, []string{dev}) || h != "[[0 9] [17 27]]" {
		t.Errorf("Search deploy* in dev: got %v, want %s with [[0 9] [17 27]] (the emoji counts 2)", fr, dev)
	}
	if ids, fr = a.searchIDs(protocol.Request{Query: "deploy", Limit: 1}); !slices.Equal(ids, []string{twice}) || fr["truncated"] != true {
		t.Errorf("Search limit 1: got %v, want %s and truncated", fr, twice)
	}
	if ids, _ = a.searchIDs(protocol.Request{Query: "deploy", Before: twice}); !slices.Equal(ids, []string{lunch}) {
		t.Errorf("Search before %s: got %v, want %s", twice, ids, lunch)
	}

	a.changed("lobby", typo, "the typo", b)
	b.changed("lobby", twice, "", a)
	for q, want := range map[string][]string{"teh": nil, "the typo": {typo}, "deploy": {lunch}} {
		if ids, _ := a.searchIDs(protocol.Request{Query: q, Room: "lobby"}); !slices.Equal(ids, want) {
			t.Errorf("Search %q after the edit and delete: got %v, want %v", q, ids, want)
		}
	}

	for _, tc := range []struct {
		req  protocol.Request
		code protocol.ErrorCode
	}{
		{protocol.Request{Type: "Search", Query: `"" * ( )`}, protocol.CodeBadRequest},
		{protocol.Request{Type: "Search", Query: string(make([]byte, 300))}, protocol.CodeBadRequest},
		{protocol.Request{Type: "Search", Query: "a b c d e f g h i"}, protocol.CodeBadRequest},
		{protocol.Request{Type: "Search", Query: "x", Before: "nope"}, protocol.CodeBadRequest},
		{protocol.Request{Type: "Search", Query: "x", Room: "lobby", With: "bob"}, protocol.CodeBadRequest},
		{protocol.Request{Type: "Search", Query: "deploy", Room: "secret"}, protocol.CodeNotInRoom},
		{protocol.Request{Type: "Search", Query: "deploy", Room: "Bad Room"}, protocol.CodeInvalidRoom},
		{protocol.Request{Type: "Search", Query: "deploy", With: "bob"}, protocol.CodeNotAllowed}, // a guest keeps no conversation
	} {
		a.refused(tc.req, tc.code)
	}
	// FTS5 syntax is words: no error, no operator.
	if ids, _ := a.searchIDs(protocol.Request{Query: `deploy" OR NEAR(secret`}); ids != nil {
		t.Errorf("Search with FTS5 syntax: got %v, want nothing (no message holds all of its words)", ids)
	}
}

// An account searches its own side of a conversation; nobody else's.
func TestSearchConversation(t *testing.T) {
	reg := newRegistry("Ann", "Ben", "Cid")
	f := newFixture(t, actors.Config{Names: reg})
	ann := f.connectAccount("Ann")
	ann.do(protocol.Request{Type: "PrivateMessage", To: "ben", Content: "the launch code is 1234", Ref: "p1"})
	pm := ann.expectPrivate("Ann", "Ben", "the launch code is 1234").str("id")
	ann.expect("Ack")
	ben := f.connectAccount("Ben")
	cid := f.connectAccount("Cid")
	ids, fr := ben.searchIDs(protocol.Request{Query: "launch", With: "ann"})
	if res := entries(t, fr, "results"); !slices.Equal(ids, []string{pm}) || res[0].str("with") != "Ann" || res[0].str("room") != "" || res[0].str("username") != "Ann" {
		t.Errorf("Ben's search of his conversation with Ann: got %v, want %s, with Ann", fr, pm)
	}
	if ids, _ := cid.searchIDs(protocol.Request{Query: "launch", With: "ann"}); ids != nil {
		t.Errorf("Cid's search with Ann: got %v, want nothing", ids)
	}
	if ids, _ := ann.searchIDs(protocol.Request{Query: "launch"}); ids != nil {
		t.Errorf("a room search: got %v, want no private message", ids)
	}
}

// A Search is heavy: refused while the queue could not take a full page.
func TestSearchWaitsForRoomInTheQueue(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 1e6, RateBurst: 1 << 20}})
	a := f.connect()
	a.join("big")
	a.fill("big", 200, 3900)
	for i := range 3 {
		a.do(protocol.Request{Type: "History", Room: "big", Limit: 200, Ref: fmt.Sprint("h", i)})
	}
	a.do(protocol.Request{Type: "Search", Query: "x", Ref: "s"})
	a.take()
	last := a.backlog[len(a.backlog)-1]
	a.backlog = nil
	if last.str("ref") != "s" || last.str("code") != "rate_limited" {
		t.Errorf("Search behind two unread pages: got %v, want rate_limited", last)
	}
}

// A Search spends five requests' tokens: a bucket of 20, after a join
// (one), serves three and refuses the fourth.
func TestSearchCostsMore(t *testing.T) {
	f := newFixture(t, actors.Config{Limits: actors.Limits{RatePerSec: 0.001, RateBurst: 20}})
	a := f.connect()
	a.join("lobby")
	for i, want := range []string{"SearchResults", "SearchResults", "SearchResults", "Error"} {
		a.do(protocol.Request{Type: "Search", Query: "anything", Ref: fmt.Sprint("s", i)})
		if fr := a.next(); fr.str("type") != want || (want == "Error" && fr.str("code") != "rate_limited") {
			t.Fatalf("search %d with %d tokens left: got %v, want %s", i, 19-5*i, fr, want)
		}
	}
}
