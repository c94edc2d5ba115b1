package transport_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/actors"
)

// TestShutdownBudgetWithSilentClient: main gives the whole shutdown 5 s
// (-shutdown-timeout) for the transport, the hub and the store in turn. One
// client that answers no close handshake (it stopped reading, or is dead and
// not yet detected) must not eat the budget: the responsive clients see 1001
// at once, and the hub still gets to drain its rooms within the budget.
func TestShutdownBudgetWithSilentClient(t *testing.T) {
	t.Parallel()
	const budget = 5 * time.Second // main's default -shutdown-timeout
	s := startServer(t, serverConfig{hub: actors.Config{Limits: noRateLimit}})
	silent := s.dial()
	silent.join("general") // and never reads again
	a := s.dial()
	a.join("general")
	for i := range 20 {
		a.send(map[string]any{"type": "SendMessage", "content": fmt.Sprint(i), "ref": fmt.Sprint(i)})
	}
	closed := make(chan websocket.StatusCode, 1)
	go func() { // reads a until its connection ends
		code, _ := closeErr(context.Background(), a.c)
		closed <- code
	}()

	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	start := time.Now()
	err := s.srv.Shutdown(ctx) // the cleanup's stop then does nothing more
	took := time.Since(start)
	select {
	case code := <-closed:
		if code != websocket.StatusGoingAway {
			t.Errorf("responsive client: got close %v, want %v", code, websocket.StatusGoingAway)
		}
	case <-time.After(waitLimit):
		t.Errorf("responsive client: not closed")
	}
	if err != nil {
		t.Errorf("shutdown: %v (after %v): the budget went on a close handshake the silent client never answers, and the rooms were not drained",
			err, took.Round(time.Millisecond))
	}
}
