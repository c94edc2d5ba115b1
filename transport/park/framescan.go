package park

import "encoding/binary"

// frameScan follows the client-to-server WebSocket stream as it is read,
// frame by frame, without changing it, so that the connection knows when
// everything read so far ends exactly where a new message may begin. Only
// there may a read find the socket empty and give the reader up (see
// Conn.Read): in the middle of a frame, or between the fragments of a
// message, coder/websocket must wait for the rest.
//
// It trusts nothing: a malformed header only makes it lose its place, and
// coder/websocket, which parses the same bytes, closes such a connection.
type frameScan struct {
	remain uint64   // payload bytes of the current frame not yet read
	hdr    [14]byte // the current header, as far as it has arrived
	hn     uint8    // bytes of hdr gathered; 0 between frames
	inMsg  bool     // a data frame without FIN was read: its message goes on
}

// atBoundary reports whether the bytes scanned so far end between two
// messages (control frames may come between the fragments of a message, so
// a message boundary is also a frame boundary, but not the reverse).
func (s *frameScan) atBoundary() bool {
	return s.hn == 0 && s.remain == 0 && !s.inMsg
}

// feed scans b, the next bytes of the stream.
func (s *frameScan) feed(b []byte) {
	for len(b) > 0 {
		if s.remain > 0 {
			n := uint64(len(b))
			if n > s.remain {
				n = s.remain
			}
			s.remain -= n
			b = b[n:]
			continue
		}
		s.hdr[s.hn] = b[0]
		s.hn++
		b = b[1:]
		if s.hn < 2 || int(s.hn) < headerLen(s.hdr[1]) {
			continue
		}
		s.endHeader()
	}
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
	s.hn = 0
}
