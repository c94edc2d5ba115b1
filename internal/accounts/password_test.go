package accounts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// cheap are parameters for tests: hashing at OWASP's minimum takes tens of
// milliseconds, which the race detector multiplies.
var cheap = HashParams{MemoryKiB: 64, Time: 1, Threads: 1}

func TestPasswordHashIsPHCAndVerifies(t *testing.T) {
	h, err := hashPassword("correct horse", DefaultHashParams)
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=19456,t=2,p=1$"; !strings.HasPrefix(h, want) {
		t.Errorf("hash: got %q, want prefix %q", h, want)
	}
	for _, tc := range []struct {
		password  string
		params    HashParams
		ok, stale bool
	}{
		{"correct horse", DefaultHashParams, true, false},
		{"correct horsE", DefaultHashParams, false, false},
		{"correct horse", HashParams{MemoryKiB: 64 * 1024, Time: 3, Threads: 1}, true, true},
	} {
		ok, stale, err := verifyPassword(tc.password, h, tc.params)
		if err != nil || ok != tc.ok || stale != tc.stale {
			t.Errorf("verify(%q, %+v): got ok=%t stale=%t err=%v, want ok=%t stale=%t", tc.password, tc.params, ok, stale, err, tc.ok, tc.stale)
		}
	}
	h2, _ := hashPassword("correct horse", DefaultHashParams)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestMalformedPHCIsRefused(t *testing.T) {
	good, err := hashPassword("password1", cheap)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(good, "$")
	for _, bad := range []string{
		"",
		"plain text",
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "m=64", "m=0", 1),
		strings.Replace(good, "p=1", "p=300", 1),
		strings.Replace(good, "t=1", "x=1", 1),
		"$" + strings.Join(f[1:4], "$") + "$!!$" + f[5],
		"$" + strings.Join(f[1:5], "$") + "$" + f[5][:8],
		good + "$extra",
	} {
		if ok, _, err := verifyPassword("password1", bad, cheap); !errors.Is(err, errBadPHC) || ok {
			t.Errorf("verify against %q: got ok=%t err=%v, want errBadPHC", bad, ok, err)
		}
	}
}

// waitUntil polls cond, failing the test after a generous limit.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
	}
}

func TestHashGateBoundsRunningAndWaiting(t *testing.T) {
	g := newHashGate(2, 1)
	ctx := context.Background()
	release := make(chan struct{})
	started := make(chan struct{}, 3)
	results := make(chan error, 3)
	for range 2 {
		go func() { // returns when released
			results <- g.do(ctx, func() { started <- struct{}{}; <-release })
		}()
	}
	<-started
	<-started
	go func() { // waits for a slot, then returns
		results <- g.do(ctx, func() { started <- struct{}{} })
	}()
	waitUntil(t, "the third hash to queue", func() bool { return g.waiting.Load() == 1 })
	if err := g.do(ctx, func() { t.Error("a fourth hash ran beyond the limit") }); !errors.Is(err, ErrBusy) {
		t.Errorf("fourth: got %v, want ErrBusy", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.do(cctx, func() {}); !errors.Is(err, ErrBusy) {
		t.Errorf("fourth with a cancelled context: got %v, want ErrBusy (the queue is full)", err)
	}
	close(release)
	for range 3 {
		if err := <-results; err != nil {
			t.Errorf("a hash within the limit: got %v, want nil", err)
		}
	}
	<-started
	if got := g.waiting.Load(); got != 0 {
		t.Errorf("waiting after all ran: got %d, want 0", got)
	}
}

func TestHashGateWaiterGivesUpWithItsContext(t *testing.T) {
	g := newHashGate(1, 1)
	release := make(chan struct{})
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- g.do(context.Background(), func() { close(running); <-release }) }() // returns when released
	<-running
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() { waited <- g.do(ctx, func() { t.Error("ran after its context ended") }) }() // returns when cancelled
	waitUntil(t, "the second hash to queue", func() bool { return g.waiting.Load() == 1 })
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func TestKeyedLimiterCountsAndStaysBounded(t *testing.T) {
	l := newKeyedLimiter(Limit{Burst: 3, Every: time.Second}, 2)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if d := l.wait("a", now); d != 0 {
			t.Fatalf("event %d: got wait %v, want 0", i, d)
		}
		l.take("a", now)
	}
	if got, want := l.wait("a", now), time.Second; got != want {
		t.Errorf("after the burst: got wait %v, want %v", got, want)
	}
	if got, want := l.wait("a", now.Add(400*time.Millisecond)), 600*time.Millisecond; got != want {
		t.Errorf("0.4 s later: got wait %v, want %v", got, want)
	}
	if got := l.wait("b", now); got != 0 {
		t.Errorf("another key: got wait %v, want 0", got)
	}
	l.take("b", now)
	l.take("c", now) // full: evicts one of a and b, none having refilled
	if got := l.size(); got != 2 {
		t.Errorf("size: got %d, want 2 (the bound)", got)
	}
	later := now.Add(time.Minute) // every bucket has refilled
	l.take("d", later)
	l.take("e", later)
	if got := l.size(); got != 2 {
		t.Errorf("size after refills: got %d, want 2", got)
	}
}

func TestReservedNamesByLookAlike(t *testing.T) {
	for _, tc := range []struct {
		name            string
		reserved, guest bool
	}{
		{"system", true, false}, {"Admin", true, false}, {"adm1n", true, false},
		{"ADMINISTRATOR", true, false}, {"r00t", true, false}, {"Parley", true, false},
		{"everyone", true, false}, {"here", true, false}, {"channel", true, false},
		{"moderator", true, false}, {"server", true, false},
		{"guest-12", true, true}, {"guest_12", true, true}, {"Guest-x", true, true},
		{"alice", false, false}, {"guest", false, false}, {"admins", false, false}, {"guestbook", false, false},
	} {
		_, skel, err := (&Service{cfg: Config{}.withDefaults()}).checkUsername(tc.name)
		if err != nil {
			t.Errorf("%q: %v", tc.name, err)
			continue
		}
		if got := reserved(tc.name); got != tc.reserved {
			t.Errorf("reserved(%q): got %t, want %t", tc.name, got, tc.reserved)
		}
		if got := guestName(skel); got != tc.guest {
			t.Errorf("guestName(%q): got %t, want %t", tc.name, got, tc.guest)
		}
	}
}

func TestPasswordRules(t *testing.T) {
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{
		{"alice", "1234567", false},
		{"alice", "12345678", true},
		{"alice", strings.Repeat("x", PasswordMax), true},
		{"alice", strings.Repeat("x", PasswordMax+1), false},
		{"longname1", "LONGNAME1", false},
		{"longname1", "longname12", true},
	} {
		if err := checkPassword(tc.user, tc.password); (err == nil) != tc.ok {
			t.Errorf("checkPassword(%q, %d bytes): got %v, want ok=%t", tc.user, len(tc.password), err, tc.ok)
		}
	}
}
