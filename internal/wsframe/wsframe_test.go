package wsframe

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestClientFrameRoundTrip reads back, with ReadHeader and the key, every
// length form AppendClient writes.
func TestClientFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xFFFF, 0x10000} {
		payload := bytes.Repeat([]byte("ab"), n)[:n]
		f := AppendClient([]byte("prefix"), n%2 == 0, OpBinary, payload, [4]byte{1, 2, 3, 4})
		r := bytes.NewReader(f[len("prefix"):])
		h, err := ReadHeader(r)
		if err != nil {
			t.Fatalf("%d bytes: read header: %v", n, err)
		}
		if want := (Header{Fin: n%2 == 0, Opcode: OpBinary, Masked: true, Key: [4]byte{1, 2, 3, 4}, Length: uint64(n)}); h != want {
			t.Fatalf("%d bytes: got header %+v, want %+v", n, h, want)
		}
		got, _ := io.ReadAll(r)
		if unmasked := AppendMasked(nil, got, h.Key); !bytes.Equal(unmasked, payload) {
			t.Fatalf("%d bytes: payload differs after unmasking", n)
		}
		checkHeaderLen(t, n, len(f)-len("prefix")-n, 4) // and the key
	}
}

// TestReadServer reads an unmasked frame, and refuses a masked one and one
// over the limit.
func TestReadServer(t *testing.T) {
	server := append([]byte{0x81, 126, 0x01, 0x00}, bytes.Repeat([]byte("x"), 256)...)
	h, p, err := ReadServer(bytes.NewReader(server), 1<<10)
	if err != nil || h.Opcode != OpText || !h.Fin || len(p) != 256 {
		t.Fatalf("got %+v, %d bytes, %v; want a final text frame of 256 bytes", h, len(p), err)
	}
	if _, _, err := ReadServer(bytes.NewReader(server), 255); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: got %v, want ErrTooLarge", err)
	}
	if _, _, err := ReadServer(bytes.NewReader(Text([]byte("hi"))), 1<<10); err == nil {
		t.Fatal("a masked frame: got no error")
	}
}

// TestServerFrameRoundTrip reads back, with ReadServer, every length form
// AppendServerHeader writes, unmasked.
func TestServerFrameRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xFFFF, 0x10000} {
		payload := bytes.Repeat([]byte("ab"), n)[:n]
		f := append(AppendServerHeader([]byte("prefix"), true, OpText, uint64(n)), payload...)
		h, got, err := ReadServer(bytes.NewReader(f[len("prefix"):]), 1<<20)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if want := (Header{Fin: true, Opcode: OpText, Length: uint64(n)}); h != want {
			t.Fatalf("%d bytes: got header %+v, want %+v", n, h, want)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("%d bytes: payload differs", n)
		}
		checkHeaderLen(t, n, len(f)-len("prefix")-n, 0)
	}
}

// checkHeaderLen checks that a frame of an n-byte payload had a header of
// got bytes: the two first bytes, the shortest extended length, and extra
// (the masking key of a client's frame).
func checkHeaderLen(t *testing.T, n, got, extra int) {
	t.Helper()
	want := 2 + extra
	switch {
	case n > 0xFFFF:
		want += 8
	case n >= 126:
		want += 2
	}
	if got != want {
		t.Fatalf("%d bytes: got a %d-byte header, want %d", n, got, want)
	}
}
