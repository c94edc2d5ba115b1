package protocol

import (
	"slices"
	"testing"
	"time"
)

// The wire's layout was "…05.000Z07:00" and the database's "…05.000Z"; both
// render a UTC time the same way, so the one layout left changes neither the
// frames nor the rows. This pins it.
func TestTimestampFormatUnchanged(t *testing.T) {
	const oldWire = "2006-01-02T15:04:05.000Z07:00"
	east := time.FixedZone("east", 5*3600+30*60)
	times := []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2026, 6, 30, 23, 0, 0, 1, east),
		time.Unix(0, 0),
		time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC),
	}
	for d := time.Duration(1); d < 400*24*time.Hour; d = d*3 + 7 {
		times = append(times, time.Date(2025, 3, 30, 0, 59, 0, 0, time.UTC).Add(d))
	}
	for _, ts := range times {
		want := ts.UTC().Format(oldWire)
		if got := FormatTimestamp(ts); got != want {
			t.Errorf("FormatTimestamp(%v): got %q, want %q", ts, got, want)
		}
		if got := string(appendTimestamp([]byte("x"), ts)); got != "x"+want {
			t.Errorf("appendTimestamp(%v): got %q, want %q", ts, got, "x"+want)
		}
	}
}

// A stored timestamp parses back to the millisecond it was written at, in
// UTC, and the strings sort in time order.
func TestTimestampParseAndOrder(t *testing.T) {
	got, err := ParseTimestamp("2026-01-02T03:04:05.678Z")
	if want := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC); err != nil || !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("ParseTimestamp: got %v, %v, want %v in UTC", got, err, want)
	}
	for _, bad := range []string{"2026-01-02T03:04:05.678+01:00", "2026-01-02T03:04:05Z", "2026-01-02 03:04:05.678Z", ""} {
		if _, err := ParseTimestamp(bad); err == nil {
			t.Errorf("ParseTimestamp(%q): got no error, want one", bad)
		}
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var strs []string
	for _, d := range []time.Duration{0, time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond, time.Second, 9 * time.Second, 10 * time.Second, time.Hour, 24 * time.Hour, 365 * 24 * time.Hour} {
		ts := base.Add(d)
		s := FormatTimestamp(ts)
		if back, err := ParseTimestamp(s); err != nil || !back.Equal(ts) {
			t.Errorf("ParseTimestamp(FormatTimestamp(%v)): got %v, %v", ts, back, err)
		}
		strs = append(strs, s)
	}
	if !slices.IsSorted(strs) {
		t.Errorf("timestamps in time order: got %q, not sorted as strings", strs)
	}
}

// FormatTimestamp truncates below the millisecond: a stored time is never
// later than the time it stands for.
func TestTimestampTruncates(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 999_999_999, time.UTC)
	if got, want := FormatTimestamp(ts), "2026-01-02T03:04:05.999Z"; got != want {
		t.Errorf("FormatTimestamp(%v): got %q, want %q", ts, got, want)
	}
}
