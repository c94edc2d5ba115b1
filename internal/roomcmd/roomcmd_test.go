package roomcmd_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"

	"parley/internal/protocol"
	"parley/internal/roomcmd"
	"parley/internal/server"
	"parley/internal/testkit"
	"parley/transport/outbound"
)

// A room with a message in it, on srv.
func spamRoom(t *testing.T, srv *server.Server) {
	t.Helper()
	q := outbound.New(srv.Hub().OutboxLimits())
	s := srv.Hub().Connect("192.0.2.1", q)
	defer s.Close()
	ctx := context.Background()
	s.Handle(ctx, protocol.Request{Type: protocol.TypeJoinRoom, Room: "spam"})
	s.Handle(ctx, protocol.Request{Type: protocol.TypeSendMessage, Room: "spam", Content: "buy now"})
	if err := srv.Store().Sync(ctx); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := roomcmd.Run(context.Background(), args, &out, &errOut, "unused.db", "127.0.0.1:1")
	t.Logf("parley room %s: %s%s", strings.Join(args, " "), out.String(), errOut.String())
	return out.String(), err
}

// With a server running, `parley room delete` asks it (its admin
// listener), and the room is gone from the server at once; an unknown or
// default room is refused. With none, it deletes from the database.
func TestRoomDelete(t *testing.T) {
	srv := testkit.StartServer(t, server.Config{})
	spamRoom(t, srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	admin := &http.Server{Handler: srv.Transport().AdminHandler()}
	go admin.Serve(ln) // returns when Close is called below
	defer admin.Close()

	if _, err := run(t, "delete", "SPAM", "-admin", ln.Addr().String()); err != nil {
		t.Fatalf("delete with a server: %v", err)
	}
	if err := srv.Hub().DeleteRoom(context.Background(), "spam"); err == nil {
		t.Errorf("the server still knows spam after the command")
	}
	for name, want := range map[string]string{"nowhere": "404", "general": "409"} {
		if _, err := run(t, "delete", name, "-admin", ln.Addr().String()); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("delete %s: got %v, want the server's %s", name, err, want)
		}
	}

	// No server: straight from the database.
	spamRoom(t, srv)
	db := srv.DB()
	testkit.Stop(t, srv)
	admin.Close()
	if out, _ := run(t, "list", "-db", db); !strings.Contains(out, "spam") {
		t.Fatalf("list before: got %q, want spam", out)
	}
	if _, err := run(t, "delete", "spam", "-db", db, "-admin", ln.Addr().String()); err != nil {
		t.Fatalf("delete without a server: %v", err)
	}
	if out, _ := run(t, "list", "-db", db); strings.Contains(out, "spam") {
		t.Errorf("list after: got %q, want no spam", out)
	}
	if _, err := run(t, "delete", "general", "-db", db, "-admin", ln.Addr().String()); err == nil {
		t.Errorf("delete general without a server: got no error")
	}
}
