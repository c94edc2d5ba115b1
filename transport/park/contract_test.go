//go:build linux

package park

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"parley/internal/wsframe"
)

// The contract between parking and coder/websocket (the version in go.mod).
// Parking works only because the library, reading through a Conn, behaves
// as these tests pin, with the real library over real loopback TCP sockets,
// so that an upgrade that changes any of it fails here and not in
// production:
//
//  1. When Conn.Read returns ErrWouldBlock at a message boundary, Reader
//     returns an error that errors.Is ErrWouldBlock, having consumed nothing
//     and holding no lock (the close handshake can still read).
//  2. The connection stays usable: once bytes arrive, the next Reader
//     returns the next message intact, whatever its shape (text, binary,
//     every length encoding, fragmented with a ping between fragments, a
//     control frame first, split anywhere by pauses); reads inside a message
//     wait, and reading a message to its end reads nothing past it.
//  3. Control frames are handled inside Reader: a ping is answered; a pong
//     reaching a parked connection completes a Ping and Reader then returns
//     ErrWouldBlock; a close frame is answered and the socket closed
//     through the Conn.
//  4. CloseNow closes the net.Conn handed over at the hijack (Conn.Close,
//     which wakes a parked reader), and Reader then returns net.ErrClosed.
//  5. Close's handshake reads the peer's close frame through the Conn (with
//     Closing set, so its reads wait) and returns nil once it arrives.
//  6. Bytes the client sent with its upgrade request reach the library
//     through the Conn, so that they are scanned like the rest.
//  7. When Conn.Read fails with a stream error of its own (what the scan
//     refuses, the message timeout), inside a header, a payload or a
//     control frame, the library passes it up from Reader or the message's
//     Read having written nothing (no close frame: the code is the
//     caller's), and Close then sends the caller's code, does not wait for
//     an answer (its reads fail at once), and closes the socket.

// peerID is what the tests park their connection as.
const peerID = 42

// peer is one server-side coder/websocket connection reading through a
// parking Conn, and the client's raw socket at the other end.
type peer struct {
	t      *testing.T
	ws     *websocket.Conn
	conn   *Conn
	client net.Conn
	br     *bufio.Reader // the client's reads, after the 101
	wakes  chan struct{} // Conn.Kick started a "reader": the poller saw bytes, or the socket closed
	poller *Poller
}

// newPeer upgrades a connection whose server side reads through a Conn with
// a bufio.Reader of readSize in front (as the server does), the client
// sending first right behind its request.
func newPeer(t *testing.T, readSize int, first []byte) *peer {
	t.Helper()
	srv, accepted := acceptServer(t, readSize, websocket.AcceptOptions{}, func(nc net.Conn, br *bufio.Reader) *Conn {
		var early []byte
		if n := br.Buffered(); n > 0 {
			early, _ = br.Peek(n)
		}
		return NewConn(nc, early, true)
	})
	client := dialRaw(t, srv, first)
	client.SetDeadline(time.Now().Add(waitLimit)) // bounds every client read and write below
	br := bufio.NewReader(client)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: got %v %v, want 101", resp, err)
	}
	h := accept(t, accepted)
	h.ws.SetReadLimit(1 << 20) // room for a message with a 64-bit length
	p := &peer{t: t, ws: h.ws, conn: h.conn, client: client, br: br, wakes: make(chan struct{}, 16)}
	p.conn.OnWake(func() {
		select {
		case p.wakes <- struct{}{}:
		default: // the test has not taken the last one yet
		}
	})
	p.poller, err = NewPoller(func(id uint64) {
		if id == peerID {
			p.conn.Kick()
		}
	}, func(err error) { t.Errorf("poller failed: %v", err) })
	if err != nil {
		t.Fatalf("poller: %v", err)
	}
	t.Cleanup(p.poller.Stop)
	t.Cleanup(func() { p.ws.CloseNow() })
	return p
}

// wouldBlock calls Reader, as a reader goroutine does, and requires
// ErrWouldBlock.
func (p *peer) wouldBlock() {
	p.t.Helper()
	typ, r, err := p.ws.Reader(context.Background())
	if !errors.Is(err, ErrWouldBlock) || r != nil {
		p.t.Fatalf("Reader with nothing waiting: got %v %v %v, want an error that is ErrWouldBlock", typ, r, err)
	}
}

// park hands the connection to the poller, as a reader does after
// ErrWouldBlock.
func (p *peer) park() {
	p.t.Helper()
	if ok, err := p.poller.Park(p.conn, peerID); !ok || err != nil {
		p.t.Fatalf("park: got %v %v, want parked", ok, err)
	}
}

// next reads the next message as a reader does: after ErrWouldBlock it
// parks the connection and waits for the poller to wake it.
func (p *peer) next() (websocket.MessageType, []byte) {
	p.t.Helper()
	for {
		typ, r, err := p.ws.Reader(context.Background())
		if errors.Is(err, ErrWouldBlock) {
			p.park()
			wait(p.t, p.wakes, "wake after bytes arrived")
			continue
		}
		if err != nil {
			p.t.Fatalf("Reader: %v", err)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			p.t.Fatalf("read message: %v", err)
		}
		return typ, data
	}
}

// send writes the pieces from the client, pausing between them so that
// the server reads each before the next arrives. The error, if any, is sent
// on the channel once all are written.
func (p *peer) send(pieces ...[]byte) <-chan error {
	done := make(chan error, 1)
	go func() { // ends after the last piece
		for i, b := range pieces {
			if i > 0 {
				time.Sleep(50 * time.Millisecond)
			}
			if _, err := p.client.Write(b); err != nil {
				done <- fmt.Errorf("client: write piece %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	return done
}

// serverFrame reads one frame the server sent to the client (only control
// frames, here) and returns its opcode and payload.
func (p *peer) serverFrame() (byte, []byte) {
	p.t.Helper()
	h, payload, err := wsframe.ReadServer(p.br, 125)
	if err != nil {
		p.t.Fatalf("client: read frame: %v", err)
	}
	if !h.Fin {
		p.t.Fatalf("client: got a fragmented control frame %#x", h.Opcode)
	}
	return h.Opcode, payload
}

// closedByServer requires the server to have closed the socket.
func (p *peer) closedByServer() {
	p.t.Helper()
	if n, err := p.br.Read(make([]byte, 1)); err != io.EOF {
		p.t.Fatalf("client: got %d bytes, %v, want EOF: the server closed the socket", n, err)
	}
}

func closePayload(code websocket.StatusCode, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// TestContractMessagesAfterWouldBlock (points 1 and 2): on one connection,
// every kind of message arrives after the reader found the socket empty and
// parked, and is read intact; after each, Reader finds the socket empty
// again.
func TestContractMessagesAfterWouldBlock(t *testing.T) {
	type message struct {
		typ  websocket.MessageType
		data string
	}
	text := func(s string) message { return message{websocket.MessageText, s} }
	long := bytes.Repeat([]byte("0123456789"), 7000) // a 64-bit length
	split := clientFrame(true, wsframe.OpText, []byte("split"))
	cases := []struct {
		name   string
		pieces [][]byte // written with pauses between them
		want   []message
		pongs  []string // the server's answers to the client's pings, in order
	}{
		{name: "text", pieces: [][]byte{clientFrame(true, wsframe.OpText, []byte("hello"))}, want: []message{text("hello")}},
		{name: "binary", pieces: [][]byte{clientFrame(true, wsframe.OpBinary, []byte{0, 1, 2, 0xff})},
			want: []message{{websocket.MessageBinary, "\x00\x01\x02\xff"}}},
		{name: "empty", pieces: [][]byte{clientFrame(true, wsframe.OpText, nil)}, want: []message{text("")}},
		{name: "16-bit length", pieces: [][]byte{clientFrame(true, wsframe.OpText, bytes.Repeat([]byte("x"), 300))},
			want: []message{text(string(bytes.Repeat([]byte("x"), 300)))}},
		{name: "64-bit length", pieces: [][]byte{clientFrame(true, wsframe.OpBinary, long)},
			want: []message{{websocket.MessageBinary, string(long)}}},
		{name: "header split by a pause", pieces: [][]byte{split[:1], split[1:]}, want: []message{text("split")}},
		{name: "mask split by a pause", pieces: [][]byte{split[:4], split[4:]}, want: []message{text("split")}},
		{name: "payload split by a pause", pieces: [][]byte{split[:8], split[8:]}, want: []message{text("split")}},
		{name: "fragments with a ping between", pieces: [][]byte{
			clientFrame(false, wsframe.OpText, []byte("frag")), clientFrame(true, wsframe.OpPing, []byte("p1")),
			clientFrame(false, wsframe.OpContinuation, []byte("ment")), clientFrame(true, wsframe.OpContinuation, []byte("ed")),
		}, want: []message{text("fragmented")}, pongs: []string{"p1"}},
		{name: "a ping first", pieces: [][]byte{append(clientFrame(true, wsframe.OpPing, []byte("p2")), clientFrame(true, wsframe.OpText, []byte("after a ping"))...)},
			want: []message{text("after a ping")}, pongs: []string{"p2"}},
		{name: "a ping, a pause, then the message", pieces: [][]byte{clientFrame(true, wsframe.OpPing, []byte("p3")), clientFrame(true, wsframe.OpText, []byte("later"))},
			want: []message{text("later")}, pongs: []string{"p3"}},
		{name: "a pong first", pieces: [][]byte{append(clientFrame(true, wsframe.OpPong, []byte("unasked")), clientFrame(true, wsframe.OpBinary, []byte("b"))...)},
			want: []message{{websocket.MessageBinary, "b"}}},
		{name: "two messages at once", pieces: [][]byte{append(clientFrame(true, wsframe.OpText, []byte("one")), clientFrame(true, wsframe.OpText, []byte("two"))...)},
			want: []message{text("one"), text("two")}},
	}
	// The server's bufio.Reader is 16 bytes where connections park, 512
	// where they do not; the contract must not depend on it.
	for _, size := range []int{16, 4096} {
		t.Run(fmt.Sprintf("read buffer %d", size), func(t *testing.T) {
			p := newPeer(t, size, nil)
			for _, c := range cases {
				// Reader consumed nothing each time: the messages below
				// would not be read intact otherwise.
				p.wouldBlock()
				p.wouldBlock()
				p.park()
				sent := p.send(c.pieces...)
				wait(t, p.wakes, c.name+": wake after bytes arrived")
				for _, want := range c.want {
					typ, data := p.next()
					if typ != want.typ || string(data) != want.data {
						t.Fatalf("%s: got %v %.40q (%d bytes), want %v %.40q (%d bytes)", c.name, typ, data, len(data), want.typ, want.data, len(want.data))
					}
				}
				for _, want := range c.pongs {
					if op, payload := p.serverFrame(); op != wsframe.OpPong || string(payload) != want {
						t.Fatalf("%s: got opcode %#x %q, want a pong %q", c.name, op, payload, want)
					}
				}
				if err := wait(t, sent, c.name+": client's writes"); err != nil {
					t.Fatal(err)
				}
			}
			p.wouldBlock()
		})
	}
}

// TestContractPongAtParkedConnection (point 3): the heartbeat pings a parked
// connection; the pong wakes it, Reader reads the pong, completes the Ping,
// and returns ErrWouldBlock, as nothing else is there.
func TestContractPongAtParkedConnection(t *testing.T) {
	p := newPeer(t, 16, nil)
	p.wouldBlock()
	p.park()
	pinged := make(chan error, 1)
	go func() { // ends when the pong is read, or after waitLimit
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		pinged <- p.ws.Ping(ctx)
	}()
	op, payload := p.serverFrame()
	if op != wsframe.OpPing {
		t.Fatalf("client: got opcode %#x %q, want a ping", op, payload)
	}
	if _, err := p.client.Write(clientFrame(true, wsframe.OpPong, payload)); err != nil {
		t.Fatalf("client: write pong: %v", err)
	}
	wait(t, p.wakes, "wake after the pong arrived")
	p.wouldBlock()
	if err := wait(t, pinged, "Ping"); err != nil {
		t.Fatalf("Ping: got %v, want nil: the pong read by Reader answers it", err)
	}
}

// TestContractCloseFrameAtParkedConnection (point 3): a close frame reaching
// a parked connection wakes it; Reader answers it with the same code, closes
// the socket, and returns the peer's close status.
func TestContractCloseFrameAtParkedConnection(t *testing.T) {
	p := newPeer(t, 16, nil)
	p.wouldBlock()
	p.park()
	if _, err := p.client.Write(clientFrame(true, wsframe.OpClose, closePayload(websocket.StatusNormalClosure, "bye"))); err != nil {
		t.Fatalf("client: write close: %v", err)
	}
	wait(t, p.wakes, "wake after the close frame arrived")
	_, _, err := p.ws.Reader(context.Background())
	if got := websocket.CloseStatus(err); got != websocket.StatusNormalClosure {
		t.Fatalf("Reader: got %v (status %v), want the peer's close status %v", err, got, websocket.StatusNormalClosure)
	}
	op, payload := p.serverFrame()
	if op != wsframe.OpClose || len(payload) < 2 || websocket.StatusCode(binary.BigEndian.Uint16(payload)) != websocket.StatusNormalClosure {
		t.Fatalf("client: got opcode %#x %q, want a close frame with %v", op, payload, websocket.StatusNormalClosure)
	}
	p.closedByServer()
}

// TestContractCloseNowWakesParkedReader (point 4): CloseNow closes the
// socket through the Conn, whose Close wakes the parked connection's reader
// (no event would come from the poller for a closed socket); that reader's
// Reader returns net.ErrClosed.
func TestContractCloseNowWakesParkedReader(t *testing.T) {
	p := newPeer(t, 16, nil)
	p.wouldBlock()
	p.park()
	if err := p.ws.CloseNow(); err != nil {
		t.Fatalf("CloseNow: %v", err)
	}
	wait(t, p.wakes, "wake after CloseNow")
	if _, _, err := p.ws.Reader(context.Background()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Reader after CloseNow: got %v, want net.ErrClosed", err)
	}
	p.closedByServer()
}

// TestContractCloseHandshakeReadsThroughConn (points 1 and 5): while the
// connection is parked (Reader returned ErrWouldBlock and holds no lock),
// Close sends its close frame and reads the peer's answer through the Conn;
// with Closing set, those reads wait for an answer that comes late.
func TestContractCloseHandshakeReadsThroughConn(t *testing.T) {
	p := newPeer(t, 16, nil)
	p.wouldBlock()
	p.park()
	p.conn.Closing()
	closed := make(chan error, 1)
	go func() { closed <- p.ws.Close(websocket.StatusGoingAway, "bye") }() // ends with the handshake, at most 5 s (the library's limit)
	op, payload := p.serverFrame()
	if op != wsframe.OpClose || len(payload) < 2 || websocket.StatusCode(binary.BigEndian.Uint16(payload)) != websocket.StatusGoingAway {
		t.Fatalf("client: got opcode %#x %q, want a close frame with %v", op, payload, websocket.StatusGoingAway)
	}
	time.Sleep(100 * time.Millisecond) // the handshake is now waiting in a read
	if _, err := p.client.Write(clientFrame(true, wsframe.OpClose, closePayload(websocket.StatusGoingAway, ""))); err != nil {
		t.Fatalf("client: write close: %v", err)
	}
	if err := wait(t, closed, "Close"); err != nil {
		t.Fatalf("Close: got %v, want nil: the peer answered the handshake", err)
	}
	p.closedByServer()
}

// TestContractEarlyBytes (point 6): frames sent in the same write as the
// upgrade request are read through the Conn: the message is read, the ping
// after it answered, and then the socket is empty at a boundary.
func TestContractEarlyBytes(t *testing.T) {
	first := append(clientFrame(true, wsframe.OpText, []byte("early")), clientFrame(true, wsframe.OpPing, []byte("pe"))...)
	p := newPeer(t, 16, first)
	typ, data := p.next()
	if typ != websocket.MessageText || string(data) != "early" {
		t.Fatalf("got %v %q, want the text message sent with the upgrade request", typ, data)
	}
	p.wouldBlock() // reads the ping, answers it, finds nothing more
	if op, payload := p.serverFrame(); op != wsframe.OpPong || string(payload) != "pe" {
		t.Fatalf("client: got opcode %#x %q, want a pong %q", op, payload, "pe")
	}
}

// TestContractStreamErrorReachesReader (point 7): each stream error Conn
// finds, wherever in the stream it is, reaches the reader as an error with
// nothing sent by the library; Close then sends the reader's chosen code at
// once and closes the socket.
func TestContractStreamErrorReachesReader(t *testing.T) {
	unmasked := append([]byte{0x81, 0x05}, "hello"...)
	cases := []struct {
		name    string
		pieces  [][]byte
		inMsg   bool // the error comes inside a message: from its Read, not Reader
		want    error
		timeout time.Duration
	}{
		{name: "unmasked, a message first", pieces: [][]byte{append(clientFrame(true, wsframe.OpText, []byte("ok")), unmasked...)}, want: errUnmasked},
		{name: "unmasked continuation", pieces: [][]byte{clientFrame(false, wsframe.OpText, []byte("a")), {0x80, 0x01, 'b'}}, inMsg: true, want: errUnmasked},
		{name: "over the limit", pieces: [][]byte{wsframe.AppendHeader(nil, true, wsframe.OpText, 1<<20+1, wsframe.Key)}, want: ErrTooBig},
		{name: "close reason not UTF-8", pieces: [][]byte{clientFrame(true, wsframe.OpClose, []byte{0x03, 0xe8, 0xff})}, want: ErrCloseReason},
		{name: "a payload not completed", pieces: [][]byte{clientFrame(true, wsframe.OpText, []byte("abc"))[:8]}, inMsg: true, want: ErrMessageTimeout, timeout: 100 * time.Millisecond},
		{name: "a header not completed", pieces: [][]byte{{0x81}}, want: ErrMessageTimeout, timeout: 100 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPeer(t, 16, nil)
			p.conn.SetLimits(1<<20, c.timeout)
			p.wouldBlock()
			p.park()
			if err := wait(t, p.send(c.pieces...), "client's writes"); err != nil {
				t.Fatal(err)
			}
			wait(t, p.wakes, "wake after bytes arrived")
			var err error
			for err == nil {
				var r io.Reader
				_, r, err = p.ws.Reader(context.Background())
				if errors.Is(err, ErrWouldBlock) {
					t.Fatalf("Reader: got ErrWouldBlock, want %v", c.want)
				}
				if err == nil {
					_, err = io.Copy(io.Discard, r)
					if err == nil && c.inMsg {
						t.Fatalf("message read to its end, want %v inside it", c.want)
					}
				}
			}
			if !errors.Is(p.conn.Err(), c.want) || !errors.Is(err, c.want) {
				t.Fatalf("got %v (Conn.Err %v), want %v", err, p.conn.Err(), c.want)
			}
			closed := make(chan error, 1)
			p.conn.Closing()
			go func() { closed <- p.ws.Close(websocket.StatusProtocolError, "refused") }() // ends at once: its reads fail
			// The first frame the client gets is the caller's close: the
			// library sent nothing of its own before it.
			op, payload := p.serverFrame()
			if op != wsframe.OpClose || len(payload) < 2 || websocket.StatusCode(binary.BigEndian.Uint16(payload)) != websocket.StatusProtocolError {
				t.Fatalf("client: got opcode %#x %q, want the caller's close frame %v", op, payload, websocket.StatusProtocolError)
			}
			wait(t, closed, "Close")
			p.closedByServer()
		})
	}
}
