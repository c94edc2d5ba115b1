package protocol

import (
	"fmt"
	"time"
)

// TimestampLayout is how the wire and the database carry a time: RFC 3339 in
// UTC with exactly three fraction digits, e.g. 2024-01-01T12:00:00.123Z. The
// fixed width and the literal Z (never an offset) make the strings sort in
// time order, which the README's query of the database,
// "SELECT * FROM messages ORDER BY timestamp DESC", relies on.
const TimestampLayout = "2006-01-02T15:04:05.000Z"

// FormatTimestamp renders t in TimestampLayout. Fraction digits beyond
// milliseconds are truncated, not rounded, so a rendered time never lies in
// the future of t.
func FormatTimestamp(t time.Time) string { return t.UTC().Format(TimestampLayout) }

// appendTimestamp appends FormatTimestamp(t) without allocating.
func appendTimestamp(b []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(b, TimestampLayout)
}

// ParseTimestamp reads a time in TimestampLayout; the result is in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	t, err := time.ParseInLocation(TimestampLayout, s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse timestamp %q: %w", s, err)
	}
	return t, nil
}
