package transport

import (
	"bufio"
	"net"
	"net/http"

	"parley/transport/park"
)

// The buffers coder/websocket reads and writes through. net/http hands a
// hijacked connection 4 KiB for each; an idle chat connection needs neither.
// Where connections park, reads go through park.Conn's pooled read-ahead, so
// the bufio.Reader can be bufio's 16-byte minimum; without a poller a
// connection's reader waits in its reads with a buffer of its own. With
// The library writes only control frames (the writer's messages are framed
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
type hijackWriter struct {
	http.ResponseWriter
	parking bool        // the server has a poller: the connection may park, reads go through the read-ahead
	cork    *corkWriter // where writes go; Hijack gives it the socket
	conn    *park.Conn  // set by Hijack
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// The 101 response is already written and flushed by net/http. Bytes the
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
