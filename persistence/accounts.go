package persistence

// Accounts and sessions (internal/accounts): reads on the read-only pool,
// writes on a connection of their own.
//
// Why not the writer's queue: account writes are few (a registration, a
// login, a logout, a session's sliding expiry at most once an hour), each
// needs its own answer at once (a taken name, a missing row), and must not
// fail a batch of messages, nor wait behind 2 ms of batching. Why not a
// second writer racing the first for SQLite's lock: the loser would sleep in
// SQLite's busy handler, in steps of milliseconds. So each account write
// takes walMu, the fair mutex that the writer holds around each batch: it
// waits for at most the batch being written, then holds the writer up for
// one small transaction (a few rows, no fsync: the connection commits at
// NORMAL, like the writer's). With Synchronous FULL the WAL is then synced
// outside walMu, as the acker does, before the call returns (except for a
// session's sliding expiry, see TouchSession): the writer never waits for
// that sync.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/mattn/go-sqlite3"

	"parley/internal/accounts"
	"parley/internal/protocol"
)

var _ accounts.Store = (*Store)(nil)

// openAccountConn opens the pool of account writes, held to one connection
// so that they queue in Go (honouring their contexts) rather than in
// SQLite's busy handler.
func (s *Store) openAccountConn(ctx context.Context, abs string) (err error) {
	s.adb, err = sqlx.Open("sqlite3", sqliteURI(abs, url.Values{
		"_synchronous":  {connSynchronous[s.opts.Synchronous].name},
		"_busy_timeout": {millis(s.opts.BusyTimeout)},
		"_txlock":       {"immediate"},
	}))
	if err != nil {
		return err
	}
	s.adb.SetMaxOpenConns(1)
	return s.adb.PingContext(ctx)
}

// accountTx runs f in one transaction on the account connection, between
// two of the writer's batches (see the top of this file). If sync, it then
// makes it durable as Options.Synchronous says before returning; without,
// the commit becomes durable with the next sync or checkpoint (for what a
// crash may lose harmlessly: a session's last use).
func (s *Store) accountTx(ctx context.Context, sync bool, f func(tx *sqlx.Tx) error) error {
	// Held to the end, so that Close, which takes the lock, waits for this
	// write and its sync before it closes the connections and the WAL.
	if !s.mu.TryRLock() {
		return ErrClosed
	}
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if err := s.accountWrite(ctx, f); err != nil {
		return err
	}
	// After the connection is given back: the next account write need not
	// wait for this sync, and concurrent syncs cover each other.
	if sync && s.durable {
		return s.syncWAL()
	}
	return nil
}

// accountWrite takes the account connection (waiting for another account
// write) and runs f's transaction on it.
func (s *Store) accountWrite(ctx context.Context, f func(tx *sqlx.Tx) error) error {
	conn, err := s.adb.Connx(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return s.lockedTx(ctx, conn, f)
}

// lockedTx is accountTx's transaction, under walMu.
func (s *Store) lockedTx(ctx context.Context, conn *sqlx.Conn, f func(tx *sqlx.Tx) error) error {
	s.walMu.Lock()
	defer s.walMu.Unlock()
	return InTx(ctx, conn, f)
}

// accountRow is an accounts row as selected.
type accountRow struct {
	ID           int64  `db:"id"`
	Username     string `db:"username"`
	Skeleton     string `db:"skeleton"`
	PasswordHash string `db:"password_hash"`
	Role         string `db:"role"`
	CreatedAt    string `db:"created_at"`
}

func (r accountRow) account() (accounts.Account, error) {
	t, err := protocol.ParseTimestamp(r.CreatedAt)
	if err != nil {
		return accounts.Account{}, fmt.Errorf("account %d: %w", r.ID, err)
	}
	return accounts.Account{ID: r.ID, Username: r.Username, Skeleton: r.Skeleton,
		PasswordHash: r.PasswordHash, Role: r.Role, CreatedAt: t}, nil
}

const accountColumns = "id, username, skeleton, password_hash, role, created_at"

// CreateAccount stores a and returns its id; accounts.ErrTaken if its
// skeleton is taken.
func (s *Store) CreateAccount(ctx context.Context, a accounts.Account) (int64, error) {
	var id int64
	err := s.accountTx(ctx, true, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx,
			"INSERT INTO accounts (username, skeleton, password_hash, role, created_at) VALUES (?, ?, ?, ?, ?)",
			a.Username, a.Skeleton, a.PasswordHash, a.Role, protocol.FormatTimestamp(a.CreatedAt))
		if err != nil {
			var se sqlite3.Error
			if errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique {
				return accounts.ErrTaken
			}
			return err
		}
		id, err = res.LastInsertId()
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
	err := s.rdb.GetContext(ctx, &r, "SELECT "+accountColumns+" FROM accounts WHERE skeleton = ?", skeleton)
	if errors.Is(err, sql.ErrNoRows) {
		err = accounts.ErrNotFound
	}
	if err != nil {
		return accounts.Account{}, fmt.Errorf("account %q: %w", skeleton, err)
	}
	return r.account()
}

// Accounts lists every account, by id.
func (s *Store) Accounts(ctx context.Context) ([]accounts.Account, error) {
	var rows []accountRow
	if err := s.rdb.SelectContext(ctx, &rows, "SELECT "+accountColumns+" FROM accounts ORDER BY id"); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make([]accounts.Account, len(rows))
	for i, r := range rows {
		a, err := r.account()
		if err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		out[i] = a
	}
	return out, nil
}

// SetPasswordHash replaces an account's password hash and, if endSessions,
// deletes its sessions but keep, in one transaction.
func (s *Store) SetPasswordHash(ctx context.Context, id int64, hash string, endSessions bool, keep []byte) error {
	err := s.accountTx(ctx, true, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE accounts SET password_hash = ? WHERE id = ?", hash, id)
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
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE account_id = ? AND token_hash <> ?", id, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of account %d: %w", id, err)
	}
	return nil
}

// CreateSession stores se and sweeps its account's expired sessions, so
// that an account's rows stay bounded by its logins within one TTL.
func (s *Store) CreateSession(ctx context.Context, se accounts.Session) error {
	now := protocol.FormatTimestamp(se.CreatedAt)
	err := s.accountTx(ctx, true, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE account_id = ? AND expires_at <= ?", se.AccountID, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			"INSERT INTO sessions (token_hash, account_id, created_at, expires_at, last_seen) VALUES (?, ?, ?, ?, ?)",
			se.TokenHash, se.AccountID, now, protocol.FormatTimestamp(se.ExpiresAt), protocol.FormatTimestamp(se.LastSeen))
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
		TokenHash []byte `db:"token_hash"`
		Created   string `db:"s_created_at"`
		Expires   string `db:"expires_at"`
		LastSeen  string `db:"last_seen"`
		accountRow
	}
	err := s.rdb.GetContext(ctx, &r, `SELECT s.token_hash, s.created_at AS s_created_at, s.expires_at, s.last_seen,
       a.id, a.username, a.skeleton, a.password_hash, a.role, a.created_at
FROM sessions s JOIN accounts a ON a.id = s.account_id
WHERE s.token_hash = ?`, tokenHash)
	if errors.Is(err, sql.ErrNoRows) {
		err = accounts.ErrNotFound
	}
	if err != nil {
		return accounts.Session{}, accounts.Account{}, fmt.Errorf("session: %w", err)
	}
	a, err := r.accountRow.account()
	if err != nil {
		return accounts.Session{}, accounts.Account{}, fmt.Errorf("session: %w", err)
	}
	se := accounts.Session{TokenHash: r.TokenHash, AccountID: a.ID}
	for _, f := range []struct {
		dst *time.Time
		src string
	}{{&se.CreatedAt, r.Created}, {&se.ExpiresAt, r.Expires}, {&se.LastSeen, r.LastSeen}} {
		if *f.dst, err = protocol.ParseTimestamp(f.src); err != nil {
			return accounts.Session{}, accounts.Account{}, fmt.Errorf("session of account %d: %w", a.ID, err)
		}
	}
	return se, a, nil
}

// TouchSession slides a session's expiry. It is not synced: a power cut
// that loses it only brings the expiry back to what it was before this
// use, and a server restart after reconnecting clients need not wait for a
// sync per session.
func (s *Store) TouchSession(ctx context.Context, tokenHash []byte, lastSeen, expiresAt time.Time) error {
	err := s.accountTx(ctx, false, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET last_seen = ?, expires_at = ? WHERE token_hash = ?",
			protocol.FormatTimestamp(lastSeen), protocol.FormatTimestamp(expiresAt), tokenHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession deletes one session.
func (s *Store) DeleteSession(ctx context.Context, tokenHash []byte) error {
	err := s.accountTx(ctx, true, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE token_hash = ?", tokenHash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessions deletes every session of an account.
func (s *Store) DeleteSessions(ctx context.Context, accountID int64) error {
	err := s.accountTx(ctx, true, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE account_id = ?", accountID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete sessions of account %d: %w", accountID, err)
	}
	return nil
}
