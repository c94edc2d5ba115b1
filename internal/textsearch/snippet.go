package textsearch

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// SnippetRunes is the most characters of a message a snippet shows, the
// ellipses aside.
const SnippetRunes = 160

// ellipsis marks where a snippet cut the message.
const ellipsis = "…"

// Range is a highlighted part of a snippet: [Start, End) in UTF-16 code
// units, as JavaScript's String.prototype.slice counts (an astral
// character is two).
type Range struct{ Start, End int }

// Snippet returns the part of content a result shows: all of it if it has
// at most SnippetRunes characters, otherwise SnippetRunes of them from a
// little before the first word that matched, with an ellipsis where it
// was cut; and the ranges of the words in it that match a term (a word
// matches a term equal to it, case-insensitively, or a prefix term it
// starts with). Plain text: the caller must not read it as markup.
func Snippet(content string, terms []Term) (string, []Range) {
	matches := matchSpans(content, terms)
	start, end := 0, len(content)
	if utf8.RuneCountInString(content) > SnippetRunes {
		from := 0
		if len(matches) > 0 {
			from = matches[0][0]
		}
		start = wordStartBefore(content, from, SnippetRunes/4)
		end = advanceRunes(content, start, SnippetRunes)
	}
	var b strings.Builder
	if start > 0 {
		b.WriteString(ellipsis)
	}
	base := b.Len() // bytes of the snippet before content[start]
	b.WriteString(content[start:end])
	if end < len(content) {
		b.WriteString(ellipsis)
	}
	snippet := b.String()
	var ranges []Range
	for _, m := range matches {
		if m[0] < start || m[1] > end {
			continue // outside the window, or cut by it
		}
		s := utf16Len(snippet[:base+m[0]-start])
		ranges = append(ranges, Range{Start: s, End: s + utf16Len(content[m[0]:m[1]])})
	}
	return snippet, ranges
}

// matchSpans returns the byte spans of content's words that match a term,
// in order.
func matchSpans(content string, terms []Term) [][2]int {
	var spans [][2]int
	for i := 0; i < len(content); {
		r, n := utf8.DecodeRuneInString(content[i:])
		if !wordRune(r) {
			i += n
			continue
		}
		start := i
		for i < len(content) {
			r, n := utf8.DecodeRuneInString(content[i:])
			if !wordRune(r) {
				break
			}
			i += n
		}
		w := strings.ToLower(content[start:i])
		for _, t := range terms {
			if w == t.Word || (t.Prefix && strings.HasPrefix(w, t.Word)) {
				spans = append(spans, [2]int{start, i})
				break
			}
		}
	}
	return spans
}

// wordStartBefore returns the byte offset at most back characters before
// at, moved forward to the start of a word if that cut one (unless that
// would pass at).
func wordStartBefore(s string, at, back int) int {
	i := at
	for n := 0; n < back && i > 0; n++ {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	if i == 0 {
		return 0
	}
	// Skip the rest of a word cut in two, then the separators after it.
	j := i
	for j < at {
		r, size := utf8.DecodeRuneInString(s[j:])
		if !wordRune(r) {
			break
		}
		j += size
	}
	for j < at {
		r, size := utf8.DecodeRuneInString(s[j:])
		if wordRune(r) {
			break
		}
		j += size
	}
	return j
}

// advanceRunes returns the byte offset n characters after from, or the
// end of s.
func advanceRunes(s string, from, n int) int {
	i := from
	for ; n > 0 && i < len(s); n-- {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}

// utf16Len is the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}
