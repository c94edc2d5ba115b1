package accounts

import (
	"context"
	"errors"
	"time"
)

// Roles an account can have. Moderation is a later issue: the role is only
// stored and shown.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Account is one stored account.
type Account struct {
	ID           int64
	Username     string // as registered: the name it is shown by
	Skeleton     string // actors.Skeleton(Username): unique among accounts
	PasswordHash string // argon2id, PHC string
	Role         string // RoleUser or RoleAdmin
	CreatedAt    time.Time
}

// Session is one stored session: only the SHA-256 of its token is kept.
type Session struct {
	TokenHash []byte
	AccountID int64
	CreatedAt time.Time
	ExpiresAt time.Time
	LastSeen  time.Time
}

// The errors a Store returns (wrapped) for the cases the Service tells apart.
var (
	// ErrNotFound: no such account or session.
	ErrNotFound = errors.New("not found")
	// ErrTaken: an account with that skeleton exists.
	ErrTaken = errors.New("username taken")
)

// Store is what the Service needs from the database; persistence.Store
// implements it. Its reads may lag a write made on another connection by
// nothing: each call starts a new read transaction.
type Store interface {
	// CreateAccount stores a, whose ID is ignored, and returns its id. An
	// account with a.Skeleton already stored: ErrTaken.
	CreateAccount(ctx context.Context, a Account) (int64, error)
	// AccountBySkeleton: ErrNotFound if none.
	AccountBySkeleton(ctx context.Context, skeleton string) (Account, error)
	// Accounts lists every account, by id.
	Accounts(ctx context.Context) ([]Account, error)
	// SetPasswordHash replaces account id's password hash. If endSessions,
	// it also deletes every session of the account except keep (nil: all of
	// them), in the same transaction.
	SetPasswordHash(ctx context.Context, id int64, hash string, endSessions bool, keep []byte) error

	// CreateSession stores s, and deletes the account's sessions expired
	// at s.CreatedAt, in one transaction.
	CreateSession(ctx context.Context, s Session) error
	// SessionAccount returns the session with this token hash and its
	// account: ErrNotFound if there is none (expired or not).
	SessionAccount(ctx context.Context, tokenHash []byte) (Session, Account, error)
	// TouchSession sets a session's last_seen and expires_at.
	TouchSession(ctx context.Context, tokenHash []byte, lastSeen, expiresAt time.Time) error
	// DeleteSession deletes one session; none with that hash is no error.
	DeleteSession(ctx context.Context, tokenHash []byte) error
	// DeleteSessions deletes every session of an account.
	DeleteSessions(ctx context.Context, accountID int64) error
}
