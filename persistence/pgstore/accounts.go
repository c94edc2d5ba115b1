package pgstore

// Accounts and sessions (internal/accounts): each write one transaction on
// the pool, at once, with PostgreSQL's commit as its durability.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jmoiron/sqlx"

	"parley/internal/accounts"
)

// uniqueViolation is PostgreSQL's SQLSTATE for a unique constraint refusing
// a row.
const uniqueViolation = "23505"

type accountRow struct {
	ID           int64     `db:"id"`
	Username     string    `db:"username"`
	Skeleton     string    `db:"skeleton"`
	PasswordHash string    `db:"password_hash"`
	Role         string    `db:"role"`
	CreatedAt    time.Time `db:"created_at"`
}

func (r accountRow) account() accounts.Account {
	return accounts.Account{ID: r.ID, Username: r.Username, Skeleton: r.Skeleton,
		PasswordHash: r.PasswordHash, Role: r.Role, CreatedAt: r.CreatedAt.UTC()}
}

const accountColumns = "id, username, skeleton, password_hash, role, created_at"

// CreateAccount stores a and returns its id; accounts.ErrTaken if its
// skeleton is taken.
func (s *Store) CreateAccount(ctx context.Context, a accounts.Account) (int64, error) {
	var id int64
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		err := tx.GetContext(ctx, &id,
			"INSERT INTO accounts (username, skeleton, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
			a.Username, a.Skeleton, a.PasswordHash, a.Role, ms(a.CreatedAt))
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == uniqueViolation {
			return accounts.ErrTaken
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("create account %q: %w", a.Username, err)
	}
	return id, nil
}

// AccountBySkeleton returns the account whose name has this skeleton.
func (s *Store) AccountBySkeleton(ctx context.Context, skeleton string) (accounts.Account, error) {
	var r accountRow
	err := s.db.GetContext(ctx, &r, "SELECT "+accountColumns+" FROM accounts WHERE skeleton = $1", skeleton)
	if errors.Is(err, sql.ErrNoRows) {
		err = accounts.ErrNotFound
	}
	if err != nil {
		return accounts.Account{}, fmt.Errorf("account %q: %w", skeleton, err)
	}
	return r.account(), nil
}

// Accounts lists every account, by id.
func (s *Store) Accounts(ctx context.Context) ([]accounts.Account, error) {
	var rows []accountRow
	if err := s.db.SelectContext(ctx, &rows, "SELECT "+accountColumns+" FROM accounts ORDER BY id"); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make([]accounts.Account, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}

// SetPasswordHash replaces an account's password hash and, if endSessions,
// deletes its sessions but keep, in one transaction.
func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string, endSessions bool, keep []byte) error {
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE accounts SET password_hash = $1 WHERE id = $2", hash, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return accounts.ErrNotFound
		}
		if !endSessions {
			return nil
		}
		if keep == nil {
			keep = []byte{} // no session's hash is empty
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2", id, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of account %d: %w", id, err)
	}
	return nil
}

// CreateSession stores se and sweeps its account's expired sessions.
func (s *Store) CreateSession(ctx context.Context, se accounts.Session) error {
	now := ms(se.CreatedAt)
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE account_id = $1 AND expires_at <= $2", se.AccountID, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO sessions (token_hash, account_id, created_at, expires_at, last_seen) VALUES ($1, $2, $3, $4, $5)",
			se.TokenHash, se.AccountID, now, ms(se.ExpiresAt), ms(se.LastSeen))
		return err
	})
	if err != nil {
		return fmt.Errorf("create session for account %d: %w", se.AccountID, err)
	}
	return nil
}

// SessionAccount returns a session and its account.
func (s *Store) SessionAccount(ctx context.Context, tokenHash []byte) (accounts.Session, accounts.Account, error) {
	var r struct {
		TokenHash []byte    `db:"token_hash"`
		Created   time.Time `db:"s_created_at"`
		Expires   time.Time `db:"expires_at"`
		LastSeen  time.Time `db:"last_seen"`
		accountRow
	}
	err := s.db.GetContext(ctx, &r, `SELECT s.token_hash, s.created_at AS s_created_at, s.expires_at, s.last_seen,
       a.id, a.username, a.skeleton, a.password_hash, a.role, a.created_at
FROM sessions s JOIN accounts a ON a.id = s.account_id
WHERE s.token_hash = $1`, tokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		err = accounts.ErrNotFound
	}
	if err != nil {
		return accounts.Session{}, accounts.Account{}, fmt.Errorf("session: %w", err)
	}
	a := r.accountRow.account()
	return accounts.Session{TokenHash: r.TokenHash, AccountID: a.ID,
		CreatedAt: r.Created.UTC(), ExpiresAt: r.Expires.UTC(), LastSeen: r.LastSeen.UTC()}, a, nil
}

// TouchSession slides a session's expiry.
func (s *Store) TouchSession(ctx context.Context, tokenHash []byte, lastSeen, expiresAt time.Time) error {
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET last_seen = $1, expires_at = $2 WHERE token_hash = $3",
			ms(lastSeen), ms(expiresAt), tokenHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession deletes one session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = $1", tokenHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessions deletes every session of an account.
func (s *Store) DeleteSessions(ctx context.Context, accountID int64) error {
	err := s.tx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE account_id = $1", accountID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete sessions of account %d: %w", accountID, err)
	}
	return nil
}
