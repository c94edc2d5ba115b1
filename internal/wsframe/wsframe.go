// Package wsframe writes the frames of an RFC 6455 client and reads a
// server's, byte for byte, for code that has to speak WebSocket below a
// library: tests that send what no well-behaved client sends (half a frame,
// a frame glued to the upgrade request, fragments split by a pause), the
// load generator, which coalesces many frames into one write, and the
// server's writer, which frames a burst of messages into one buffer itself
// (AppendServerHeader) rather than make a library call per message.
//
// It only builds and parses; it holds no connection and no state.
package wsframe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Opcodes (RFC 6455 section 5.2).
const (
	OpContinuation byte = 0x0
	OpText         byte = 0x1
	OpBinary       byte = 0x2
	OpClose        byte = 0x8
	OpPing         byte = 0x9
	OpPong         byte = 0xA
)

// Key is the masking key of the frames Client builds: any key will do for a
// server, and a fixed one keeps a test's bytes reproducible.
var Key = [4]byte{9, 8, 7, 6}

// AppendHeader appends the header of a masked client frame whose payload is
// length bytes, in the shortest length form (7, 16 or 64 bits). The masked
// payload follows: AppendMasked, or fewer bytes than announced to leave a
// frame unfinished.
func AppendHeader(dst []byte, fin bool, opcode byte, length uint64, key [4]byte) []byte {
	dst = appendHeader(dst, fin, opcode, length, 0x80)
	return append(dst, key[:]...)
}

// AppendServerHeader appends the header of an unmasked server frame whose
// payload is length bytes, in the shortest length form. The payload follows
// as it is.
func AppendServerHeader(dst []byte, fin bool, opcode byte, length uint64) []byte {
	return appendHeader(dst, fin, opcode, length, 0)
}

// appendHeader appends a frame's first byte and its length; mask is the
// mask bit (0x80 for a client's frame).
func appendHeader(dst []byte, fin bool, opcode byte, length uint64, mask byte) []byte {
	b0 := opcode & 0x0F
	if fin {
		b0 |= 0x80
	}
	dst = append(dst, b0)
	switch {
	case length < 126:
		dst = append(dst, mask|byte(length))
	case length <= 0xFFFF:
		dst = append(dst, mask|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(length))
	default:
		dst = append(dst, mask|127)
		dst = binary.BigEndian.AppendUint64(dst, length)
	}
	return dst
}

// AppendMasked appends payload masked with key, as the payload of a frame
// whose header (AppendHeader) carries key.
func AppendMasked(dst, payload []byte, key [4]byte) []byte {
	start := len(dst)
	dst = append(dst, payload...)
	for i := range payload {
		dst[start+i] ^= key[i&3]
	}
	return dst
}

// AppendClient appends one whole masked client frame. It allocates only
// when dst has no room.
func AppendClient(dst []byte, fin bool, opcode byte, payload []byte, key [4]byte) []byte {
	dst = AppendHeader(dst, fin, opcode, uint64(len(payload)), key)
	return AppendMasked(dst, payload, key)
}

// Client returns one masked client frame masked with Key.
func Client(fin bool, opcode byte, payload []byte) []byte {
	return AppendClient(nil, fin, opcode, payload, Key)
}

// Text returns one final, masked client text frame.
func Text(payload []byte) []byte { return Client(true, OpText, payload) }

// Header is what the first bytes of a frame say.
type Header struct {
	Fin    bool
	Opcode byte
	Masked bool    // a client's frame
	Key    [4]byte // the masking key of a masked frame
	Length uint64  // of the payload
}

// ReadHeader reads one frame's header from r: its two first bytes, the
// extended length if any, and the masking key if the frame is masked.
func ReadHeader(r io.Reader) (Header, error) {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:2]); err != nil {
		return Header{}, err
	}
	h := Header{Fin: b[0]&0x80 != 0, Opcode: b[0] & 0x0F, Masked: b[1]&0x80 != 0, Length: uint64(b[1] & 0x7F)}
	switch h.Length {
	case 126:
		if _, err := io.ReadFull(r, b[:2]); err != nil {
			return h, err
		}
		h.Length = uint64(binary.BigEndian.Uint16(b[:2]))
	case 127:
		if _, err := io.ReadFull(r, b[:8]); err != nil {
			return h, err
		}
		h.Length = binary.BigEndian.Uint64(b[:8])
	}
	if h.Masked {
		if _, err := io.ReadFull(r, h.Key[:]); err != nil {
			return h, err
		}
	}
	return h, nil
}

// ErrTooLarge is a frame longer than ReadServer's limit.
var ErrTooLarge = errors.New("wsframe: frame too large")

// ReadServer reads one unmasked server frame and returns its header and
// payload. A payload over limit bytes is not read: ErrTooLarge.
func ReadServer(r io.Reader, limit uint64) (Header, []byte, error) {
	h, err := ReadHeader(r)
	if err != nil {
		return h, nil, err
	}
	if h.Masked {
		return h, nil, errors.New("wsframe: masked frame from the server")
	}
	if h.Length > limit {
		return h, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, h.Length, limit)
	}
	p := make([]byte, h.Length)
	_, err = io.ReadFull(r, p)
	return h, p, err
}
