package outbound

import (
	"testing"

	"parley/actors"
	"parley/internal/protocol"
)

// A deferred frame neither starts nor wakes a writer; Flush, or the next
// Send, does both, once; and the bounds hold for deferred frames too.
func TestQueueDeferredFramesWaitForFlushOrSend(t *testing.T) {
	o := New(actors.OutboxLimits{Frames: 3, Bytes: 1 << 10})
	starts := 0
	o.attach(func() { starts++ })
	woken := func() bool {
		select {
		case <-o.Wake():
			return true
		default:
			return false
		}
	}
	check := func(step string, wantStarts int, wantWoken bool, wantQueued int) {
		t.Helper()
		if starts != wantStarts {
			t.Errorf("%s: got %d writer starts, want %d", step, starts, wantStarts)
		}
		if got := woken(); got != wantWoken {
			t.Errorf("%s: got woken %v, want %v", step, got, wantWoken)
		}
		if got, _ := o.Len(); got != wantQueued {
			t.Errorf("%s: got %d frames queued, want %d", step, got, wantQueued)
		}
	}

	if v := o.SendDeferred([]byte("a")); v != actors.Queued {
		t.Fatalf("SendDeferred: got %v, want Queued", v)
	}
	check("after SendDeferred", 0, false, 1)
	o.Flush()
	check("after Flush", 1, true, 1)
	o.Flush()
	check("after a second Flush", 1, false, 1)

	// The writer drains and parks; then a deferred frame and a Send.
	_ = o.Take(nil)
	if !o.park() {
		t.Fatal("Park with nothing queued: got false, want true")
	}
	o.SendDeferred([]byte("b"))
	check("after SendDeferred into a parked queue", 1, false, 1)
	o.Send([]byte("c"))
	check("after Send", 2, true, 2)
	if got := o.Take(nil); len(got) != 2 || string(got[0]) != "b" || string(got[1]) != "c" {
		t.Errorf("Take: got %q, want [b c] in order", got)
	}

	// Bounds: the fourth frame overflows, deferred or not.
	for _, f := range []string{"d", "e", "f"} {
		if v := o.SendDeferred([]byte(f)); v != actors.Queued {
			t.Fatalf("SendDeferred(%s): got %v, want Queued", f, v)
		}
	}
	if v := o.SendDeferred([]byte("g")); v != actors.Overflow {
		t.Fatalf("SendDeferred past the bound: got %v, want Overflow", v)
	}
	select {
	case <-o.Done():
	default:
		t.Fatal("after an overflow: queue not closed")
	}
	if code, _ := o.CloseStatus(); code != protocol.ClosePolicy {
		t.Errorf("close code: got %v, want %v", code, protocol.ClosePolicy)
	}
}
