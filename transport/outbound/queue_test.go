package outbound

import (
	"testing"

	"parley/actors"
	"parley/internal/protocol"
)

// SendAll queues its frames in order with one start and one wake of the
// writer, and takes all of them or, past a bound, none.
func TestQueueSendAllIsOnePush(t *testing.T) {
	o := New(actors.OutboxLimits{Frames: 4, Bytes: 1 << 10})
	starts := 0
	o.attach(func() { starts++ })
	wakes := func() int {
		n := 0
		for {
			select {
			case <-o.Wake():
				n++
			default:
				return n
			}
		}
	}

	if v := o.SendAll([][]byte{[]byte("a"), []byte("b"), []byte("c")}); v != actors.Queued {
		t.Fatalf("SendAll: got %v, want Queued", v)
	}
	if starts != 1 {
		t.Errorf("writer starts: got %d, want 1", starts)
	}
	if got := wakes(); got != 1 {
		t.Errorf("wakes: got %d, want 1", got)
	}
	if got := o.Take(nil); len(got) != 3 || string(got[0]) != "a" || string(got[2]) != "c" {
		t.Errorf("Take: got %q, want [a b c] in order", got)
	}

	// Bounds: with one frame queued, four more do not fit in four: none
	// of them is queued, and the queue closes as for a slow consumer.
	o.Send([]byte("d"))
	if v := o.SendAll([][]byte{[]byte("e"), []byte("f"), []byte("g"), []byte("h")}); v != actors.Overflow {
		t.Fatalf("SendAll past the bound: got %v, want Overflow", v)
	}
	if got, _ := o.Len(); got != 1 {
		t.Errorf("queued after the refused SendAll: got %d frames, want 1", got)
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
