// Package textsearch turns what a user typed into a Search into terms,
// and each store's full-text query from the terms, and cuts the snippet a
// result shows with the ranges where the terms matched.
//
// The user's text never reaches a full-text engine as syntax: it is split
// into words here, the way SQLite's unicode61 tokenizer splits (runs of
// letters, digits and marks), and each word is quoted by FTS5 and
// TSQuery. So no input can be a syntax error, an operator (AND, NEAR,
// column filters, ^) or a query that costs more than its words: "bad FTS
// syntax" cannot happen, and a query with no word at all is refused by
// Parse.
//
// Both stores' answers get the same snippet (Snippet), built from the
// content in Go rather than by FTS5's snippet() or ts_headline(): plain
// text and ranges, never markup, so a client puts user text in the page
// only as text.
package textsearch

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Term is one word of a query, lower-cased. Prefix matches every word that
// starts with it (the user wrote "word*").
type Term struct {
	Word   string
	Prefix bool
}

// Limits of a query.
const (
	// MaxQueryBytes bounds the text of a query.
	MaxQueryBytes = 256
	// MaxTerms bounds its words: each is one more index lookup.
	MaxTerms = 8
	// minPrefix is the shortest word that may be a prefix: "a*" would
	// match most of the index.
	minPrefix = 2
)

// Errors of Parse, worded for the user.
var (
	ErrEmpty    = errors.New("the query has no word to search for")
	ErrTooLong  = errors.New("the query is longer than 256 bytes")
	ErrTooMany  = errors.New("the query has more than 8 words")
	ErrBadUTF8  = errors.New("the query is not valid UTF-8")
	errInternal = errors.New("no terms")
)

// wordRune reports whether r belongs to a word: what unicode61 keeps in
// a token (letters, numbers, and the marks it folds away).
func wordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsMark(r)
}

// Parse splits q into its words, lower-cased, in order, without
// duplicates. A word directly followed by '*' is a prefix (if it has at
// least two letters; otherwise the '*' is ignored). Everything that is
// not a word is a separator: quotes, operators and parentheses are text,
// not syntax.
func Parse(q string) ([]Term, error) {
	if len(q) > MaxQueryBytes {
		return nil, ErrTooLong
	}
	if !utf8.ValidString(q) {
		return nil, ErrBadUTF8
	}
	var terms []Term
	for i := 0; i < len(q); {
		r, n := utf8.DecodeRuneInString(q[i:])
		if !wordRune(r) {
			i += n
			continue
		}
		start := i
		for i < len(q) {
			r, n := utf8.DecodeRuneInString(q[i:])
			if !wordRune(r) {
				break
			}
			i += n
		}
		t := Term{Word: strings.ToLower(q[start:i])}
		if i < len(q) && q[i] == '*' && utf8.RuneCountInString(t.Word) >= minPrefix {
			t.Prefix = true
		}
		if !contains(terms, t) {
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		return nil, ErrEmpty
	}
	if len(terms) > MaxTerms {
		return nil, ErrTooMany
	}
	return terms, nil
}

func contains(terms []Term, t Term) bool {
	for _, o := range terms {
		if o == t {
			return true
		}
	}
	return false
}

// FTS5 is the terms as an FTS5 MATCH expression: every term, each a
// quoted string ("" doubled inside, though a word holds none), a prefix
// one followed by *. Implicit AND.
func FTS5(terms []Term) (string, error) {
	if len(terms) == 0 {
		return "", errInternal
	}
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(t.Word, `"`, `""`))
		b.WriteByte('"')
		if t.Prefix {
			b.WriteByte('*')
		}
	}
	return b.String(), nil
}

// TSQuery is the terms as a PostgreSQL to_tsquery expression: every term,
// each a quoted lexeme (a single quote doubled, a backslash escaped), a
// prefix one with :*, joined by &.
func TSQuery(terms []Term) (string, error) {
	if len(terms) == 0 {
		return "", errInternal
	}
	var b strings.Builder
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" & ")
		}
		b.WriteByte('\'')
		w := strings.ReplaceAll(t.Word, `\`, `\\`)
		b.WriteString(strings.ReplaceAll(w, `'`, `''`))
		b.WriteByte('\'')
		if t.Prefix {
			b.WriteString(":*")
		}
	}
	return b.String(), nil
}
