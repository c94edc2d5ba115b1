// Package usercmd is the operator's command line for accounts, `parley user
// ...`: add an account (the first admin among them), set a password, list
// the accounts. It opens the database itself, so it works with the server
// stopped, and also while it runs (SQLite's WAL lets both write; the
// server's sessions of an account whose password is set end at once, since
// the server keeps none in memory).
package usercmd

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"parley/internal/accounts"
	"parley/internal/protocol"
	"parley/internal/server"
	"parley/internal/subcmd"
	"parley/persistence"
)

// Usage is the subcommand's help.
const Usage = `Usage:
  parley user add NAME [-admin] [-db FILE]   create an account (role admin with -admin)
  parley user passwd NAME [-db FILE]         set an account's password; ends its sessions
  parley user list [-db FILE]                list the accounts

The password is read from the terminal (asked twice), or, when the standard
input is not a terminal, as its first line. -db defaults to $PARLEY_DB, else
chat.db.
`

// Run runs `parley user` with args (what follows "user"). The password is
// read from in: from the terminal with a prompt on errOut if in is one,
// else its first line. db is the database unless -db says otherwise.
func Run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer, db string) error {
	if len(args) == 0 {
		fmt.Fprint(errOut, Usage)
		return errors.New("user: missing subcommand")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, Usage)
		return nil
	}
	fs := subcmd.FlagSet("user "+cmd, Usage, errOut)
	fs.StringVar(&db, "db", db, "SQLite database `file`, or a postgres:// URL")
	admin := false
	if cmd == "add" {
		fs.BoolVar(&admin, "admin", false, "make the account an admin")
	}
	operands, err := subcmd.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	want := 1
	if cmd == "list" {
		want = 0
	}
	switch cmd {
	case "add", "passwd", "list":
	default:
		fmt.Fprint(errOut, Usage)
		return fmt.Errorf("user: unknown subcommand %q", cmd)
	}
	if len(operands) != want {
		fmt.Fprint(errOut, Usage)
		return fmt.Errorf("user %s: want %d name, got %d", cmd, want, len(operands))
	}

	store, err := server.OpenStore(ctx, db, persistence.Options{Logger: slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	svc, err := accounts.New(accounts.Config{Store: store})
	if err == nil {
		err = run(ctx, svc, cmd, operands, admin, in, out, errOut)
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	return err
}

func run(ctx context.Context, svc *accounts.Service, cmd string, operands []string, admin bool, in io.Reader, out, errOut io.Writer) error {
	switch cmd {
	case "list":
		list, err := svc.Accounts(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tROLE\tCREATED")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Username, a.Role, protocol.FormatTimestamp(a.CreatedAt))
		}
		return tw.Flush()
	case "add":
		pw, err := readPassword(in, errOut)
		if err != nil {
			return err
		}
		role := accounts.RoleUser
		if admin {
			role = accounts.RoleAdmin
		}
		a, err := svc.AddAccount(ctx, operands[0], pw, role)
		if err != nil {
			return fmt.Errorf("user add %s: %w", operands[0], explain(err))
		}
		fmt.Fprintf(out, "added %s (%s)\n", a.Username, a.Role)
		return nil
	default: // passwd
		pw, err := readPassword(in, errOut)
		if err != nil {
			return err
		}
		a, err := svc.SetPassword(ctx, operands[0], pw)
		if err != nil {
			return fmt.Errorf("user passwd %s: %w", operands[0], explain(err))
		}
		fmt.Fprintf(out, "password of %s set; its sessions have ended\n", a.Username)
		return nil
	}
}

// explain adds the rule to an error the operator can fix.
func explain(err error) error {
	switch {
	case errors.Is(err, accounts.ErrWeakPassword):
		return fmt.Errorf("%w: %d to %d bytes, not the name itself", err, accounts.PasswordMin, accounts.PasswordMax)
	case errors.Is(err, accounts.ErrInvalidUsername):
		return fmt.Errorf("%w: letters, digits, '_' and '-' only", err)
	case errors.Is(err, accounts.ErrTaken):
		return fmt.Errorf("%w (or one that reads like it)", err)
	}
	return err
}

// readPassword reads the password: from the terminal, asked twice, when in
// is one; else in's first line, without its line ending.
func readPassword(in io.Reader, prompt io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(prompt, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
