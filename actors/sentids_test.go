package actors

import (
	"fmt"
	"testing"
)

// A guest connection remembers its last sentMax ids, the older ones
// forgotten in order.
func TestSentIDsKeepTheLast(t *testing.T) {
	var ids sentIDs
	const n = sentMax + 88
	for i := range n {
		ids.add(fmt.Sprint(i))
	}
	for i := range n {
		if got, want := ids.has(fmt.Sprint(i)), i >= n-sentMax; got != want {
			t.Fatalf("id %d of %d: got remembered %t, want %t", i, n, got, want)
		}
	}
	if got := len(ids.vals); got != sentMax {
		t.Errorf("ids remembered: got %d, want %d", got, sentMax)
	}
}
