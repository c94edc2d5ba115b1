// Package accounts is parley's accounts and sessions: registration, login
// with argon2id password hashes, session tokens with a sliding expiry, and
// the limits that keep password guessing and hashing floods in check. It
// keeps nothing but those limits in memory: accounts and sessions live in a
// Store (persistence.Store). docs/security.md is its rationale.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"parley/actors"
)

// The errors the Service's callers tell apart (errors.Is). ErrTaken and
// ErrBusy are declared with the Store and the hashing limit.
var (
	ErrInvalidUsername = errors.New("invalid username")
	ErrWeakPassword    = errors.New("weak password")
	ErrBadCredentials  = errors.New("bad credentials")
	ErrUnauthorized    = errors.New("no valid session")
	ErrRateLimited     = errors.New("rate limited")
)

// RateLimitedError is the error of a refused attempt: it wraps
// ErrRateLimited and says when to try again.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limited: retry after %v", e.RetryAfter)
}

func (e *RateLimitedError) Unwrap() error { return ErrRateLimited }

// Password lengths, in bytes.
const (
	PasswordMin = 8
	PasswordMax = 1024
)

// Config configures a Service. Zero values take the defaults in brackets.
type Config struct {
	Store  Store // required
	Logger *slog.Logger
	// Now is the clock [time.Now]; tests move it to expire sessions.
	Now func() time.Time
	// SessionTTL is how long a session lives unused [30 days]. Each use
	// slides it, at most once per SessionTTL/720 (an hour at 30 days), so
	// that an active client does not write on every request.
	SessionTTL time.Duration
	// Hash are the parameters of new password hashes [DefaultHashParams].
	Hash HashParams
	// HashConcurrency hashes run at once [2]; HashQueue callers wait for
	// one [8; negative: none]; the next get ErrBusy.
	HashConcurrency, HashQueue int
	// Failed logins (and wrong old passwords) allowed per account name
	// [10 at once, then one per 6 s: 10 a minute] and per IP address
	// [30, then one per 2 s]; registrations per IP address [10, then one
	// per 6 min: 10 an hour].
	FailuresPerAccount, FailuresPerIP, RegistrationsPerIP Limit
	// MaxTracked is how many keys each of those limiters remembers [10000].
	MaxTracked int
	// UsernameMax is the longest name [actors.DefaultLimits.UsernameMax].
	UsernameMax int
}

// DefaultSessionTTL is Config.SessionTTL's default.
const DefaultSessionTTL = 30 * 24 * time.Hour

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.Hash == (HashParams{}) {
		c.Hash = DefaultHashParams
	}
	if c.HashConcurrency <= 0 {
		c.HashConcurrency = 2
	}
	switch {
	case c.HashQueue == 0:
		c.HashQueue = 8
	case c.HashQueue < 0:
		c.HashQueue = 0 // nobody waits: beyond HashConcurrency, ErrBusy at once
	}
	c.FailuresPerAccount = c.FailuresPerAccount.orDefault(Limit{Burst: 10, Every: 6 * time.Second})
	c.FailuresPerIP = c.FailuresPerIP.orDefault(Limit{Burst: 30, Every: 2 * time.Second})
	c.RegistrationsPerIP = c.RegistrationsPerIP.orDefault(Limit{Burst: 10, Every: 6 * time.Minute})
	if c.MaxTracked <= 0 {
		c.MaxTracked = 10000
	}
	if c.UsernameMax <= 0 {
		c.UsernameMax = actors.DefaultLimits.UsernameMax
	}
	return c
}

// Service is accounts and sessions. Its methods are safe for concurrent
// use; it starts no goroutine.
type Service struct {
	cfg        Config
	store      Store
	log        *slog.Logger
	gate       *hashGate
	touchEvery time.Duration

	perAccount, perIP, registrations *keyedLimiter

	dummyOnce sync.Once
	dummy     string // a hash under cfg.Hash of a random password; see dummyHash
}

// New returns a Service on cfg.Store.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("accounts: no store")
	}
	cfg = cfg.withDefaults()
	return &Service{
		cfg: cfg, store: cfg.Store, log: cfg.Logger,
		gate:          newHashGate(cfg.HashConcurrency, cfg.HashQueue),
		touchEvery:    cfg.SessionTTL / 720,
		perAccount:    newKeyedLimiter(cfg.FailuresPerAccount, cfg.MaxTracked),
		perIP:         newKeyedLimiter(cfg.FailuresPerIP, cfg.MaxTracked),
		registrations: newKeyedLimiter(cfg.RegistrationsPerIP, cfg.MaxTracked),
	}, nil
}

// Auth is an authenticated session: the account and which of its sessions.
type Auth struct {
	AccountID int64
	Username  string
	Role      string
	CreatedAt time.Time // the account's
	// Session names the session (the hex of its token's hash) without
	// being able to open it: the transport closes a session's sockets by it.
	Session string
	// Expires is when the session ends unless it is used again.
	Expires time.Time
}

func authOf(a Account, tokenHash []byte, expires time.Time) Auth {
	return Auth{AccountID: a.ID, Username: a.Username, Role: a.Role, CreatedAt: a.CreatedAt,
		Session: hex.EncodeToString(tokenHash), Expires: expires}
}

// checkUsername validates a name to register: its display form and
// skeleton, or ErrInvalidUsername.
func (s *Service) checkUsername(name string) (display, skeleton string, err error) {
	display, _, ok := actors.NormalizeUsername(name, s.cfg.UsernameMax)
	if !ok {
		return "", "", ErrInvalidUsername
	}
	return display, actors.Skeleton(display), nil
}

// checkPassword: 8 to 1024 bytes, and not the name itself.
func checkPassword(username, password string) error {
	if len(password) < PasswordMin || len(password) > PasswordMax || strings.EqualFold(password, username) {
		return ErrWeakPassword
	}
	return nil
}

func rateLimited(d time.Duration) error { return &RateLimitedError{RetryAfter: d} }

// hash hashes password under the hashing limit.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	var h string
	var herr error
	if err := s.gate.do(ctx, func() { h, herr = hashPassword(password, s.cfg.Hash) }); err != nil {
		return "", err
	}
	return h, herr
}

// dummyHash is what a login for an unknown name verifies against, so that
// it costs what a wrong password costs. Made on first use, so that a server
// nobody logs in to never pays for it.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		pw := make([]byte, 16)
		_, _ = rand.Read(pw)
		h, err := hashPassword(hex.EncodeToString(pw), s.cfg.Hash)
		if err != nil {
			// An unparsable dummy fails verification after the same
			// lookup but without the hash: only if crypto/rand fails.
			s.log.Error("accounts: dummy hash", "err", err)
		}
		s.dummy = h
	})
	return s.dummy
}

// Register creates an account and a first session, and returns the
// session's token. ip is the client's address, for the registration limit.
func (s *Service) Register(ctx context.Context, username, password, ip string) (Auth, string, error) {
	now := s.cfg.Now()
	if d := s.registrations.wait(ip, now); d > 0 {
		return Auth{}, "", rateLimited(d)
	}
	display, skel, err := s.checkUsername(username)
	if err != nil {
		return Auth{}, "", err
	}
	if reserved(display) {
		return Auth{}, "", ErrInvalidUsername
	}
	if err := checkPassword(display, password); err != nil {
		return Auth{}, "", err
	}
	// A taken name is answered before any hashing: 409 says as much anyway.
	if ok, err := s.Registered(ctx, skel); err != nil {
		return Auth{}, "", err
	} else if ok {
		return Auth{}, "", ErrTaken
	}
	// Counted from here: what follows costs a hash and a row.
	s.registrations.take(ip, now)
	h, err := s.hash(ctx, password)
	if err != nil {
		return Auth{}, "", err
	}
	a := Account{Username: display, Skeleton: skel, PasswordHash: h, Role: RoleUser, CreatedAt: now}
	if a.ID, err = s.store.CreateAccount(ctx, a); err != nil {
		return Auth{}, "", err // ErrTaken if another registration won the race
	}
	return s.newSession(ctx, a, now)
}

// newSession makes a session for a and returns its token: 32 bytes from
// crypto/rand, base64url; only its SHA-256 is stored.
func (s *Service) newSession(ctx context.Context, a Account, now time.Time) (Auth, string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return Auth{}, "", fmt.Errorf("session token: %w", err)
	}
	sum := sha256.Sum256(raw)
	se := Session{TokenHash: sum[:], AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL), LastSeen: now}
	if err := s.store.CreateSession(ctx, se); err != nil {
		return Auth{}, "", err
	}
	return authOf(a, sum[:], se.ExpiresAt), base64.RawURLEncoding.EncodeToString(raw), nil
}

// tokenHash is the stored form of a token; false if it cannot be one.
func tokenHash(token string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		return nil, false
	}
	sum := sha256.Sum256(raw)
	return sum[:], true
}

// loginKey is the per-account limiter's key for a name as typed: its
// skeleton, so that look-alikes count as one, bounded in length so that a
// flood of long names cannot grow the map's memory.
func loginKey(username string) string {
	return actors.Skeleton(username[:min(len(username), 64)])
}

// Login checks a name and password and returns a new session's token.
// An unknown name and a wrong password both give ErrBadCredentials, after
// the same lookup and one hash each. ip is the client's address.
func (s *Service) Login(ctx context.Context, username, password, ip string) (Auth, string, error) {
	now := s.cfg.Now()
	key := loginKey(username)
	if d := max(s.perIP.wait(ip, now), s.perAccount.wait(key, now)); d > 0 {
		return Auth{}, "", rateLimited(d)
	}
	var a Account
	found := false
	if _, skel, err := s.checkUsername(username); err == nil {
		switch a, err = s.store.AccountBySkeleton(ctx, skel); {
		case err == nil:
			found = true
		case !errors.Is(err, ErrNotFound):
			return Auth{}, "", err
		}
	}
	encoded := s.dummyHash()
	if found {
		encoded = a.PasswordHash
	}
	ok, stale, err := s.verify(ctx, password, encoded)
	if err != nil {
		return Auth{}, "", err
	}
	if !found || !ok {
		s.perIP.take(ip, now)
		s.perAccount.take(key, now)
		return Auth{}, "", ErrBadCredentials
	}
	if stale {
		s.rehash(ctx, a, password)
	}
	return s.newSession(ctx, a, now)
}

// verify checks password against encoded under the hashing limit. A hash
// that does not parse is a mismatch, and logged: it is no client's fault.
func (s *Service) verify(ctx context.Context, password, encoded string) (ok, stale bool, err error) {
	var verr error
	if err := s.gate.do(ctx, func() { ok, stale, verr = verifyPassword(password, encoded, s.cfg.Hash) }); err != nil {
		return false, false, err
	}
	if verr != nil {
		s.log.Error("accounts: stored password hash", "err", verr)
		return false, false, nil
	}
	return ok, stale, nil
}

// rehash stores password's hash under the current parameters, the login
// having just proved it. Best effort: if the hashing limit is reached or
// the write fails, the next login tries again.
func (s *Service) rehash(ctx context.Context, a Account, password string) {
	h, err := s.hash(ctx, password)
	if err == nil {
		err = s.store.SetPasswordHash(ctx, a.ID, h, false, nil)
	}
	if err != nil {
		s.log.Warn("accounts: rehash at login", "account", a.Username, "err", err)
	}
}

// Authenticate returns the session of token, sliding its expiry:
// ErrUnauthorized if there is none or it has expired.
func (s *Service) Authenticate(ctx context.Context, token string) (Auth, error) {
	auth, _, err := s.session(ctx, token)
	return auth, err
}

// session is Authenticate, also returning the account (with its hash).
func (s *Service) session(ctx context.Context, token string) (Auth, Account, error) {
	h, ok := tokenHash(token)
	if !ok {
		return Auth{}, Account{}, ErrUnauthorized
	}
	se, a, err := s.store.SessionAccount(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Auth{}, Account{}, ErrUnauthorized
	}
	if err != nil {
		return Auth{}, Account{}, err
	}
	now := s.cfg.Now()
	if !now.Before(se.ExpiresAt) {
		// Swept here or at the account's next login (CreateSession).
		if err := s.store.DeleteSession(ctx, h); err != nil {
			s.log.Warn("accounts: delete expired session", "account", a.Username, "err", err)
		}
		return Auth{}, Account{}, ErrUnauthorized
	}
	expires := se.ExpiresAt
	if now.Sub(se.LastSeen) >= s.touchEvery {
		if err := s.store.TouchSession(ctx, h, now, now.Add(s.cfg.SessionTTL)); err != nil {
			// The session is valid until its stored expiry all the same.
			s.log.Warn("accounts: slide session expiry", "account", a.Username, "err", err)
		} else {
			expires = now.Add(s.cfg.SessionTTL)
		}
	}
	return authOf(a, h, expires), a, nil
}

// Me is Authenticate: the account of a session.
func (s *Service) Me(ctx context.Context, token string) (Auth, error) {
	return s.Authenticate(ctx, token)
}

// Logout ends the session of token, and returns what it was.
func (s *Service) Logout(ctx context.Context, token string) (Auth, error) {
	auth, err := s.Authenticate(ctx, token)
	if err != nil {
		return Auth{}, err
	}
	h, _ := tokenHash(token)
	return auth, s.store.DeleteSession(ctx, h)
}

// LogoutAll ends every session of token's account.
func (s *Service) LogoutAll(ctx context.Context, token string) (Auth, error) {
	auth, err := s.Authenticate(ctx, token)
	if err != nil {
		return Auth{}, err
	}
	return auth, s.store.DeleteSessions(ctx, auth.AccountID)
}

// ChangePassword replaces the password of token's account, given the old
// one, and ends its other sessions. A wrong old password counts as a
// failed login (ErrBadCredentials) for the account and ip.
func (s *Service) ChangePassword(ctx context.Context, token, old, next, ip string) (Auth, error) {
	auth, a, err := s.session(ctx, token)
	if err != nil {
		return Auth{}, err
	}
	now := s.cfg.Now()
	if d := max(s.perIP.wait(ip, now), s.perAccount.wait(a.Skeleton, now)); d > 0 {
		return Auth{}, rateLimited(d)
	}
	if err := checkPassword(a.Username, next); err != nil {
		return Auth{}, err
	}
	ok, _, err := s.verify(ctx, old, a.PasswordHash)
	if err != nil {
		return Auth{}, err
	}
	if !ok {
		s.perIP.take(ip, now)
		s.perAccount.take(a.Skeleton, now)
		return Auth{}, ErrBadCredentials
	}
	h, err := s.hash(ctx, next)
	if err != nil {
		return Auth{}, err
	}
	keep, _ := tokenHash(token)
	return auth, s.store.SetPasswordHash(ctx, a.ID, h, true, keep)
}

// HashesRunning reports how many password hashes run at this moment (at
// most Config.HashConcurrency): what the hashing limit is spending.
func (s *Service) HashesRunning() int { return s.gate.running() }

// Registered reports whether an account's name has this skeleton: it
// satisfies actors.NameRegistry.
func (s *Service) Registered(ctx context.Context, skeleton string) (bool, error) {
	_, err := s.store.AccountBySkeleton(ctx, skeleton)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// AccountName returns the name, as registered, of the account whose name
// has this skeleton: it satisfies actors.NameRegistry.
func (s *Service) AccountName(ctx context.Context, skeleton string) (string, bool, error) {
	a, err := s.store.AccountBySkeleton(ctx, skeleton)
	switch {
	case err == nil:
		return a.Username, true, nil
	case errors.Is(err, ErrNotFound):
		return "", false, nil
	}
	return "", false, err
}

var _ actors.NameRegistry = (*Service)(nil)
