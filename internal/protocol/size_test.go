package protocol

import (
	"strings"
	"testing"
)

// TestMaxRequestBytes pins the frame limit the default limits give (the
// figure the docs quote) and checks that it grows with every limit it is
// computed from, and that a request at that bound decodes.
func TestMaxRequestBytes(t *testing.T) {
	def := FieldLimits{Content: 4000, Username: 32, Room: 64, Ref: 64}
	if got := MaxRequestBytes(def); got != 51200 {
		t.Errorf("default limits: got %d, want 51200", got)
	}
	for _, more := range []FieldLimits{
		{Content: 5000, Username: 32, Room: 64, Ref: 64},
		{Content: 4000, Username: 200, Room: 64, Ref: 64},
		{Content: 4000, Username: 32, Room: 300, Ref: 64},
		{Content: 4000, Username: 32, Room: 64, Ref: 300},
	} {
		if MaxRequestBytes(more) <= MaxRequestBytes(def) {
			t.Errorf("%+v: got %d, want more than %d", more, MaxRequestBytes(more), MaxRequestBytes(def))
		}
	}
	// Every character of a message as a surrogate-pair escape.
	content := strings.Repeat(`\ud83d\ude00`, def.Content)
	frame := `{"type":"SendMessage","room":"general","content":"` + content + `"}`
	req, err := Decode([]byte(frame))
	if err != nil || len([]rune(req.Content)) != def.Content {
		t.Fatalf("decode: got %d characters, %v; want %d", len([]rune(req.Content)), err, def.Content)
	}
	if int64(len(frame)) > MaxRequestBytes(def) {
		t.Errorf("a message of %d escaped emoji is %d bytes, over %d", def.Content, len(frame), MaxRequestBytes(def))
	}
}
