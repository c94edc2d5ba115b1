package park

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// waitLimit bounds every wait in these tests; none should come near it.
const waitLimit = 10 * time.Second

// upgradeRequest is a client's WebSocket upgrade request for host.
func upgradeRequest(host string) []byte {
	key := make([]byte, 16)
	rand.Read(key)
	return []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
}

// hijacked is what an upgrade handed the server: coder/websocket's
// connection and the net.Conn under it, or why the upgrade failed.
type hijacked[C net.Conn] struct {
	ws   *websocket.Conn
	conn C
	err  error
}

// acceptServer is a real HTTP server on loopback whose every upgrade goes
// through coder/websocket's Accept, with the connection it reads from made
// by wrap (called with the hijacked socket and the bytes the client sent
// behind its request), and a bufio.Reader of readSize in front of it, as
// transport's hijackWriter does. Accepted connections arrive on the channel.
func acceptServer[C net.Conn](t testing.TB, readSize int, opts websocket.AcceptOptions, wrap func(nc net.Conn, early *bufio.Reader) C) (*httptest.Server, <-chan hijacked[C]) {
	accepted := make(chan hijacked[C], 1)
	opts.InsecureSkipVerify = true
	opts.CompressionMode = websocket.CompressionDisabled // as the server runs
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := &testHijacker[C]{ResponseWriter: w, readSize: readSize, wrap: wrap}
		ws, err := websocket.Accept(h, r, &opts)
		accepted <- hijacked[C]{ws, h.conn, err}
	}))
	t.Cleanup(srv.Close)
	return srv, accepted
}

type testHijacker[C net.Conn] struct {
	http.ResponseWriter
	readSize int
	wrap     func(net.Conn, *bufio.Reader) C
	conn     C
}

func (h *testHijacker[C]) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn = h.wrap(nc, brw.Reader)
	return h.conn, bufio.NewReadWriter(bufio.NewReaderSize(h.conn, h.readSize), bufio.NewWriterSize(nc, 16)), nil
}

// dialRaw opens a TCP connection to srv and writes an upgrade request
// followed by first (nothing, or the first frames, in the same write).
func dialRaw(t *testing.T, srv *httptest.Server, first []byte) net.Conn {
	t.Helper()
	host := strings.TrimPrefix(srv.URL, "http://")
	nc, err := net.DialTimeout("tcp", host, waitLimit)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := nc.Write(append(upgradeRequest(host), first...)); err != nil {
		t.Fatalf("write upgrade request: %v", err)
	}
	return nc
}

// accept waits for the server to accept a connection.
func accept[C net.Conn](t *testing.T, accepted <-chan hijacked[C]) hijacked[C] {
	t.Helper()
	h := wait(t, accepted, "accept")
	if h.err != nil {
		t.Fatalf("accept: %v", h.err)
	}
	return h
}

// wait receives from ch, at most waitLimit.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("%s: nothing after %v", what, waitLimit)
		var zero T
		return zero
	}
}
