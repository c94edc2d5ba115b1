package actors

import (
	"slices"
	"strings"
	"testing"
)

// @name starts the content or follows a character no name has; a trailing
// - or _ is punctuation; each name once (by skeleton); at most MentionsMax.
func TestMentionTokens(t *testing.T) {
	for _, tc := range []struct {
		content string
		want    []string
	}{
		{"no at sign", nil},
		{"@bob", []string{"bob"}},
		{"hi @bob, @Alice! (@carol) @dave-", []string{"bob", "Alice", "carol", "dave"}},
		{"mail@bob.example @@bob x@y", nil},
		{"@bob @BOB @b0b @bob", []string{"bob"}}, // one skeleton
		{"@ @- @_ email@", nil},
		{"@" + strings.Repeat("a", 33) + " @ok", []string{"ok"}}, // too long for a name
		{"@a-b_c", []string{"a-b_c"}},
	} {
		if got := mentionTokens(tc.content, 32); !slices.Equal(got, tc.want) {
			t.Errorf("mentionTokens(%q): got %q, want %q", tc.content, got, tc.want)
		}
	}
	var many []string
	for i := range MentionsMax + 5 {
		many = append(many, "@u"+strings.Repeat("x", i))
	}
	if got := mentionTokens(strings.Join(many, " "), 32); len(got) != MentionsMax {
		t.Errorf("mentionTokens of %d names: got %d, want %d", len(many), len(got), MentionsMax)
	}
}
