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

// TestFrameScanRefuses: what the scan refuses for coder/websocket, and the
// byte that shows it, whether the stream comes at once or a byte at a time;
// and what it lets through.
func TestFrameScanRefuses(t *testing.T) {
	key := wsframe.Key
	header := func(b0, b1 byte, ext ...byte) []byte { return append([]byte{b0, b1}, ext...) }
	maxLen := []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} // 2^63-1
	closeFrame := func(payload ...byte) []byte { return clientFrame(true, wsframe.OpClose, payload) }
	first := clientFrame(false, wsframe.OpText, make([]byte, 60))
	ping := clientFrame(true, wsframe.OpPing, make([]byte, 100))
	cases := []struct {
		name   string
		limit  uint64
		stream []byte
		want   error // nil: nothing refused
		at     int   // the byte that shows it
	}{
		{"unmasked", 0, append(header(0x81, 0x05), "hello"...), errUnmasked, 1},
		{"unmasked close", 0, header(0x88, 0x00), errUnmasked, 1},
		{"top bit of a 64-bit length", 0, header(0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1), errLengthBit, 2},
		{"2^63-1 bytes", 1000, append(header(0x82, 0xff, maxLen...), key[:]...), ErrTooBig, 9},
		{"2^63-1 bytes, no limit", 0, append(header(0x82, 0xff, maxLen...), key[:]...), nil, 0},
		{"16-bit length one over", 100, header(0x81, 0xfe, 0x00, 101), ErrTooBig, 3},
		{"7-bit length one over", 100, header(0x81, 0x80|101), ErrTooBig, 1},
		{"exactly the limit", 100, clientFrame(true, wsframe.OpText, make([]byte, 100)), nil, 0},
		{"fragments over", 100, append(append([]byte{}, first...), clientFrame(true, wsframe.OpContinuation, make([]byte, 41))...), ErrTooBig, len(first) + 1},
		{"fragments and a ping, at the limit", 100, append(append(append([]byte{}, first...), ping...), clientFrame(true, wsframe.OpContinuation, make([]byte, 40))...), nil, 0},
		{"close reason not UTF-8", 0, closeFrame(0x03, 0xe8, 'o', 'k', 0xff), ErrCloseReason, 6 + 4},
		{"close reason ends inside a rune", 0, closeFrame(0x03, 0xe8, 0xe2, 0x82), ErrCloseReason, 6 + 3},
		{"close reason overlong", 0, closeFrame(0x03, 0xe8, 0xc0, 0xaf), ErrCloseReason, 6 + 2},
		{"close reason UTF-8", 0, closeFrame(0x03, 0xe8, 'b', 'y', 'e', 0xef, 0xbf, 0xbd, 0xf0, 0x9f, 0x98, 0x80), nil, 0},
		{"close code only", 0, closeFrame(0x03, 0xe8), nil, 0},
		{"empty close", 0, closeFrame(), nil, 0},
	}
	for _, c := range cases {
		whole := frameScan{limit: c.limit}
		bad := whole.feed(c.stream)
		if whole.err != c.want || (c.want != nil && bad != c.at) || (c.want == nil && bad != -1) {
			t.Errorf("%s, at once: got %v at %d, want %v at %d", c.name, whole.err, bad, c.want, c.at)
		}
		bytewise := frameScan{limit: c.limit}
		at := -1
		for i := range c.stream {
			if bytewise.feed(c.stream[i:i+1]) == 0 && at < 0 {
				at = i
			}
		}
		if bytewise.err != c.want || (c.want != nil && at != c.at) {
			t.Errorf("%s, a byte at a time: got %v at %d, want %v at %d", c.name, bytewise.err, at, c.want, c.at)
		}
	}
}
