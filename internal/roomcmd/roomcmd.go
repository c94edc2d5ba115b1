// Package roomcmd is the operator's command line for rooms, `parley room
// ...`. A running server deletes a room itself, through its admin
// listener (its members are told, and it is forgotten at once); with none
// answering there, the command deletes it from the database directly.
package roomcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"parley/actors"
	"parley/internal/protocol"
	"parley/internal/server"
	"parley/internal/subcmd"
	"parley/persistence"
)

// Usage is the subcommand's help.
const Usage = `Usage:
  parley room delete NAME [-admin ADDR] [-db FILE]   delete a room and its messages
  parley room list [-db FILE]                        list the rooms that hold messages

delete asks the server running with -admin-addr ADDR (default $PARLEY_ADMIN_ADDR,
else 127.0.0.1:9002) to delete the room: its members are told, and it is gone
at once. When no server answers there, it deletes the room from the database
(-db, default $PARLEY_DB, else chat.db) itself: a server running with its admin
listener off (-admin-addr "") would not know, so stop it first. The default
rooms (general, random, tech) cannot be deleted.
`

// Run runs `parley room` with args (what follows "room"); db and admin are
// the defaults of -db and -admin.
func Run(ctx context.Context, args []string, out, errOut io.Writer, db, admin string) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, Usage)
		return errors.New("room: missing subcommand")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, Usage)
		return nil
	case "delete", "list":
	default:
		fmt.Fprint(errOut, Usage)
		return fmt.Errorf("room: unknown subcommand %q", cmd)
	}
	fs := subcmd.FlagSet("room "+cmd, Usage, errOut)
	fs.StringVar(&db, "db", db, "SQLite database `file`, or a postgres:// URL")
	if cmd == "delete" {
		fs.StringVar(&admin, "admin", admin, "the running server's admin `address`")
	}
	operands, err := subcmd.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if want := map[string]int{"delete": 1, "list": 0}[cmd]; len(operands) != want {
		fmt.Fprint(errOut, Usage)
		return fmt.Errorf("room %s: want %d name, got %d", cmd, want, len(operands))
	}
	if cmd == "list" {
		return list(ctx, out, errOut, db)
	}
	name, ok := actors.NormalizeRoom(operands[0], 1<<10)
	if !ok {
		return fmt.Errorf("room delete: %q is not a room name", operands[0])
	}
	err = askServer(ctx, admin, name)
	if !errors.Is(err, errNoServer) {
		if err == nil {
			fmt.Fprintf(out, "deleted %s (the server at %s did)\n", name, admin)
		}
		return err
	}
	fmt.Fprintf(errOut, "no server answered at %s: deleting %s from %s\n", admin, name, db)
	return deleteInDB(ctx, out, errOut, db, name)
}

var errNoServer = errors.New("no server answers")

// askServer asks the server at admin to delete the room; errNoServer if
// nothing listens there.
func askServer(ctx context.Context, admin, name string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, "http://"+admin+"/rooms/"+url.PathEscape(name), nil)
	if err != nil {
		return fmt.Errorf("room delete: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return errNoServer
	}
	if err != nil {
		return fmt.Errorf("room delete: ask the server at %s: %w", admin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return fmt.Errorf("room delete %s: the server says %s: %s", name, resp.Status, strings.TrimSpace(string(body)))
}

// deleteInDB deletes the room from the database, with no server running.
func deleteInDB(ctx context.Context, out, errOut io.Writer, db, name string) error {
	if name == "general" || name == "random" || name == "tech" {
		return fmt.Errorf("room delete %s: %w", name, actors.ErrDefaultRoom)
	}
	store, err := open(ctx, errOut, db)
	if err != nil {
		return err
	}
	err = store.DeleteRoom(ctx, name)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		fmt.Fprintf(out, "deleted %s from %s\n", name, db)
	}
	return err
}

func list(ctx context.Context, out, errOut io.Writer, db string) error {
	store, err := open(ctx, errOut, db)
	if err != nil {
		return err
	}
	rooms, err := store.Rooms(ctx)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROOM\tCREATED")
	for _, r := range rooms {
		fmt.Fprintf(tw, "%s\t%s\n", r.Name, protocol.FormatTimestamp(r.CreatedAt))
	}
	return tw.Flush()
}

func open(ctx context.Context, errOut io.Writer, db string) (server.Store, error) {
	return server.OpenStore(ctx, db, persistence.Options{Logger: slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))})
}
