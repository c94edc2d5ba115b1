package protocol

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, frame string
		want        Request
	}{
		{"every field", `{"type":"History","ref":"r","username":"u","room":"g","content":"c","to":"t","since":"s","before":"b","limit":7,"nonce":"n","with":"w","id":"i"}`,
			Request{Type: "History", Ref: "r", Username: "u", Room: "g", Content: "c", To: "t", Since: "s", Before: "b", Limit: 7, Nonce: "n", With: "w", ID: "i"}},
		{"nulls leave fields empty", `{"type":"ListRooms","ref":null,"limit":null}`, Request{Type: "ListRooms"}},
		{"unknown keys skipped", `{"type":"ListRooms","colour":"blue","nested":{"a":[1,{"b":null}],"a":2}}`, Request{Type: "ListRooms"}},
		{"case variants are unknown keys", `{"type":"ListRooms","Type":"Dance","TYPE":"x"}`, Request{Type: "ListRooms"}},
		{"escaped strings", `{"type":"SendMessage","content":"a\"b\u00e9\n"}`, Request{Type: "SendMessage", Content: "a\"bé\n"}},
		{"white space around", " \t{\"type\" : \"ListRooms\" }\n", Request{Type: "ListRooms"}},
	} {
		got, err := Decode([]byte(tc.frame))
		if err != nil {
			t.Errorf("%s: Decode(%s): got error %v, want none", tc.name, tc.frame, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: Decode(%s): got %+v, want %+v", tc.name, tc.frame, got, tc.want)
		}
	}
}

// TestDecodeErrors: each of these is a bad_request. The request still
// carries what was read (the ref above all, for the reply), and the message
// names the field at fault.
func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, frame, ref, mention string
	}{
		{"not JSON", `{"type":"ListRooms",`, "", "not a JSON object"},
		{"not an object", `[1,2,3]`, "", "not a JSON object"},
		{"a string", `"ListRooms"`, "", "not a JSON object"},
		{"two values", `{"type":"ListRooms"} {}`, "", "more than one JSON value"},
		{"wrong type: content", `{"ref":"w","type":"SendMessage","content":5}`, "w", "field content has the wrong type"},
		{"wrong type: limit", `{"type":"History","limit":"10","ref":"w"}`, "w", "field limit is not a whole number"},
		{"limit not whole", `{"type":"History","limit":1.5}`, "", "field limit is not a whole number"},
		{"limit out of range", `{"type":"History","limit":99999999999999999999}`, "", "field limit is not a whole number"},
		{"duplicate type", `{"type":"Bogus","type":"ListRooms","ref":"d"}`, "d", "field type appears twice"},
		{"duplicate type, escaped", `{"type":"ListRooms","\u0074ype":"Bogus"}`, "", "field type appears twice"},
		{"duplicate content", `{"type":"SendMessage","content":"a","content":"b"}`, "", "field content appears twice"},
		{"duplicate limit", `{"type":"History","limit":1,"limit":2}`, "", "field limit appears twice"},
		{"duplicate null", `{"type":"ListRooms","room":null,"room":"x"}`, "", "field room appears twice"},
		{"duplicate ref keeps the first", `{"ref":"first","ref":"second","type":"ListRooms"}`, "first", "field ref appears twice"},
		{"duplicate unknown key", `{"type":"ListRooms","colour":"red","colour":"blue"}`, "", `field "colour" appears twice`},
		{"duplicate long unknown key", `{"` + strings.Repeat("k", 100) + `":1,"` + strings.Repeat("k", 100) + `":2}`, "", `field "` + strings.Repeat("k", 32) + `…" appears twice`},
	} {
		got, err := Decode([]byte(tc.frame))
		if err == nil {
			t.Errorf("%s: Decode(%s): got %+v and no error, want an error", tc.name, tc.frame, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: Decode(%s): got error %q, want it to mention %q", tc.name, tc.frame, err, tc.mention)
		}
		if got.Ref != tc.ref {
			t.Errorf("%s: Decode(%s): got ref %q, want %q", tc.name, tc.frame, got.Ref, tc.ref)
		}
	}
	// The first of two values stays: nothing read later overrides it.
	if got, _ := Decode([]byte(`{"type":"Bogus","type":"ListRooms"}`)); got.Type != "Bogus" {
		t.Errorf("duplicate type: got Type %q, want the first, %q", got.Type, "Bogus")
	}
}

// knownKeys are Request's JSON keys.
var knownKeys = []string{"type", "ref", "username", "room", "content", "to", "since", "before", "limit", "nonce", "with", "id"}

// FuzzDecode: Decode never panics; a request it accepts is what
// encoding/json reads from the same frame whenever the two rules agree (no
// key is a case variant of a known one, which encoding/json would take for
// it); and a decoded request, encoded by encoding/json, decodes to itself.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"JoinRoom","room":"general","ref":"1"}`,
		`{"type":"SendMessage","content":"hi","ref":"2","nonce":"n"}`,
		`{"type":"PrivateMessage","to":"bob","content":"x"}`,
		`{"type":"History","room":"general","before":"01ARZ3NDEKTSV4RRFFQ69G5FAV","limit":5}`,
		`{"type":"History","with":"bob","limit":5}`, `{"type":"Conversations","ref":"c"}`,
		`{"type":"MarkRead","with":"bob","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV"}`,
		`{"type":"ListRooms","Type":"x","TYPE":"y"}`, `{"type":"Bogus","type":"ListRooms"}`,
		`{"type":"ListRooms","\u0074ype":"x"}`, `{"a":1,"a":2}`, `{"ſince":"x"}`,
		`{"type":1}`, `{"limit":"x"}`, `{"limit":1e3}`, `{"limit":-0}`, `[]`, `{}`, `null`,
		`{"a":{"b":[1,2,{}]}}`, `{"type":"LeaveRoom","room":"general"} {}`, "{\"content\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		req, err := Decode(frame)
		if err != nil {
			return
		}
		if utf8.Valid(frame) && !hasCaseVariant(t, frame) {
			var want Request
			if err := json.Unmarshal(frame, &want); err != nil {
				t.Fatalf("Decode(%q) = %+v, but encoding/json refuses it: %v", frame, req, err)
			}
			if req != want {
				t.Fatalf("Decode(%q): got %+v, want what encoding/json reads, %+v", frame, req, want)
			}
		}
		again, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode(%s) of Decode(%q) re-encoded: %v", again, frame, err)
		}
		if back != req {
			t.Fatalf("round trip of %q through %s: got %+v, want %+v", frame, again, back, req)
		}
	})
}

// hasCaseVariant reports whether a top-level key of frame, a JSON object,
// differs from a known key but matches it the way encoding/json matches
// names (Unicode case folding).
func hasCaseVariant(t *testing.T, frame []byte) bool {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(frame, &fields); err != nil {
		t.Fatalf("Decode accepted %q, which encoding/json does not read as an object: %v", frame, err)
	}
	for k := range fields {
		for _, known := range knownKeys {
			if k != known && strings.EqualFold(k, known) {
				return true
			}
		}
	}
	return false
}
