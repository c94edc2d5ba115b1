package park

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// What the scan refuses, before coder/websocket sees the byte that shows it
// (Conn.Read withholds that byte and returns the error). The library
// (v1.8.15) closes the first two with 1000 and no reason, or not at all,
// echoes the third, and waits for the fourth's payload (docs/reliability.md,
// "Upstream"); each of these errors names the close code parley sends.
var (
	// ErrProtocol is a frame that breaks RFC 6455 in a way the library
	// does not answer with 1002: a client frame that is not masked, or a
	// 64-bit payload length with its most significant bit set. Close 1002.
	ErrProtocol = errors.New("websocket protocol error")
	// ErrTooBig is a data frame whose length, with the fragments of its
	// message before it, exceeds the read limit (SetLimits). Close 1009,
	// at once: no byte of its payload needs to arrive.
	ErrTooBig = errors.New("message over the read limit")
	// ErrCloseReason is a close frame whose reason is not valid UTF-8
	// (RFC 6455 section 8.1). Close 1007.
	ErrCloseReason = errors.New("close reason is not valid UTF-8")

	errUnmasked  = fmt.Errorf("%w: a client frame not masked", ErrProtocol)
	errLengthBit = fmt.Errorf("%w: a 64-bit length with its top bit set", ErrProtocol)
)

// frameScan follows the client-to-server WebSocket stream as it is read,
// frame by frame, without changing it, so that the connection knows when
// everything read so far ends exactly where a new message may begin. Only
// there may a read find the socket empty and give the reader up (see
// Conn.Read): in the middle of a frame, or between the fragments of a
// message, coder/websocket must wait for the rest.
//
// It also finds what the library would let through or answer wrongly (the
// errors above), at the byte that shows it. Past such a byte it scans on as
// if nothing happened (so that where the boundaries are never depends on
// it); Conn stops handing bytes out there. Anything else malformed only
// makes it lose its place, and coder/websocket, which parses the same
// bytes, closes such a connection.
type frameScan struct {
	remain uint64   // payload bytes of the current frame not yet read
	hdr    [14]byte // the current header, as far as it has arrived
	hn     uint8    // bytes of hdr gathered; 0 between frames
	inMsg  bool     // a data frame without FIN was read: its message goes on

	limit  uint64 // largest message payload, in bytes; 0: no limit
	msgLen uint64 // payload bytes of the current data message, as its headers announce them

	// A close frame's reason, checked as it arrives: the payload's
	// position, its masking key, and a rune begun but not complete.
	closing bool    // the current frame is a close frame of at most 125 bytes
	pos     uint8   // payload bytes of it read
	key     [4]byte // its masking key
	part    [4]byte // the bytes of a rune of the reason not yet complete
	pn      uint8

	// extra counts the frames that are not a whole message by themselves
	// (control frames and continuations): what a client can send without
	// sending a request. Conn charges them to the connection's budget.
	extra int

	err error // the first of the errors above the stream showed
}

// atBoundary reports whether the bytes scanned so far end between two
// messages (control frames may come between the fragments of a message, so
// a message boundary is also a frame boundary, but not the reverse).
func (s *frameScan) atBoundary() bool {
	return s.hn == 0 && s.remain == 0 && !s.inMsg
}

// feed scans b, the next bytes of the stream. If b holds the byte that
// shows the stream's first error, it returns that byte's index (s.err is
// then set); else -1.
func (s *frameScan) feed(b []byte) int {
	bad := -1
	for i := 0; i < len(b); {
		if s.remain > 0 {
			n := uint64(len(b) - i)
			if n > s.remain {
				n = s.remain
			}
			if s.closing {
				if j := s.reason(b[i : i+int(n)]); j >= 0 && bad < 0 {
					bad = i + j
				}
			}
			s.remain -= n
			i += int(n)
			if s.remain == 0 && s.closing {
				if s.pn > 0 && s.fail(ErrCloseReason) && bad < 0 {
					bad = i - 1 // the reason ends inside a rune: its last byte shows it
				}
				s.closing = false
			}
			continue
		}
		s.hdr[s.hn] = b[i]
		s.hn++
		if s.check() && bad < 0 {
			bad = i
		}
		i++
		if s.hn < 2 || int(s.hn) < headerLen(s.hdr[1]) {
			continue
		}
		s.endHeader()
	}
	return bad
}

// fail records err as the stream's error, if it is the first, and reports
// whether it was.
func (s *frameScan) fail(err error) bool {
	if s.err != nil {
		return false
	}
	s.err = err
	return true
}

// check looks at the header as far as it has arrived, once the byte just
// gathered completes a part of it, and reports whether that byte showed the
// stream's first error.
func (s *frameScan) check() bool {
	if s.hn < 2 {
		return false
	}
	b1 := s.hdr[1]
	if s.hn == 2 && b1&0x80 == 0 {
		return s.fail(errUnmasked) // a client's frames are masked (RFC 6455 section 5.1)
	}
	var length uint64
	switch l := b1 & 0x7f; {
	case l < 126 && s.hn == 2:
		length = uint64(l)
	case l == 126 && s.hn == 4:
		length = uint64(binary.BigEndian.Uint16(s.hdr[2:4]))
	case l == 127 && s.hn == 3 && s.hdr[2]&0x80 != 0:
		return s.fail(errLengthBit) // the most significant bit must be 0 (section 5.2)
	case l == 127 && s.hn == 10:
		length = binary.BigEndian.Uint64(s.hdr[2:10])
	default:
		return false // the length is not complete yet, or was complete already
	}
	switch op := s.hdr[0] & 0x0f; {
	case op == 1 || op == 2: // text or binary: a message begins
		s.msgLen = length
	case op == 0:
		if s.msgLen += length; s.msgLen < length {
			s.msgLen = ^uint64(0) // saturated: the sum would wrap past 2^64
		}
	default:
		return false
	}
	return s.limit > 0 && s.msgLen > s.limit && s.fail(ErrTooBig)
}

// reason checks b, the next payload bytes of a close frame: after the
// two-byte code, the reason must be UTF-8. It returns the index of the byte
// that shows it is not (then s.err is set), or -1.
func (s *frameScan) reason(b []byte) int {
	bad := -1
	for i, c := range b { // all of b, even past an error: the state must not depend on how the stream was cut
		c ^= s.key[s.pos&3]
		s.pos++
		if s.pos <= 2 {
			continue // the close code; the library checks it
		}
		s.part[s.pn] = c
		s.pn++
		if !utf8.FullRune(s.part[:s.pn]) {
			continue
		}
		r, size := utf8.DecodeRune(s.part[:s.pn])
		s.pn = 0
		if r == utf8.RuneError && size == 1 && s.fail(ErrCloseReason) {
			bad = i
		}
	}
	return bad
}

// headerLen is the length of a frame header whose second byte is b1: two
// bytes, the extended length, and the masking key if the frame is masked.
func headerLen(b1 byte) int {
	n := 2
	switch b1 & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// endHeader takes the payload length and the message state from a complete
// header in hdr.
func (s *frameScan) endHeader() {
	fin, opcode := s.hdr[0]&0x80 != 0, s.hdr[0]&0x0f
	switch l := s.hdr[1] & 0x7f; l {
	case 126:
		s.remain = uint64(binary.BigEndian.Uint16(s.hdr[2:4]))
	case 127:
		s.remain = binary.BigEndian.Uint64(s.hdr[2:10])
	default:
		s.remain = uint64(l)
	}
	if opcode < 8 { // continuation, text or binary; 8 and up are control frames
		s.inMsg = !fin
	}
	if opcode == 0 || opcode >= 8 {
		s.extra++
	}
	masked := s.hdr[1]&0x80 != 0
	s.closing = opcode == 8 && masked && s.remain > 0 && s.remain <= 125
	if s.closing {
		n := headerLen(s.hdr[1])
		copy(s.key[:], s.hdr[n-4:n])
		s.pos, s.pn = 0, 0
	}
	s.hn = 0
}
