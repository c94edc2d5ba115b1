package protocol

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestDecodeSearch(t *testing.T) {
	req, err := Decode([]byte(`{"type":"Search","ref":"s1","query":"deploy* \"friday","room":"general","before":"01J","limit":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if req.Type != TypeSearch || req.Query != `deploy* "friday` || req.Room != "general" || req.Before != "01J" || req.Limit != 5 {
		t.Errorf("got %+v, want the Search's fields", req)
	}
	if _, err := Decode([]byte(`{"type":"Search","query":"a","query":"b"}`)); err == nil {
		t.Error("query twice: got no error, want one")
	}
	if _, err := Decode([]byte(`{"type":"Search","query":7}`)); err == nil {
		t.Error("query a number: got no error, want one")
	}
}

func TestEncodeSearchResults(t *testing.T) {
	ts := time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC)
	b := EncodeSearchResults("s1", "<b>x</b>", []SearchResult{
		{ID: "01A", Room: "general", Username: "ann", Timestamp: ts, Snippet: "a <script> x", Highlights: [][2]int{{11, 12}}},
		{ID: "01B", With: "ben", Username: "ben", Timestamp: ts, Snippet: "no match shown"},
	}, true)
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want := map[string]any{
		"type": "SearchResults", "ref": "s1", "query": "<b>x</b>", "truncated": true,
		"results": []any{
			map[string]any{"id": "01A", "room": "general", "username": "ann", "timestamp": "2024-01-02T03:04:05.006Z",
				"snippet": "a <script> x", "highlights": []any{[]any{11.0, 12.0}}},
			map[string]any{"id": "01B", "with": "ben", "username": "ben", "timestamp": "2024-01-02T03:04:05.006Z",
				"snippet": "no match shown", "highlights": []any{}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %s\nwant %v", b, want)
	}
}
