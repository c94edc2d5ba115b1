package textsearch

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want []Term
		err  error
	}{
		{"hello", []Term{{Word: "hello"}}, nil},
		{"  Hello   WORLD hello ", []Term{{Word: "hello"}, {Word: "world"}}, nil},
		{`deplo* "x"*`, []Term{{Word: "deplo", Prefix: true}, {Word: "x"}}, nil},
		// FTS5 and tsquery syntax is only separators between words.
		{`"unterminated AND (NOT x:* OR y) NEAR(a b) ^col: '`, []Term{{Word: "unterminated"}, {Word: "and"}, {Word: "not"}, {Word: "x"}, {Word: "or"}, {Word: "y"}, {Word: "near"}, {Word: "a"}, {Word: "b"}}, ErrTooMany},
		{`content:secret`, []Term{{Word: "content"}, {Word: "secret"}}, nil},
		{"don't", []Term{{Word: "don"}, {Word: "t"}}, nil},
		{"Café naïve 東京", []Term{{Word: "café"}, {Word: "naïve"}, {Word: "東京"}}, nil},
		{`"" * - ( ) :`, nil, ErrEmpty},
		{"", nil, ErrEmpty},
		{strings.Repeat("a", MaxQueryBytes+1), nil, ErrTooLong},
		{"a\xffb", nil, ErrBadUTF8},
	} {
		got, err := Parse(tc.q)
		if !errors.Is(err, tc.err) {
			t.Errorf("Parse(%q): got error %v, want %v", tc.q, err, tc.err)
			continue
		}
		if err == nil && !slices.Equal(got, tc.want) {
			t.Errorf("Parse(%q): got %+v, want %+v", tc.q, got, tc.want)
		}
	}
}

func TestQueries(t *testing.T) {
	terms := []Term{{Word: "it"}, {Word: `o"k`}, {Word: `it's\`, Prefix: true}}
	if got, _ := FTS5(terms); got != `"it" "o""k" "it's\"*` {
		t.Errorf("FTS5: got %s", got)
	}
	if got, _ := TSQuery(terms); got != `'it' & 'o"k' & 'it''s\\':*` {
		t.Errorf("TSQuery: got %s", got)
	}
	if _, err := FTS5(nil); err == nil {
		t.Error("FTS5(nil): got no error, want one")
	}
}

// highlighted returns the parts of snippet that ranges mark.
func highlighted(snippet string, ranges []Range) []string {
	u := utf16.Encode([]rune(snippet))
	var out []string
	for _, r := range ranges {
		out = append(out, string(utf16.Decode(u[r.Start:r.End])))
	}
	return out
}

func TestSnippet(t *testing.T) {
	terms := []Term{{Word: "deploy", Prefix: true}, {Word: "friday"}}
	snippet, ranges := Snippet("We DEPLOY on 🎉 Friday; deployment is fridays", terms)
	if snippet != "We DEPLOY on 🎉 Friday; deployment is fridays" {
		t.Errorf("short message: got snippet %q, want all of it", snippet)
	}
	if got, want := highlighted(snippet, ranges), []string{"DEPLOY", "Friday", "deployment"}; !slices.Equal(got, want) {
		t.Errorf("highlights: got %q, want %q", got, want)
	}

	long := strings.Repeat("filler words here ", 30) + "the needle is here " + strings.Repeat("more text after ", 30)
	snippet, ranges = Snippet(long, []Term{{Word: "needle"}})
	if !strings.HasPrefix(snippet, "…") || !strings.HasSuffix(snippet, "…") {
		t.Errorf("long message: got %q, want ellipses at both ends", snippet)
	}
	if n := len([]rune(snippet)); n > SnippetRunes+2 {
		t.Errorf("long message: got %d characters, want at most %d", n, SnippetRunes+2)
	}
	if got := highlighted(snippet, ranges); !slices.Equal(got, []string{"needle"}) {
		t.Errorf("long message highlights: got %q, want [needle]", got)
	}
	if strings.HasPrefix(snippet, "…ords") || strings.HasPrefix(snippet, "…ere") {
		t.Errorf("long message: got %q, want it to start at a word", snippet)
	}

	// No match in the text (a diacritic SQLite folded): the start, no range.
	snippet, ranges = Snippet(long, []Term{{Word: "absent"}})
	if !strings.HasPrefix(snippet, "filler") || len(ranges) != 0 {
		t.Errorf("no match: got %q, %v, want the start and no range", snippet, ranges)
	}
}

// Whatever the content and query, the ranges lie within the snippet, in
// order, and each marks a word that matches a term.
func FuzzSnippet(f *testing.F) {
	f.Add("We deploy on Friday 🎉 and DEPLOY again", "deploy* friday")
	f.Add(strings.Repeat("x ", 200)+"needle", "needle")
	f.Fuzz(func(t *testing.T, content, query string) {
		terms, err := Parse(query)
		if err != nil {
			return
		}
		if _, err := FTS5(terms); err != nil {
			t.Fatalf("FTS5 of parsed terms: %v", err)
		}
		snippet, ranges := Snippet(content, terms)
		n := len(utf16.Encode([]rune(snippet)))
		last := 0
		for _, r := range ranges {
			if r.Start < last || r.End <= r.Start || r.End > n {
				t.Fatalf("range %+v out of order or bounds (snippet of %d units, last end %d)", r, n, last)
			}
			last = r.End
		}
		for _, h := range highlighted(snippet, ranges) {
			if len(matchSpans(h, terms)) != 1 {
				t.Fatalf("highlight %q matches no term of %+v", h, terms)
			}
		}
	})
}
