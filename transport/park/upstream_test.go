package park

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/wsframe"
)

// TestUpstreamBehaviour pins what coder/websocket (the version in go.mod)
// does with the frames the scanner refuses, read straight from the socket
// with no Conn in between: the reason for the workaround, and the note
// docs/reliability.md ("Upstream") reports. If an upgrade changes any of
// it, this fails: update the note (the scanner's checks may stay).
func TestUpstreamBehaviour(t *testing.T) {
	type result struct {
		readerErr bool   // Reader failed
		sent      []byte // what the library sent the client before the socket closed
	}
	run := func(t *testing.T, frame []byte) result {
		srv, accepted := acceptServer(t, 4096, websocket.AcceptOptions{}, func(nc net.Conn, _ *bufio.Reader) net.Conn { return nc })
		client := dialRaw(t, srv, nil)
		client.SetDeadline(time.Now().Add(waitLimit))
		br := bufio.NewReader(client)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: got %v %v, want 101", resp, err)
		}
		h := accept(t, accepted)
		h.ws.SetReadLimit(1000)
		if _, err := client.Write(frame); err != nil {
			t.Fatal(err)
		}
		_, _, err = h.ws.Reader(context.Background())
		res := result{readerErr: err != nil}
		h.ws.CloseNow() // whatever the library has sent is before the EOF
		res.sent, _ = io.ReadAll(br)
		return res
	}
	closeFrame := func(b []byte) (uint16, string, bool) {
		h, p, err := wsframe.ReadServer(bytes.NewReader(b), 125)
		if err != nil || h.Opcode != wsframe.OpClose || len(p) < 2 {
			return 0, "", false
		}
		return binary.BigEndian.Uint16(p), string(p[2:]), true
	}

	t.Run("unmasked frame: an error, no close frame", func(t *testing.T) {
		res := run(t, append([]byte{0x81, 0x02}, "hi"...))
		if !res.readerErr || len(res.sent) != 0 {
			t.Errorf("got error %v, sent %q; want an error and nothing sent (v1.8.15)", res.readerErr, res.sent)
		}
	})
	t.Run("64-bit length with its top bit set: an error, no close frame", func(t *testing.T) {
		res := run(t, append([]byte{0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 2}, wsframe.Key[:]...))
		if !res.readerErr || len(res.sent) != 0 {
			t.Errorf("got error %v, sent %q; want an error and nothing sent (v1.8.15)", res.readerErr, res.sent)
		}
	})
	t.Run("close reason not UTF-8: echoed", func(t *testing.T) {
		reason := "bye\xff\xfe"
		res := run(t, wsframe.Client(true, wsframe.OpClose, append([]byte{0x03, 0xe8}, reason...)))
		code, got, ok := closeFrame(res.sent)
		if !ok || code != 1000 || got != reason {
			t.Errorf("got close %v %d %q; want 1000 %q echoed (v1.8.15)", ok, code, got, reason)
		}
	})
	t.Run("header over the read limit: accepted (Reader returns the message), nothing sent", func(t *testing.T) {
		res := run(t, wsframe.AppendHeader(nil, true, wsframe.OpText, 1<<62, wsframe.Key))
		if res.readerErr || len(res.sent) != 0 {
			t.Errorf("got error %v, sent %q; want the header accepted, no 1009 before its payload is read (v1.8.15)", res.readerErr, res.sent)
		}
	})
}
