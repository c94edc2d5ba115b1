package accounts

import (
	"context"
	"errors"
	"fmt"
)

// The operator's side, for the command line (parley user ...): no limits,
// no sessions made.

// AddAccount creates an account with role RoleUser or RoleAdmin. Unlike
// Register it accepts the reserved names (the operator may call the admin
// "admin"), except guests' names, which guests are given.
func (s *Service) AddAccount(ctx context.Context, username, password, role string) (Account, error) {
	if role != RoleUser && role != RoleAdmin {
		return Account{}, fmt.Errorf("role %q: want %s or %s", role, RoleUser, RoleAdmin)
	}
	display, skel, err := s.checkUsername(username)
	if err != nil {
		return Account{}, err
	}
	if guestName(skel) {
		return Account{}, fmt.Errorf("%w: guest-* names are given to guests", ErrInvalidUsername)
	}
	if err := checkPassword(display, password); err != nil {
		return Account{}, err
	}
	h, err := hashPassword(password, s.cfg.Hash)
	if err != nil {
		return Account{}, err
	}
	a := Account{Username: display, Skeleton: skel, PasswordHash: h, Role: role, CreatedAt: s.cfg.Now()}
	if a.ID, err = s.store.CreateAccount(ctx, a); err != nil {
		return Account{}, err
	}
	return a, nil
}

// SetPassword replaces the password of the account named username (or a
// name that reads like it) and ends all of its sessions.
func (s *Service) SetPassword(ctx context.Context, username, password string) (Account, error) {
	_, skel, err := s.checkUsername(username)
	if err != nil {
		return Account{}, err
	}
	a, err := s.store.AccountBySkeleton(ctx, skel)
	if errors.Is(err, ErrNotFound) {
		return Account{}, fmt.Errorf("no account %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return Account{}, err
	}
	if err := checkPassword(a.Username, password); err != nil {
		return Account{}, err
	}
	h, err := hashPassword(password, s.cfg.Hash)
	if err != nil {
		return Account{}, err
	}
	return a, s.store.SetPasswordHash(ctx, a.ID, h, true, nil)
}

// Accounts lists every account, oldest first.
func (s *Service) Accounts(ctx context.Context) ([]Account, error) { return s.store.Accounts(ctx) }
