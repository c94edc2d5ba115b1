package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"parley/internal/wsframe"
)

// socketPair is a connected TCP pair on 127.0.0.1: the server's end, and a
// reader over the client's.
func socketPair(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	client.SetReadDeadline(time.Now().Add(time.Minute)) // a generous bound on every read below
	return server, bufio.NewReader(client)
}

// TestWriteTextFramesABurst: one message per frame, or joined up to the
// limit with a longer one alone, in order, as RFC 6455 server frames.
func TestWriteTextFramesABurst(t *testing.T) {
	server, r := socketPair(t)
	c := &corkWriter{conn: server, timeout: time.Minute}
	long := strings.Repeat("x", 300)
	msgs := [][]byte{[]byte("a"), []byte("bb"), []byte(long), []byte("c"), []byte("dd")}
	if err := c.writeText(msgs, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.writeText(msgs, 8); err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "bb", long, "c", "dd", "a\nbb", long, "c\ndd"}
	for i, w := range want {
		h, p, err := wsframe.ReadServer(r, 1<<20)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !h.Fin || h.Opcode != wsframe.OpText || string(p) != w {
			t.Fatalf("frame %d: got %+v %q, want a final text frame %q", i, h, p, w)
		}
	}
}

// TestNoMessageAfterTheCloseFrame: once the library's close frame went
// out, a burst fails and writes nothing.
func TestNoMessageAfterTheCloseFrame(t *testing.T) {
	server, r := socketPair(t)
	c := &corkWriter{conn: server, timeout: time.Minute}
	closeFrame := wsframe.AppendServerHeader(nil, true, wsframe.OpClose, 2)
	closeFrame = append(closeFrame, 0x03, 0xE8)
	if _, err := c.Write(closeFrame); err != nil {
		t.Fatal(err)
	}
	if err := c.writeText([][]byte{[]byte("late")}, 0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("a burst after the close frame: got %v, want net.ErrClosed", err)
	}
	server.Close()
	var rest bytes.Buffer
	rest.ReadFrom(r)
	if want := string(closeFrame); rest.String() != want {
		t.Fatalf("on the wire: got %q, want only the close frame %q", rest.String(), want)
	}
}

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes++
	return c.Conn.Write(p)
}

// TestTheHandshakeResponseGoesWithTheFirstWrite: the 101 response
// (hijack.go) leaves in the same write as the first frame, a message or a
// control frame, and never again.
func TestTheHandshakeResponseGoesWithTheFirstWrite(t *testing.T) {
	const head = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
	ping := wsframe.AppendServerHeader(nil, true, wsframe.OpPing, 0)
	for _, first := range []string{"message", "control frame"} {
		t.Run(first, func(t *testing.T) {
			server, r := socketPair(t)
			conn := &countingConn{Conn: server}
			c := &corkWriter{conn: conn, timeout: time.Minute, head: []byte(head)}
			var err error
			if first == "message" {
				err = c.writeText([][]byte{[]byte("welcome")}, 0)
			} else {
				_, err = c.Write(ping)
			}
			if err != nil {
				t.Fatal(err)
			}
			if conn.writes != 1 {
				t.Fatalf("got %d writes for the response and the first frame, want 1", conn.writes)
			}
			if err := c.writeText([][]byte{[]byte("next")}, 0); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(head))
			if _, err := io.ReadFull(r, got); err != nil || string(got) != head {
				t.Fatalf("got %q (%v), want the response %q first", got, err, head)
			}
			var want []string
			if first == "message" {
				want = []string{"welcome", "next"}
			} else {
				if h, _, err := wsframe.ReadServer(r, 1<<20); err != nil || h.Opcode != wsframe.OpPing {
					t.Fatalf("after the response: got %+v (%v), want the ping", h, err)
				}
				want = []string{"next"}
			}
			for _, w := range want {
				if h, p, err := wsframe.ReadServer(r, 1<<20); err != nil || h.Opcode != wsframe.OpText || string(p) != w {
					t.Fatalf("got %+v %q (%v), want the text frame %q (the response only once)", h, p, err, w)
				}
			}
		})
	}
}
