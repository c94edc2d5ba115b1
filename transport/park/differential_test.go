package park

import (
	"bufio"
	"context"
	"encoding/binary"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"parley/internal/wsframe"
)

// FuzzFrameScanAgainstLibrary feeds the same client byte stream to frameScan
// and to coder/websocket's own parser (a server-side websocket.Conn reading
// it from a real socket), and requires them to agree, at every byte the
// library parsed without error, on whether a new message may begin there.
// A scan that says yes where the library is inside a message would make a
// reader give up mid-message (and the library fail the connection); one
// that says no where a message may begin would keep idle connections from
// parking.
//
// The library reads through byteConn, one byte per Read, so that at every
// moment it has consumed exactly what byteConn handed out. Its message
// boundaries are then observable: where a message, read to its end, ends;
// where a ping or a pong read outside a message ends (its callbacks); where
// a close frame read outside a message ends (Reader's close error).
func FuzzFrameScanAgainstLibrary(f *testing.F) {
	// Scripts for clientStream: per frame an opcode/FIN byte, a length
	// byte, an encoding byte (and a second length byte for long ones), and
	// a masking key.
	f.Add([]byte{})
	f.Add([]byte{0x10, 5, 3, 1, 2, 3, 4})                                                 // a text message
	f.Add([]byte{0x00, 3, 0, 9, 9, 9, 9, 0x17, 2, 1, 5, 6, 7, 8, 0x13, 4, 2, 0, 0, 0, 0}) // fragments, a ping between
	f.Add([]byte{0x1a, 0, 3, 1, 1, 1, 1, 0x12, 0x01, 0x81, 0x20, 4, 4, 4, 4})             // a pong, then 16-bit binary
	f.Add([]byte{0x12, 0x01, 0xc2, 0x10, 1, 2, 3, 4, 0x1b, 2, 3, 0, 0, 0, 0})             // 64-bit binary, then a close
	f.Add([]byte{0x1e, 1, 0xfc, 1, 2, 3, 4})                                              // a reserved opcode, unmasked
	lib := newLibraryServer(f)
	f.Fuzz(func(t *testing.T, script []byte) { checkAgainstLibrary(t, lib, script) })
}

// checkAgainstLibrary is one run of FuzzFrameScanAgainstLibrary.
func checkAgainstLibrary(t *testing.T, lib *libraryServer, script []byte) {
	stream := clientStream(script)

	// The scan, fed one byte at a time: its answer at every offset.
	var s frameScan
	scanned := make([]bool, len(stream)+1)
	scanned[0] = s.atBoundary()
	for i := range stream {
		s.feed(stream[i : i+1])
		scanned[i+1] = s.atBoundary()
	}

	// The library, reading the stream the client writes in random pieces.
	cuts := randomCuts(script, len(stream))
	nc := dialRaw(t, lib.srv, nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the client's writes; ends after the last piece
		defer wg.Done()
		prev := 0
		for _, c := range append(cuts, len(stream)) {
			if _, err := nc.Write(stream[prev:c]); err != nil {
				return // the library closed the connection: it found an error in the stream
			}
			prev = c
		}
		nc.(*net.TCPConn).CloseWrite() // the library then reads EOF
	}()
	go func() { // the client's reads: the 101, pongs, a close frame; ends when the server closes
		defer wg.Done()
		io.Copy(io.Discard, nc)
	}()
	h := accept(t, lib.accepted)
	got := lib.read(h.ws, h.conn)
	h.ws.CloseNow()
	nc.Close()
	wg.Wait()

	for off := 0; off <= got.parsed; off++ {
		if want := got.boundary[off]; scanned[off] != want {
			t.Fatalf("offset %d of %d (the library parsed %d): got atBoundary %v, want %v (coder/websocket)",
				off, len(stream), got.parsed, scanned[off], want)
		}
	}

	// Fed in the pieces the client wrote, the scan gives the same answers.
	var pieces frameScan
	prev := 0
	for _, c := range cuts {
		pieces.feed(stream[prev:c])
		prev = c
		if pieces.atBoundary() != scanned[c] {
			t.Fatalf("fed in pieces, at offset %d: got atBoundary %v, want %v (fed a byte at a time)", c, pieces.atBoundary(), scanned[c])
		}
	}
}

// byteConn hands the library one byte per Read, so that what it has
// consumed is always what was handed out (n).
type byteConn struct {
	net.Conn
	src *bufio.Reader // the hijacked connection's reader, with any bytes sent behind the upgrade request
	n   int           // bytes handed out
	err error         // the first error handed out
}

func (c *byteConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.src.Read(p[:1])
	c.n += n
	if c.err == nil {
		c.err = err
	}
	return n, err
}

// libBoundaries is what the library's reading showed: for every offset up
// to parsed, the last one where it finished a frame without error, whether
// a new message may begin there.
type libBoundaries struct {
	boundary []bool
	parsed   int
}

func (b *libBoundaries) mark(off int, atBoundary bool) {
	for len(b.boundary) <= off {
		b.boundary = append(b.boundary, false)
	}
	b.boundary[off] = atBoundary
	b.parsed = off
}

// libraryServer upgrades connections whose server side reads through a
// byteConn.
type libraryServer struct {
	srv      *httptest.Server
	accepted <-chan hijacked[*byteConn]
	control  atomic.Pointer[func()] // the callback for a ping or pong on the connection being read
}

func newLibraryServer(t testing.TB) *libraryServer {
	ls := &libraryServer{}
	ls.srv, ls.accepted = acceptServer(t, 16, websocket.AcceptOptions{
		OnPingReceived: func(context.Context, []byte) bool { (*ls.control.Load())(); return true },
		OnPongReceived: func(context.Context, []byte) { (*ls.control.Load())() },
	}, func(nc net.Conn, br *bufio.Reader) *byteConn {
		return &byteConn{Conn: nc, src: br}
	})
	return ls
}

// read reads messages from ws, as a server reader does, until the library
// fails or the stream ends, and returns the boundaries it showed.
func (ls *libraryServer) read(ws *websocket.Conn, bc *byteConn) *libBoundaries {
	lib := &libBoundaries{boundary: []bool{true}}
	inMsg := false
	// The callbacks run inside Reader or the message's Read, on this
	// goroutine, once the control frame's payload has been read.
	control := func() { lib.mark(bc.n, !inMsg) }
	ls.control.Store(&control)
	ws.SetReadLimit(-1)
	for {
		_, r, err := ws.Reader(context.Background())
		if err != nil {
			if websocket.CloseStatus(err) != -1 { // a close frame, read outside a message
				lib.mark(bc.n, true)
			}
			return lib
		}
		inMsg = true
		if _, err := io.Copy(io.Discard, r); err != nil {
			if websocket.CloseStatus(err) != -1 { // a close frame inside a message
				lib.mark(bc.n, false)
			}
			return lib
		}
		if bc.err != nil {
			// The stream ended inside the message: the library's message
			// reader reports an EOF where it starts a read (before a
			// continuation's header, or right after a header) as the
			// message's end (v1.8.15), so this end is not one.
			return lib
		}
		inMsg = false
		lib.mark(bc.n, true)
	}
}

// clientStream turns script into a stream of client frames: mostly valid
// (masked; text, binary, continuation, ping, pong, close; FIN or not; every
// length encoding, non-minimal ones included), sometimes not (a reserved
// opcode, a fragmented or oversized control frame, an unmasked frame, an
// RSV bit, a negative 64-bit length), with no regard for whether a message
// is open: a continuation with none open, or a new message inside one, is
// the library's error to find.
func clientStream(script []byte) []byte {
	next := func() byte {
		if len(script) == 0 {
			return 0
		}
		b := script[0]
		script = script[1:]
		return b
	}
	opcodes := [16]byte{1, 1, 2, 0, 0, 0, 0, 9, 9, 10, 10, 8, 1, 2, 3, 11}
	var out []byte
	for frames := 0; len(script) > 0 && frames < 64; frames++ {
		b, l, e := next(), int(next()), next()
		op := opcodes[b&0x0f]
		fin := b&0x10 != 0
		control := op >= 8
		if control {
			fin = b&0x70 != 0x70 // a fragmented control frame, one in eight
			if e&0x60 != 0x60 {
				l %= 126 // else maybe too long for a control frame
			}
		} else if e&0x80 != 0 {
			l = l<<8 | int(next()) // 16-bit lengths
			if e&0x40 != 0 && e&3 == 2 {
				l += 1 << 16 // beyond 16 bits
			}
		}
		odd := e & 0xfc
		var key [4]byte
		for i := range key {
			key[i] = next()
		}
		if len(out)+l > 1<<18 {
			break
		}

		b0 := op
		if fin {
			b0 |= 0x80
		}
		if odd == 0xf8 {
			b0 |= 0x40 // RSV1, which is not negotiated
		}
		mask := byte(0x80)
		if odd == 0xfc {
			mask = 0
		}
		enc := e & 3
		switch {
		case enc == 0 && l > 125, enc == 3 && l > 125:
			enc = 1
		case enc == 3:
			enc = 0
		}
		if enc == 1 && l > 0xffff {
			enc = 2
		}
		out = append(out, b0)
		switch enc {
		case 0:
			out = append(out, mask|byte(l))
		case 1:
			out = append(out, mask|126)
			out = binary.BigEndian.AppendUint16(out, uint16(l))
		case 2:
			n := uint64(l)
			if odd == 0xf4 {
				n |= 1 << 63 // negative as the library reads it
			}
			out = append(out, mask|127)
			out = binary.BigEndian.AppendUint64(out, n)
		}
		if mask != 0 {
			out = append(out, key[:]...)
		}
		payload := make([]byte, l)
		for i := range payload {
			payload[i] = byte(i*7 + int(b))
		}
		if op == 8 && l >= 2 && e&0x08 == 0 {
			binary.BigEndian.PutUint16(payload, uint16(websocket.StatusNormalClosure)) // a valid close code, mostly
		}
		if mask != 0 {
			out = wsframe.AppendMasked(out, payload, key)
		} else {
			out = append(out, payload...)
		}
	}
	return out
}

// randomCuts splits n bytes into pieces, mostly short, at offsets drawn
// from a generator seeded by script: strictly increasing, in (0, n).
func randomCuts(script []byte, n int) []int {
	h := fnv.New64a()
	h.Write(script)
	r := rand.New(rand.NewPCG(h.Sum64(), uint64(n)))
	var cuts []int
	for off := 0; ; {
		step := 1 + r.IntN(16)
		if r.IntN(8) == 0 {
			step += r.IntN(4096)
		}
		if off += step; off >= n {
			return cuts
		}
		cuts = append(cuts, off)
	}
}
