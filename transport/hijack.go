package transport

import (
	"bufio"
	"net"
	"net/http"
	"strings"

	"parley/transport/park"
)

// The buffers coder/websocket reads and writes through. net/http hands a
// hijacked connection 4 KiB for each; an idle chat connection needs neither.
// Where connections park, reads go through park.Conn's pooled read-ahead, so
// the bufio.Reader can be bufio's 16-byte minimum; without a poller a
// connection's reader waits in its reads with a buffer of its own. The
// library writes only control frames (the writer's messages are framed
// by corkWriter), and its write buffer holds a whole one, 2 header bytes and
// at most 125 of payload, so that each reaches corkWriter in one Write and
// cannot interleave with a burst.
const (
	readBufferSize  = 16
	waitingReadSize = 512
	writeBufferSize = 128
)

// hijackWriter hands coder/websocket, instead of the hijacked connection and
// net/http's 4 KiB buffers, a park.Conn to read from and close, and small
// buffers: the reader's over the park.Conn, the writer's over cork.
//
// It also keeps the 101 response from net/http, which would write and
// flush it on its own (a system call per connection, and net/http's
// header machinery): WriteHeader(101) only notes it, and Hijack gives the
// response to cork, which sends it with the connection's first frame, the
// Welcome. A reconnect storm is mostly handshakes, and that was one of the
// four writes each took.
type hijackWriter struct {
	http.ResponseWriter
	parking bool        // the server has a poller: the connection may park, reads go through the read-ahead
	cork    *corkWriter // where writes go; Hijack gives it the socket and the 101 response
	conn    *park.Conn  // set by Hijack
	upgrade bool        // WriteHeader(101) was called: Hijack writes the response
}

// WriteHeader passes every status but 101 on to net/http.
func (h *hijackWriter) WriteHeader(code int) {
	if code == http.StatusSwitchingProtocols {
		h.upgrade = true
		return
	}
	h.ResponseWriter.WriteHeader(code)
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if h.upgrade {
		h.cork.head = switchingProtocols(h.Header())
	}
	// net/http wrote nothing (it was never given the 101). Bytes the
	// client sent right after its request (a pipelined first frame) are in
	// brw.Reader; park.Conn hands them out first, so that they are scanned
	// like the rest. (coder/websocket moves whatever it finds buffered in
	// the reader given here into a reader of its own in front of the
	// connection, where the scan would not see it.)
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ = brw.Reader.Peek(n)
	}
	h.conn = park.NewConn(nc, early, h.parking)
	h.cork.conn = nc
	size := readBufferSize
	if !h.parking {
		size = waitingReadSize
	}
	r := bufio.NewReaderSize(h.conn, size)
	return h.conn, bufio.NewReadWriter(r, bufio.NewWriterSize(h.cork, writeBufferSize)), nil
}

// Unwrap lets http.ResponseController reach the original writer.
func (h *hijackWriter) Unwrap() http.ResponseWriter { return h.ResponseWriter }

// switchingProtocols is the 101 response with header (the library's
// Upgrade, Connection, Sec-WebSocket-Accept and, when negotiated,
// Sec-WebSocket-Protocol). A 1xx response needs no Date (RFC 9110 6.6.1).
func switchingProtocols(header http.Header) []byte {
	b := make([]byte, 0, 160)
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\n"...)
	for k, vs := range header {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				continue // never ours; a header must not end the response early
			}
			b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}
