package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"parley/internal/accounts"
)

// sameAccount compares two accounts, their times by Equal.
func sameAccount(a, b accounts.Account) bool {
	ta, tb := a.CreatedAt, b.CreatedAt
	a.CreatedAt, b.CreatedAt = time.Time{}, time.Time{}
	return a == b && ta.Equal(tb)
}

func tokenHashOf(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

func testAccountsAndSessionsRoundTripAndSurviveReopen(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{})
	ctx := testCtx(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)

	alice := accounts.Account{Username: "Alice", Skeleton: "allce", PasswordHash: "$argon2id$x", Role: accounts.RoleAdmin, CreatedAt: now}
	id, err := w.CreateAccount(ctx, alice)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if _, err := w.CreateAccount(ctx, accounts.Account{Username: "al1ce", Skeleton: "allce", PasswordHash: "h", Role: accounts.RoleUser, CreatedAt: now}); !errors.Is(err, accounts.ErrTaken) {
		t.Errorf("CreateAccount(same skeleton): got %v, want ErrTaken", err)
	}
	if _, err := w.CreateAccount(ctx, accounts.Account{Username: "bob", Skeleton: "bob", PasswordHash: "h", Role: "owner", CreatedAt: now}); err == nil || errors.Is(err, accounts.ErrTaken) {
		t.Errorf("CreateAccount(role owner): got %v, want the CHECK constraint's error", err)
	}
	if _, err := w.AccountBySkeleton(ctx, "nobody"); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("AccountBySkeleton(nobody): got %v, want ErrNotFound", err)
	}

	s1, s2 := tokenHashOf("one"), tokenHashOf("two")
	for _, h := range [][]byte{s1, s2} {
		if err := w.CreateSession(ctx, accounts.Session{TokenHash: h, AccountID: id, CreatedAt: now, ExpiresAt: now.Add(time.Hour), LastSeen: now}); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	later := now.Add(time.Minute)
	if err := w.TouchSession(ctx, s1, later, later.Add(time.Hour)); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = open(t, Options{})
	a, err := w.AccountBySkeleton(ctx, "allce")
	alice.ID = id
	if err != nil || !sameAccount(a, alice) {
		t.Errorf("after reopen, AccountBySkeleton: got %+v, %v, want %+v", a, err, alice)
	}
	se, a2, err := w.SessionAccount(ctx, s1)
	if err != nil {
		t.Fatalf("SessionAccount: %v", err)
	}
	want := accounts.Session{TokenHash: s1, AccountID: id, CreatedAt: now, ExpiresAt: later.Add(time.Hour), LastSeen: later}
	if !bytes.Equal(se.TokenHash, want.TokenHash) || se.AccountID != want.AccountID || !se.CreatedAt.Equal(want.CreatedAt) ||
		!se.ExpiresAt.Equal(want.ExpiresAt) || !se.LastSeen.Equal(want.LastSeen) || !sameAccount(a2, alice) {
		t.Errorf("SessionAccount: got %+v %+v, want %+v %+v", se, a2, want, alice)
	}

	// A password change that keeps s1 ends s2.
	if err := w.SetPasswordHash(ctx, id, "new-hash", true, s1); err != nil {
		t.Fatalf("SetPasswordHash: %v", err)
	}
	if _, _, err := w.SessionAccount(ctx, s2); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("other session after the change: got %v, want ErrNotFound", err)
	}
	if _, a, err := w.SessionAccount(ctx, s1); err != nil || a.PasswordHash != "new-hash" {
		t.Errorf("kept session after the change: got %q, %v, want the new hash", a.PasswordHash, err)
	}
	if err := w.SetPasswordHash(ctx, 999, "h", false, nil); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("SetPasswordHash(no such account): got %v, want ErrNotFound", err)
	}

	// A new session sweeps the account's expired ones.
	expired := tokenHashOf("expired")
	if err := w.CreateSession(ctx, accounts.Session{TokenHash: expired, AccountID: id, CreatedAt: now, ExpiresAt: now.Add(time.Second), LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	if err := w.CreateSession(ctx, accounts.Session{TokenHash: tokenHashOf("three"), AccountID: id, CreatedAt: now.Add(2 * time.Second), ExpiresAt: now.Add(time.Hour), LastSeen: now}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.SessionAccount(ctx, expired); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("expired session after a new one: got %v, want ErrNotFound (swept)", err)
	}

	if err := w.DeleteSession(ctx, s1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.SessionAccount(ctx, s1); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("deleted session: got %v, want ErrNotFound", err)
	}
	if err := w.DeleteSessions(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.SessionAccount(ctx, tokenHashOf("three")); !errors.Is(err, accounts.ErrNotFound) {
		t.Errorf("session after DeleteSessions: got %v, want ErrNotFound", err)
	}

	list, err := w.Accounts(ctx)
	if err != nil || len(list) != 1 || list[0].Username != "Alice" {
		t.Errorf("Accounts: got %+v, %v, want Alice alone", list, err)
	}
}

// Account writes go between the writer's batches: with messages flowing,
// every account is written and every message acknowledged.
func testAccountWritesInterleaveWithBatches(t *testing.T, open Opener, _ Engine) {
	w := open(t, Options{BatchMax: 8})
	ctx := testCtx(t)
	const msgs, accts = 2000, 40
	res := NewResults(msgs)
	errs := make(chan error, accts)
	go func() { // returns after the last account write
		for i := range accts {
			name := fmt.Sprintf("user%d", i)
			_, err := w.CreateAccount(ctx, accounts.Account{Username: name, Skeleton: name, PasswordHash: "h", Role: accounts.RoleUser, CreatedAt: time.Now()})
			errs <- err
		}
	}()
	for i := range msgs {
		id := fmt.Sprintf("%026d", i)
		if !w.Append(RoomMsg(id, "general", "bob", i), res.Done(id)) { // the queue holds them all
			t.Fatalf("Append(%s) = false", id)
		}
	}
	for id, err := range res.Wait(t, msgs) {
		if err != nil {
			t.Errorf("message %s: %v", id, err)
		}
	}
	for range accts {
		if err := <-errs; err != nil {
			t.Errorf("CreateAccount: %v", err)
		}
	}
	if list, err := w.Accounts(ctx); err != nil || len(list) != accts {
		t.Errorf("Accounts: got %d, %v, want %d", len(list), err, accts)
	}
}

func testAccountWritesAfterCloseFail(t *testing.T, open Opener, e Engine) {
	w := open(t, Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.DeleteSessions(testCtx(t), 1); !errors.Is(err, e.ErrClosed) {
		t.Errorf("after Close: got %v, want ErrClosed", err)
	}
}
