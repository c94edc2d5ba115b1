package usercmd_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"parley/internal/accounts"
	"parley/internal/testkit"
	"parley/internal/usercmd"
	"parley/persistence"
)

// run runs `parley user args...` with stdin as the password input.
func run(t *testing.T, db, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	var out, errOut bytes.Buffer
	err := usercmd.Run(ctx, args, strings.NewReader(stdin), &out, &errOut, db)
	if errOut.Len() > 0 {
		t.Logf("stderr: %s", errOut.String())
	}
	return out.String(), err
}

// withService opens db and gives f a Service on it (as the server would),
// then closes it.
func withService(t *testing.T, db string, f func(ctx context.Context, s *accounts.Service)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	defer cancel()
	st, err := persistence.Open(ctx, db, persistence.Options{Logger: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	s, err := accounts.New(accounts.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	f(ctx, s)
}

func TestUserAddListPasswd(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	// The flag may follow the name, as the issue writes it.
	if out, err := run(t, db, "correct horse\n", "add", "root", "--admin"); err != nil || !strings.Contains(out, "added root (admin)") {
		t.Fatalf("add root --admin: got %q, %v", out, err)
	}
	if out, err := run(t, db, "another horse", "add", "-db", db, "lena"); err != nil || !strings.Contains(out, "added lena (user)") {
		t.Fatalf("add lena (no final newline): got %q, %v", out, err)
	}
	if _, err := run(t, db, "third horse\n", "add", "LENA"); !errors.Is(err, accounts.ErrTaken) {
		t.Errorf("add LENA: got %v, want ErrTaken", err)
	}
	if _, err := run(t, db, "short\n", "add", "mona"); !errors.Is(err, accounts.ErrWeakPassword) {
		t.Errorf("add with a short password: got %v, want ErrWeakPassword", err)
	}
	if _, err := run(t, db, "", "add", "mona"); err == nil {
		t.Error("add with no password on stdin: got nil, want an error")
	}
	out, err := run(t, db, "", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "USERNAME") ||
		!strings.HasPrefix(lines[1], "root ") || !strings.Contains(lines[1], "admin") ||
		!strings.HasPrefix(lines[2], "lena ") || !strings.Contains(lines[2], "user") {
		t.Errorf("list: got\n%s\nwant a header, root admin, lena user", out)
	}

	var token string
	withService(t, db, func(ctx context.Context, s *accounts.Service) {
		var err error
		if _, token, err = s.Login(ctx, "lena", "another horse", "192.0.2.1"); err != nil {
			t.Fatalf("login with the password given to add: %v", err)
		}
	})
	if out, err := run(t, db, "a new horse\r\n", "passwd", "lena"); err != nil || !strings.Contains(out, "password of lena set") {
		t.Fatalf("passwd lena: got %q, %v", out, err)
	}
	withService(t, db, func(ctx context.Context, s *accounts.Service) {
		if _, err := s.Authenticate(ctx, token); !errors.Is(err, accounts.ErrUnauthorized) {
			t.Errorf("session after passwd: got %v, want ErrUnauthorized", err)
		}
		if _, _, err := s.Login(ctx, "lena", "a new horse", "192.0.2.1"); err != nil {
			t.Errorf("login with the new password (CRLF stripped): %v", err)
		}
	})
	if _, err := run(t, db, "a new horse\n", "passwd", "nobody"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("passwd nobody: got %v, want ErrNotFound", err)
	}
}

func TestUserUsageErrors(t *testing.T) {
	db := filepath.Join(t.TempDir(), "chat.db")
	for _, args := range [][]string{{}, {"remove", "x"}, {"add"}, {"add", "a", "b"}, {"list", "x"}, {"add", "x", "-nope"}} {
		if _, err := run(t, db, "correct horse\n", args...); err == nil {
			t.Errorf("user %q: got nil, want an error", args)
		}
	}
	if out, err := run(t, db, "", "help"); err != nil || !strings.Contains(out, "parley user add NAME") {
		t.Errorf("user help: got %q, %v", out, err)
	}
}
