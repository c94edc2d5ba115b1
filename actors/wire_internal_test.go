package actors

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAppendJSONString checks the hand-written encoder against
// encoding/json: it always yields a valid JSON string that decodes to what
// encoding/json's encoding decodes to (the input, with invalid UTF-8 as
// U+FFFD), with no raw control character and no raw <, >, & or line
// separator, so the bytes are safe anywhere.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "hi", `"quoted" \ back`, "<script>&</script>", "line\nbreak\t\r", "\x00\x1f\x7f", "\u2028\u2029", "é✓😀", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		var back, want string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%s does not decode: %v", got, err)
		}
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if back != want {
			t.Fatalf("appendJSONString(%q) decodes to %q, want %q", s, back, want)
		}
		for _, r := range string(got) {
			if r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' {
				t.Fatalf("appendJSONString(%q) = %s holds a raw %q", s, got, r)
			}
		}
		if utf8.ValidString(s) && back != s {
			t.Fatalf("round trip: got %q, want %q", back, s)
		}
	})
}

// The Message frame is encoded by hand; it must decode to the fields it was
// built from.
func TestEncodeMessageRoundTrip(t *testing.T) {
	m := &StoredMessage{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Room: "general", Username: "alice",
		Content: "hi <b>\"there\"</b>\n", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC), Nonce: "n-1"}
	var got map[string]string
	if err := json.Unmarshal(encodeMessage(m), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"type": "Message", "id": m.ID, "room": "general", "username": "alice",
		"content": m.Content, "timestamp": "2026-01-02T03:04:05.006Z", "nonce": "n-1"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

// BenchmarkEncodeMessage is the per-message encoding cost, paid once per
// broadcast whatever the room's size; encoding/json is the comparison.
func BenchmarkEncodeMessage(b *testing.B) {
	m := &StoredMessage{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Room: "general", Username: "alice",
		Content: "Morning all! Standup in ten minutes, I'll share the board <here> & there.", Timestamp: time.Now()}
	b.Run("hand", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = encodeMessage(m)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		type wire struct {
			Type, ID, Room, Username, Content, Timestamp string
		}
		b.ReportAllocs()
		for range b.N {
			_, _ = json.Marshal(wire{"Message", m.ID, m.Room, m.Username, m.Content, FormatTimestamp(m.Timestamp)})
		}
	})
}
