package actors

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// memberList against a list sorted afresh after every change; and a list
// handed out never changes afterwards.
func TestMemberListStaysSortedAndHandedOutListsStay(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		l       memberList
		want    []string
		handed  [][]string // lists handed out by l
		copies  [][]string // what each was when handed out
		present = map[string]bool{}
	)
	for i := range 5000 {
		name := fmt.Sprintf("user%03d", rng.IntN(300))
		switch op := rng.IntN(4); {
		case op < 2 && !present[name]:
			l.add(name)
			want = append(want, name)
			slices.Sort(want)
			present[name] = true
		case op == 2 && present[name]:
			l.remove(name)
			want = slices.DeleteFunc(want, func(n string) bool { return n == name })
			delete(present, name)
		case op == 3:
			got := l.list()
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: got %v, want %v", i, got, want)
			}
			handed, copies = append(handed, got), append(copies, slices.Clone(got))
		}
	}
	if got := l.list(); !slices.Equal(got, want) {
		t.Fatalf("at the end: got %v, want %v", got, want)
	}
	for i := range handed {
		if !slices.Equal(handed[i], copies[i]) {
			t.Fatalf("list %d changed after it was handed out: got %v, want %v", i, handed[i], copies[i])
		}
	}
	l.remove("nobody") // not there: nothing happens
	if got := l.list(); !slices.Equal(got, want) {
		t.Fatalf("after removing a name not there: got %v, want %v", got, want)
	}
}
