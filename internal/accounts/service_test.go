package accounts_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"parley/actors"
	"parley/internal/accounts"
	"parley/internal/testkit"
	"parley/persistence"
)

// cheap are hash parameters for tests (see password_test.go).
var cheap = accounts.HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

// clock is a time source that moves only when the test says so.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.WaitLimit)
	t.Cleanup(cancel)
	return ctx
}

// openStore opens a real SQLite store at path, closed when the test ends.
func openStore(t *testing.T, path string) *persistence.Store {
	t.Helper()
	st, err := persistence.Open(testCtx(t), path, persistence.Options{Logger: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return st
}

// newService is a Service on a real store at path (a new file if ""),
// with cheap hashes and c's time unless cfg says otherwise.
func newService(t *testing.T, cfg accounts.Config, path string, c *clock) *accounts.Service {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "chat.db")
	}
	cfg.Store = openStore(t, path)
	if cfg.Hash == (accounts.HashParams{}) {
		cfg.Hash = cheap
	}
	if c != nil {
		cfg.Now = c.Now
	}
	cfg.Logger = testkit.Logger(t, slog.LevelWarn)
	s, err := accounts.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const ip = "192.0.2.1"

func TestRegisterLoginAuthenticate(t *testing.T) {
	s := newService(t, accounts.Config{}, "", newClock())
	ctx := testCtx(t)
	auth, token, err := s.Register(ctx, "Alice", "correct horse", ip)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	if auth.Username != "Alice" || auth.Role != accounts.RoleUser || len(token) != 43 {
		t.Errorf("Register: got %+v and a token of %d characters, want Alice, user, 43", auth, len(token))
	}
	if got, err := s.Authenticate(ctx, token); err != nil || got.Username != "Alice" || got.Session != auth.Session {
		t.Errorf("Authenticate: got %+v, %v, want Alice's session", got, err)
	}
	for _, tc := range []struct {
		name, password string
		want           error
	}{
		{"al1ce", "another horse", accounts.ErrTaken}, // reads as Alice
		{"ALICE", "another horse", accounts.ErrTaken},
		{"Adm1n", "another horse", accounts.ErrInvalidUsername},
		{"guest-42", "another horse", accounts.ErrInvalidUsername},
		{"bad name", "another horse", accounts.ErrInvalidUsername},
		{"", "another horse", accounts.ErrInvalidUsername},
		{strings.Repeat("x", actors.DefaultLimits.UsernameMax+1), "another horse", accounts.ErrInvalidUsername},
		{"bob", "short", accounts.ErrWeakPassword},
		{"bobby-tables", "BOBBY-TABLES", accounts.ErrWeakPassword},
	} {
		if _, _, err := s.Register(ctx, tc.name, tc.password, ip); !errors.Is(err, tc.want) {
			t.Errorf("Register(%q, %q): got %v, want %v", tc.name, tc.password, err, tc.want)
		}
	}
	if ok, err := s.Registered(ctx, actors.Skeleton("AL1CE")); err != nil || !ok {
		t.Errorf("Registered(alice's skeleton): got %t, %v, want true", ok, err)
	}
	if ok, err := s.Registered(ctx, actors.Skeleton("bob")); err != nil || ok {
		t.Errorf("Registered(bob): got %t, %v, want false", ok, err)
	}
	if name, ok, err := s.AccountName(ctx, actors.Skeleton("AL1CE")); err != nil || !ok || name != "Alice" {
		t.Errorf("AccountName(alice's skeleton): got %q, %t, %v, want Alice, true", name, ok, err)
	}
	if name, ok, err := s.AccountName(ctx, actors.Skeleton("bob")); err != nil || ok || name != "" {
		t.Errorf("AccountName(bob): got %q, %t, %v, want none", name, ok, err)
	}

	login, token2, err := s.Login(ctx, "alice", "correct horse", ip)
	if err != nil || login.Username != "Alice" || token2 == token || login.Session == auth.Session {
		t.Errorf("Login: got %+v, %v, want a new session of Alice", login, err)
	}
	// An unknown name and a wrong password: one error, the same value.
	_, _, wrong := s.Login(ctx, "alice", "wrong horse", ip)
	_, _, unknown := s.Login(ctx, "nobody", "wrong horse", ip)
	_, _, invalid := s.Login(ctx, "no body!", "wrong horse", ip)
	if wrong != accounts.ErrBadCredentials || unknown != accounts.ErrBadCredentials || invalid != accounts.ErrBadCredentials {
		t.Errorf("wrong password, unknown name, invalid name: got %v, %v, %v, want ErrBadCredentials alike", wrong, unknown, invalid)
	}
	for _, bad := range []string{"", "x", token[:42], token + "A", strings.Repeat("A", 43)} {
		if _, err := s.Authenticate(ctx, bad); !errors.Is(err, accounts.ErrUnauthorized) {
			t.Errorf("Authenticate(%q): got %v, want ErrUnauthorized", bad, err)
		}
	}
}

func TestSessionExpirySlidesWithUse(t *testing.T) {
	c := newClock()
	s := newService(t, accounts.Config{}, "", c)
	ctx := testCtx(t)
	_, used, err := s.Register(ctx, "carol", "correct horse", ip)
	if err != nil {
		t.Fatal(err)
	}
	_, unused, err := s.Login(ctx, "carol", "correct horse", ip)
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	c.Add(29 * day)
	if _, err := s.Authenticate(ctx, used); err != nil {
		t.Fatalf("after 29 days: %v", err)
	}
	c.Add(day) // 30 days after the login: the unused session has expired
	if _, err := s.Authenticate(ctx, unused); !errors.Is(err, accounts.ErrUnauthorized) {
		t.Errorf("unused session after 30 days: got %v, want ErrUnauthorized", err)
	}
	c.Add(28 * day) // 58 days: 29 after its last use
	auth, err := s.Authenticate(ctx, used)
	if err != nil {
		t.Fatalf("used session 29 days after its last use: %v", err)
	}
	if want := c.Now().Add(accounts.DefaultSessionTTL); !auth.Expires.Equal(want) {
		t.Errorf("expiry after use: got %v, want %v", auth.Expires, want)
	}
	c.Add(30 * day)
	if _, err := s.Authenticate(ctx, used); !errors.Is(err, accounts.ErrUnauthorized) {
		t.Errorf("used session 30 days after its last use: got %v, want ErrUnauthorized", err)
	}
}

func TestLogoutLogoutAllAndPasswordChange(t *testing.T) {
	s := newService(t, accounts.Config{}, "", newClock())
	ctx := testCtx(t)
	_, t1, err := s.Register(ctx, "dave", "first password", ip)
	if err != nil {
		t.Fatal(err)
	}
	login := func(pw string) string {
		t.Helper()
		_, tok, err := s.Login(ctx, "dave", pw, ip)
		if err != nil {
			t.Fatalf("Login(%q): %v", pw, err)
		}
		return tok
	}
	valid := func(what, tok string, want bool) {
		t.Helper()
		if _, err := s.Authenticate(ctx, tok); (err == nil) != want {
			t.Errorf("%s: Authenticate got %v, want valid=%t", what, err, want)
		}
	}
	t2, t3 := login("first password"), login("first password")

	if _, err := s.Logout(ctx, t1); err != nil {
		t.Fatal(err)
	}
	valid("logged out", t1, false)
	valid("another session after a logout", t2, true)
	if _, err := s.Logout(ctx, t1); !errors.Is(err, accounts.ErrUnauthorized) {
		t.Errorf("second logout: got %v, want ErrUnauthorized", err)
	}

	if _, err := s.ChangePassword(ctx, t2, "wrong password", "second password", ip); err != accounts.ErrBadCredentials {
		t.Errorf("change with a wrong old password: got %v, want ErrBadCredentials", err)
	}
	if _, err := s.ChangePassword(ctx, t2, "first password", "2short", ip); !errors.Is(err, accounts.ErrWeakPassword) {
		t.Errorf("change to a weak password: got %v, want ErrWeakPassword", err)
	}
	valid("after refused changes", t3, true)
	if _, err := s.ChangePassword(ctx, t2, "first password", "second password", ip); err != nil {
		t.Fatalf("ChangePassword: %v", err)
	}
	valid("the session that changed it", t2, true)
	valid("another session after the change", t3, false)
	if _, _, err := s.Login(ctx, "dave", "first password", ip); err != accounts.ErrBadCredentials {
		t.Errorf("old password: got %v, want ErrBadCredentials", err)
	}
	t4 := login("second password")

	if _, err := s.LogoutAll(ctx, t4); err != nil {
		t.Fatal(err)
	}
	valid("after logout-all", t2, false)
	valid("after logout-all", t4, false)
	if _, err := s.LogoutAll(ctx, t4); !errors.Is(err, accounts.ErrUnauthorized) {
		t.Errorf("logout-all without a session: got %v, want ErrUnauthorized", err)
	}
}

func TestLoginRehashesOlderParameters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := testCtx(t)
	st, err := persistence.Open(ctx, path, persistence.Options{Logger: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	old, err := accounts.New(accounts.Config{Store: st, Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := old.Register(ctx, "erin", "correct horse", ip); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	stronger := accounts.HashParams{MemoryKiB: 128, Time: 2, Threads: 1}
	s := newService(t, accounts.Config{Hash: stronger}, path, nil)
	if _, _, err := s.Login(ctx, "erin", "correct horse", ip); err != nil {
		t.Fatal(err)
	}
	list, err := s.Accounts(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("Accounts: %v, %v", list, err)
	}
	if want := "$argon2id$v=19$m=128,t=2,p=1$"; !strings.HasPrefix(list[0].PasswordHash, want) {
		t.Errorf("hash after login: got %q, want prefix %q", list[0].PasswordHash, want)
	}
	if _, _, err := s.Login(ctx, "erin", "correct horse", ip); err != nil {
		t.Errorf("login with the rehashed password: %v", err)
	}
}

func TestFailedLoginsAreLimitedPerAccountAndPerIP(t *testing.T) {
	c := newClock()
	s := newService(t, accounts.Config{
		FailuresPerAccount: accounts.Limit{Burst: 3, Every: time.Minute},
		FailuresPerIP:      accounts.Limit{Burst: 5, Every: time.Minute},
	}, "", c)
	ctx := testCtx(t)
	if _, _, err := s.Register(ctx, "frank", "correct horse", ip); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := s.Login(ctx, "frank", "wrong", "198.51.100.1"); err != accounts.ErrBadCredentials {
			t.Fatalf("failure %d: got %v, want ErrBadCredentials", i, err)
		}
	}
	// The account is limited from any address, even with its password.
	var limited *accounts.RateLimitedError
	_, _, err := s.Login(ctx, "FRANK", "correct horse", "198.51.100.2")
	if !errors.As(err, &limited) || !errors.Is(err, accounts.ErrRateLimited) || limited.RetryAfter != time.Minute {
		t.Fatalf("fourth attempt: got %v, want RateLimitedError after 1m", err)
	}
	c.Add(time.Minute)
	if _, _, err := s.Login(ctx, "frank", "correct horse", "198.51.100.2"); err != nil {
		t.Errorf("a minute later: got %v, want a session", err)
	}

	// One address failing over many names is limited too.
	for i, name := range []string{"a1", "a2", "a3", "a4", "a5"} {
		if _, _, err := s.Login(ctx, name, "wrong", "203.0.113.9"); err != accounts.ErrBadCredentials {
			t.Fatalf("failure %d: got %v, want ErrBadCredentials", i, err)
		}
	}
	if _, _, err := s.Login(ctx, "frank", "correct horse", "203.0.113.9"); !errors.As(err, &limited) {
		t.Errorf("sixth attempt from that address: got %v, want RateLimitedError", err)
	}
	if _, _, err := s.Login(ctx, "frank", "correct horse", "203.0.113.10"); err != nil {
		t.Errorf("from another address: got %v, want a session", err)
	}
	// A wrong old password counts as a failed login.
	c.Add(3 * time.Minute) // frank's bucket refills
	_, tok, err := s.Login(ctx, "frank", "correct horse", ip)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.ChangePassword(ctx, tok, "wrong", "new password", ip); err != accounts.ErrBadCredentials {
			t.Fatalf("wrong old password: got %v", err)
		}
	}
	if _, err := s.ChangePassword(ctx, tok, "correct horse", "new password", ip); !errors.As(err, &limited) {
		t.Errorf("password change after 3 failures: got %v, want RateLimitedError", err)
	}
}

func TestRegistrationsAreLimitedPerIP(t *testing.T) {
	s := newService(t, accounts.Config{RegistrationsPerIP: accounts.Limit{Burst: 2, Every: time.Hour}}, "", newClock())
	ctx := testCtx(t)
	for _, name := range []string{"gina", "hank"} {
		if _, _, err := s.Register(ctx, name, "correct horse", ip); err != nil {
			t.Fatal(err)
		}
	}
	var limited *accounts.RateLimitedError
	if _, _, err := s.Register(ctx, "ivan", "correct horse", ip); !errors.As(err, &limited) || limited.RetryAfter != time.Hour {
		t.Errorf("third registration: got %v, want RateLimitedError after 1h", err)
	}
	if _, _, err := s.Register(ctx, "ivan", "correct horse", "192.0.2.200"); err != nil {
		t.Errorf("from another address: %v", err)
	}
}

func TestAccountsAndSessionsSurviveARestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := testCtx(t)
	st, err := persistence.Open(ctx, path, persistence.Options{Logger: testkit.Logger(t, slog.LevelWarn)})
	if err != nil {
		t.Fatal(err)
	}
	s, err := accounts.New(accounts.Config{Store: st, Hash: cheap})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := s.Register(ctx, "judy", "correct horse", ip)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	s = newService(t, accounts.Config{}, path, nil)
	if auth, err := s.Authenticate(ctx, token); err != nil || auth.Username != "judy" {
		t.Errorf("session after restart: got %+v, %v", auth, err)
	}
	if _, _, err := s.Login(ctx, "judy", "correct horse", ip); err != nil {
		t.Errorf("login after restart: %v", err)
	}
}

func TestOperatorAddsListsAndSetsPasswords(t *testing.T) {
	s := newService(t, accounts.Config{}, "", nil)
	ctx := testCtx(t)
	if _, err := s.AddAccount(ctx, "admin", "correct horse", accounts.RoleAdmin); err != nil {
		t.Errorf("AddAccount(admin): %v: the operator may use a reserved name", err)
	}
	if _, err := s.AddAccount(ctx, "guest-1", "correct horse", accounts.RoleUser); !errors.Is(err, accounts.ErrInvalidUsername) {
		t.Errorf("AddAccount(guest-1): got %v, want ErrInvalidUsername", err)
	}
	if _, err := s.AddAccount(ctx, "kim", "correct horse", "owner"); err == nil {
		t.Error("AddAccount(role owner): got nil, want an error")
	}
	_, token, err := s.Login(ctx, "admin", "correct horse", ip)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPassword(ctx, "ADMIN", "better horse"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, token); !errors.Is(err, accounts.ErrUnauthorized) {
		t.Errorf("session after the operator set the password: got %v, want ErrUnauthorized", err)
	}
	if _, err := s.SetPassword(ctx, "nobody", "better horse"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("SetPassword(nobody): got %v, want ErrNotFound", err)
	}
	list, err := s.Accounts(ctx)
	if err != nil || len(list) != 1 || list[0].Role != accounts.RoleAdmin {
		t.Errorf("Accounts: got %+v, %v, want admin alone", list, err)
	}
}
