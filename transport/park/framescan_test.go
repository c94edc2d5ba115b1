package park

import (
	"math/rand/v2"
	"testing"

	"parley/internal/wsframe"
)

// clientFrame builds one masked client frame.
var clientFrame = wsframe.Client

// TestFrameScanBoundaries feeds a stream of messages, fragmented messages and
// control frames in pieces of every size, and checks after every byte that
// the scan is at a boundary exactly where a new message may begin.
func TestFrameScanBoundaries(t *testing.T) {
	type part struct {
		frame    []byte
		boundary bool // a message may begin right after this frame
	}
	big := make([]byte, 70000) // a 64-bit length
	parts := []part{
		{clientFrame(true, 1, []byte(`{"type":"ListRooms"}`)), true},
		{clientFrame(true, 1, nil), true},                                      // empty message
		{clientFrame(false, 1, []byte("first ")), false},                       // a message begins
		{clientFrame(true, 9, []byte("ping")), false},                          // a ping between its fragments
		{clientFrame(false, 0, make([]byte, 300)), false},                      // 16-bit length
		{clientFrame(true, 0, []byte("last")), true},                           // the message ends
		{clientFrame(true, 10, []byte("pong")), true},                          // a pong between messages
		{clientFrame(true, 2, big), true},                                      // binary, 64-bit length
		{clientFrame(true, 8, []byte{0x03, 0xe8}), true},                       // close
		{clientFrame(true, 1, make([]byte, 125)), true},                        // longest 7-bit length
		{clientFrame(true, 1, make([]byte, 126)), true},                        // shortest 16-bit length
		{clientFrame(false, 2, nil), false}, {clientFrame(true, 0, nil), true}, // empty fragments
	}
	var stream []byte
	want := map[int]bool{0: true} // offset -> at a boundary there
	for _, p := range parts {
		for i := 1; i < len(p.frame); i++ {
			want[len(stream)+i] = false
		}
		stream = append(stream, p.frame...)
		want[len(stream)] = p.boundary
	}
	for _, piece := range []int{1, 2, 3, 7, 13, 512, len(stream)} {
		var s frameScan
		for off := 0; off < len(stream); {
			n := min(piece, len(stream)-off)
			s.feed(stream[off : off+n])
			off += n
			if got := s.atBoundary(); got != want[off] {
				t.Fatalf("pieces of %d: at offset %d: got atBoundary %v, want %v", piece, off, got, want[off])
			}
		}
	}
	// Random splits.
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var s frameScan
		for off := 0; off < len(stream); {
			n := min(1+r.IntN(40), len(stream)-off)
			s.feed(stream[off : off+n])
			off += n
			if got := s.atBoundary(); got != want[off] {
				t.Fatalf("random pieces: at offset %d: got atBoundary %v, want %v", off, got, want[off])
			}
		}
	}
}

// FuzzFrameScan: any bytes at all, fed in any pieces, never panic and end
// in the same state as when fed at once: where the reads happen to split the
// stream must not matter.
func FuzzFrameScan(f *testing.F) {
	f.Add(clientFrame(true, 1, []byte("hello")), uint8(3))
	f.Add(append(clientFrame(false, 1, []byte("a")), clientFrame(true, 9, nil)...), uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, piece uint8) {
		p := int(piece%32) + 1
		var whole, pieces frameScan
		whole.feed(b)
		for off := 0; off < len(b); off += p {
			pieces.feed(b[off:min(off+p, len(b))])
		}
		if pieces != whole {
			t.Fatalf("fed in pieces of %d: got %+v, want %+v (fed at once)", p, pieces, whole)
		}
	})
}
