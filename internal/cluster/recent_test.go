package cluster

import (
	"fmt"
	"slices"
	"testing"

	"parley/actors"
)

func ids(msgs []actors.StoredMessage) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// recent answers for what it was given after its base, says where its
// knowledge starts and ends, and forgets what the floor passed.
func TestRecent(t *testing.T) {
	r := newRecent(10)
	for pos := uint64(11); pos <= 20; pos++ {
		room := "a"
		if pos%2 == 0 {
			room = "b"
		}
		r.add(pos, &actors.StoredMessage{ID: fmt.Sprint(pos), Room: room})
	}
	type want struct {
		ids          []string
		first, known uint64
	}
	for _, tc := range []struct {
		room     string
		from, hi uint64
		want     want
	}{
		{"a", 1, 30, want{[]string{"11", "13", "15", "17", "19"}, 11, 20}}, // 1..10: before its base
		{"a", 14, 18, want{[]string{"15", "17"}, 14, 20}},
		{"b", 19, 25, want{[]string{"20"}, 19, 20}},
		{"c", 12, 30, want{nil, 12, 20}}, // a room with no message since the base: none, known through 20
	} {
		msgs, first, known := r.get(tc.room, tc.from, tc.hi)
		if got := (want{ids(msgs), first, known}); !slices.Equal(got.ids, tc.want.ids) || got.first != tc.want.first || got.known != tc.want.known {
			t.Errorf("get(%s, %d, %d): got %v, want %v", tc.room, tc.from, tc.hi, got, tc.want)
		}
	}
	r.prune(15)
	if msgs, first, _ := r.get("a", 1, 30); !slices.Equal(ids(msgs), []string{"17", "19"}) || first != 16 {
		t.Errorf("after prune(15): got %v from %d, want [17 19] from 16", ids(msgs), first)
	}
	// Past its bound a room drops its oldest, and answers from after them.
	for pos := uint64(21); pos <= 21+recentPerRoom; pos++ {
		r.add(pos, &actors.StoredMessage{ID: fmt.Sprint(pos), Room: "a"})
	}
	msgs, first, _ := r.get("a", 1, 1<<40)
	if len(msgs) != recentPerRoom || fmt.Sprint(first) != msgs[0].ID {
		t.Errorf("past the bound: got %d messages from %d (first %s), want %d from the first kept", len(msgs), first, msgs[0].ID, recentPerRoom)
	}
}
