package storetest

// The cases of full-text search.

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/textsearch"
)

// says is a room message with the given content.
func says(id, room, user, content string, i int) *actors.StoredMessage {
	m := RoomMsg(id, room, user, i)
	m.Content = content
	return m
}

// search runs q with the terms of query, failing on an error.
func search(t *testing.T, w Store, query string, q actors.SearchQuery) ([]string, bool) {
	t.Helper()
	terms, err := textsearch.Parse(query)
	if err != nil {
		t.Fatalf("Parse(%q): %v", query, err)
	}
	q.Terms = terms
	msgs, more, err := w.Search(testCtx(t), q)
	if err != nil {
		t.Fatalf("Search(%q, %+v): %v", query, q, err)
	}
	return HistoryIDs(msgs), more
}

// Search finds the messages of the rooms asked for that hold every word
// (whole words, any case; "word*" as a prefix), best ranked first, within
// Before and Limit; never a private message in a room search nor a room
// message or a guest's private message in a conversation's.
func testSearch(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	msgs := []*actors.StoredMessage{
		says("01", "general", "ann", "we will deploy the new build after lunch today, maybe later", 1),
		says("02", "general", "ben", "Deploy deploy DEPLOY", 2),
		says("03", "random", "ann", "deploy from random", 3),
		says("04", "general", "cid", "the deployment went fine on friday", 4),
		says("05", "general", "ann", "nothing to see here", 5),
		says("06", "general", "ben", "deploying on friday is brave", 6),
		PrivMsg("07", "ann", "ben", 7), // a guest's: "private 7 from ann"
	}
	m := kept(8, "ann", "ben") // "private 8 from ann", kept by both
	m.ID = "08"
	msgs = append(msgs, m)
	m = kept(9, "ben", "cid")
	m.ID = "09"
	msgs = append(msgs, m)
	AppendAll(t, w, msgs)
	general := []string{"general"}
	ann, ben := actors.Skeleton("ann"), actors.Skeleton("ben")

	for _, tc := range []struct {
		query string
		q     actors.SearchQuery
		want  []string
		more  bool
	}{
		// The message that says it three times in three words first.
		{"deploy", actors.SearchQuery{Rooms: general, Limit: 10}, []string{"02", "01"}, false},
		{"DEPLOY", actors.SearchQuery{Rooms: []string{"general", "random"}, Limit: 10}, []string{"02", "03", "01"}, false},
		{"deploy", actors.SearchQuery{Rooms: general, Limit: 1}, []string{"02"}, true},
		{"deploy", actors.SearchQuery{Rooms: general, Before: "02", Limit: 10}, []string{"01"}, false},
		{"friday deploy*", actors.SearchQuery{Rooms: general, Limit: 10}, []string{"06", "04"}, false},
		{"friday", actors.SearchQuery{Rooms: []string{"random"}, Limit: 10}, nil, false},
		{"deploy", actors.SearchQuery{Limit: 10}, nil, false}, // no room
		{"private", actors.SearchQuery{Rooms: []string{"general", ""}, Limit: 10}, nil, false},
		{"private", actors.SearchQuery{Owner: ann, Peer: ben, Limit: 10}, []string{"08"}, false},
		{"private", actors.SearchQuery{Owner: ben, Peer: ann, Limit: 10}, []string{"08"}, false},
		{"ben", actors.SearchQuery{Owner: ben, Peer: actors.Skeleton("cid"), Limit: 10}, []string{"09"}, false},
		{"private", actors.SearchQuery{Owner: ann, Peer: actors.Skeleton("cid"), Limit: 10}, nil, false},
		{"deploy", actors.SearchQuery{Owner: ann, Peer: ben, Limit: 10}, nil, false},
	} {
		got, more := search(t, w, tc.query, tc.q)
		if !slices.Equal(got, tc.want) || more != tc.more {
			t.Errorf("Search(%q, %+v): got %q, more %v, want %q, more %v", tc.query, tc.q, got, more, tc.want, tc.more)
		}
	}
	res, _, err := w.Search(testCtx(t), actors.SearchQuery{Terms: []textsearch.Term{{Word: "private"}}, Owner: ann, Peer: ben, Limit: 1})
	if err != nil || len(res) != 1 || !res[0].Kept || res[0].Recipient != "ben" || res[0].Content != "private 8 from ann" {
		t.Errorf("conversation result: got %+v, %v, want 08 kept, to ben, with its content", res, err)
	}
}

// An edited message is found by its new words only, a deleted one by none
// of them, nor is a message of a deleted room; what is found survives a
// reopen.
func testSearchFollowsEditsAndDeletions(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	AppendAll(t, w, []*actors.StoredMessage{
		says("01", "general", "ann", "the secret password is swordfish", 1),
		says("02", "general", "ann", "typo in teh word", 2),
		says("03", "doomed", "ann", "swordfish in the doomed room", 3),
		says("04", "general", "ben", "swordfish again", 4),
	})
	at := BaseTime.Add(time.Minute)
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "01", Room: "general", Deleted: true, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "02", Room: "general", Content: "typo in the word", At: at}); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteRoom(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	rooms := []string{"general", "doomed"}
	check := func(w Store) {
		t.Helper()
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"swordfish", []string{"04"}},
			{"secret", nil},
			{"password", nil},
			{"teh", nil},
			{"the word", []string{"02"}},
		} {
			if got, _ := search(t, w, tc.query, actors.SearchQuery{Rooms: rooms, Limit: 10}); !slices.Equal(got, tc.want) {
				t.Errorf("Search(%q): got %q, want %q", tc.query, got, tc.want)
			}
		}
	}
	check(w)
	// A later edit of the same message is indexed again, once.
	if err := w.ChangeMessage(ctx, actors.MessageChange{ID: "02", Room: "general", Content: "the word, twice edited", At: at.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if got, _ := search(t, w, "word", actors.SearchQuery{Rooms: rooms, Limit: 10}); !slices.Equal(got, []string{"02"}) {
		t.Errorf("Search(word) after a second edit: got %q, want [02]", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, Options{})
	if got, _ := search(t, w, "swordfish", actors.SearchQuery{Rooms: rooms, Limit: 10}); !slices.Equal(got, []string{"04"}) {
		t.Errorf("Search(swordfish) after reopen: got %q, want [04]", got)
	}
}

// A word in more than actors.SearchRecent messages is ranked among the
// newest of them; an older match, however well it ranks, is reached with
// Before.
func testSearchRanksTheNewestMatchesOfACommonWord(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	var msgs []*actors.StoredMessage
	for i := range actors.SearchRecent + 100 {
		m := says(fmt.Sprintf("01JC%022d", i), "general", "ann", "common filler text with a common word and some more words", i)
		if i == 0 {
			m.Content = "common common common" // the best match, and the oldest
		}
		msgs = append(msgs, m)
	}
	for i := 0; i < len(msgs); i += 1000 { // the queue holds fewer
		AppendAll(t, w, msgs[i:min(i+1000, len(msgs))])
	}
	q := actors.SearchQuery{Rooms: []string{"general"}, Limit: 3}
	ids, more := search(t, w, "common", q)
	if len(ids) != 3 || !more || slices.Contains(ids, msgs[0].ID) {
		t.Errorf("Search(common): got %q, more %v, want 3 of the newest matches, more", ids, more)
	}
	q.Before = msgs[50].ID
	if ids, _ = search(t, w, "common", q); len(ids) != 3 || ids[0] != msgs[0].ID {
		t.Errorf("Search(common, before %s): got %q, want %s first", q.Before, ids, msgs[0].ID)
	}
}
