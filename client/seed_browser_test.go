package client_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"parley/actors"
	"parley/persistence"
)

// seedRoom writes a SQLite database holding room with one message by user
// per time, with contents, through the real store, and returns its path
// (for startServer) and the messages' ids.
func seedRoom(t *testing.T, room, user string, times []time.Time, contents []string) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.db")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	st, err := persistence.Open(ctx, path, persistence.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	if err := st.CreateRoom(ctx, room, times[0].Add(-time.Minute)); err != nil {
		t.Fatalf("create %s: %v", room, err)
	}
	ids := make([]string, len(times))
	done := make(chan error, len(times))
	for i, at := range times {
		ids[i] = ulid.MustNew(ulid.Timestamp(at), ulid.DefaultEntropy()).String()
		m := &actors.StoredMessage{ID: ids[i], Room: room, Username: user, Content: contents[i], Timestamp: at.UTC().Truncate(time.Millisecond)}
		if !st.Append(m, func(err error) { done <- err }) {
			t.Fatalf("append %d refused", i)
		}
	}
	for range times {
		if err := <-done; err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return path, ids
}
