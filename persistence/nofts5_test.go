//go:build !sqlite_fts5 && !fts5

package persistence

import (
	"errors"
	"testing"
)

// Built without FTS5, Open refuses every database, saying how to build:
// this run's other tests fail with it too, rather than pass without search.
func TestOpenWithoutFTS5(t *testing.T) {
	_, err := Open(testCtx(t), tempDB(t), Options{Logger: quietLogger()})
	if !errors.Is(err, errNoFTS5) {
		t.Fatalf("Open without FTS5: got %v, want %v", err, errNoFTS5)
	}
}
