package protocol

import "time"

// Search (docs/protocol.md, "Search"): a request for the messages that
// hold some words, and its answer, SearchResults. The frame is rare and
// built per request, so it goes through encoding/json.

// TypeSearch asks for the best matching messages of the rooms the
// connection is in (or one of them), or of one of the account's
// conversations.
const TypeSearch = "Search"

// SearchResult is one message found: where it is (Room, or With: the
// other account of a conversation), who sent it and when, and a snippet of
// its content, plain text, with the ranges of the words that matched as
// [start, end) pairs in UTF-16 code units of Snippet.
type SearchResult struct {
	ID         string
	Room       string
	With       string
	Username   string
	Timestamp  time.Time
	Snippet    string
	Highlights [][2]int
}

type searchResultJSON struct {
	ID         string   `json:"id"`
	Room       string   `json:"room,omitempty"`
	With       string   `json:"with,omitempty"`
	Username   string   `json:"username"`
	Timestamp  string   `json:"timestamp"`
	Snippet    string   `json:"snippet"`
	Highlights [][2]int `json:"highlights"`
}

type searchResultsFrame struct {
	Type      string             `json:"type"`
	Ref       string             `json:"ref,omitempty"`
	Query     string             `json:"query"`
	Results   []searchResultJSON `json:"results"`
	Truncated bool               `json:"truncated"`
}

// EncodeSearchResults encodes a SearchResults frame: the query as asked,
// the results best first, and whether more matched than were sent.
func EncodeSearchResults(ref, query string, results []SearchResult, truncated bool) []byte {
	f := searchResultsFrame{Type: "SearchResults", Ref: ref, Query: query, Results: make([]searchResultJSON, len(results)), Truncated: truncated}
	for i, r := range results {
		h := r.Highlights
		if h == nil {
			h = [][2]int{}
		}
		f.Results[i] = searchResultJSON{ID: r.ID, Room: r.Room, With: r.With, Username: r.Username,
			Timestamp: FormatTimestamp(r.Timestamp), Snippet: r.Snippet, Highlights: h}
	}
	return mustJSON(f)
}
