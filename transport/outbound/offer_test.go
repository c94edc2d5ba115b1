package outbound

import (
	"testing"

	"parley/actors"
)

// Offer queues (and wakes the writer) while the queue is under half its
// bounds, in frames and in bytes; past that it drops the frame, and the
// queue stays open: Send still works.
func TestOfferDropsPastHalfAndNeverOverflows(t *testing.T) {
	o := New(actors.OutboxLimits{Frames: 4, Bytes: 100})
	starts := 0
	o.attach(func() { starts++ })
	if !o.Offer([]byte("one")) || starts != 1 {
		t.Fatalf("Offer into an empty queue: got queued=false or %d starts, want queued and 1 start", starts)
	}
	select {
	case <-o.Wake():
	default:
		t.Errorf("Offer into an empty queue woke no writer")
	}
	if !o.Offer([]byte("two")) {
		t.Errorf("second Offer (2 of 4 frames): got dropped, want queued")
	}
	if o.Offer([]byte("three")) {
		t.Errorf("third Offer (3 of 4 frames): got queued, want dropped")
	}
	if v := o.Send([]byte("sent")); v != actors.Queued {
		t.Errorf("Send after a dropped Offer: got %v, want Queued", v)
	}
	o.Take(nil)
	if o.Offer(make([]byte, 51)) {
		t.Errorf("Offer of 51 of 100 bytes: got queued, want dropped")
	}
	if !o.Offer(make([]byte, 50)) {
		t.Errorf("Offer of 50 of 100 bytes: got dropped, want queued")
	}
	o.Close(1000, "")
	if o.Offer([]byte("late")) {
		t.Errorf("Offer after Close: got queued, want dropped")
	}
}
