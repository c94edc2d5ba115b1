package actors

import (
	"time"

	"golang.org/x/time/rate"

	"parley/internal/protocol"
)

// Budgets shared by several connections: those of one client (every
// connection from one address, as the transport keys it) and those of one
// account. Each connection also has its own (Session.newRooms). A request
// that spends from a budget spends from all of the connection's at once, or
// from none.
//
// A budget outlives its connections until it has refilled: a client that
// spent it cannot get a fresh one by reconnecting. Entries with no
// connection are swept once there are many of them (sweepBudgets), so the
// map is bounded by the clients and accounts seen within a refill time.

// RoomCreation says who may create rooms (Config.RoomCreation).
type RoomCreation string

const (
	RoomCreationAnyone   RoomCreation = "anyone"   // guests and accounts (the default)
	RoomCreationAccounts RoomCreation = "accounts" // signed-in users only
	RoomCreationAdmins   RoomCreation = "admins"   // accounts with the admin role only
)

// budget is what the connections of one client, or of one account, may
// spend together.
type budget struct {
	refs     int           // connections holding it; changed only inside the budgets map's Compute
	rooms    *rate.Limiter // new rooms
	requests *rate.Limiter // request tokens (cost.go); nil for an account's
}

// holdBudget returns the budget under key, made by mk if there is none, and
// counts one more connection holding it.
func (h *Hub) holdBudget(key string, mk func() *budget) *budget {
	b, _ := h.budgets.Compute(key, func(old *budget, loaded bool) (*budget, bool) {
		if !loaded {
			old = mk()
		}
		old.refs++
		return old, false
	})
	return b
}

// releaseBudget counts one connection fewer holding the budget under key,
// and forgets it once none holds it and it has refilled.
func (h *Hub) releaseBudget(key string) {
	now := h.cfg.Clock.Now()
	h.budgets.Compute(key, func(old *budget, loaded bool) (*budget, bool) {
		if !loaded {
			return nil, true
		}
		old.refs--
		return old, old.refs <= 0 && old.full(now)
	})
	if h.budgets.Size() > budgetSweepAt {
		// At most one sweep a second: with many clients connected, a
		// sweep per disconnect would make a storm of them quadratic.
		last := h.budgetSweep.Load()
		if now.UnixNano()-last >= int64(time.Second) && h.budgetSweep.CompareAndSwap(last, now.UnixNano()) {
			h.sweepBudgets(now)
		}
	}
}

// budgetSweepAt is how many budgets the map holds before a release sweeps
// the ones no connection holds and that have refilled.
const budgetSweepAt = 4096

func (h *Hub) sweepBudgets(now time.Time) {
	h.budgets.Range(func(key string, _ *budget) bool {
		h.budgets.Compute(key, func(old *budget, loaded bool) (*budget, bool) {
			return old, !loaded || (old.refs <= 0 && old.full(now))
		})
		return true
	})
}

func (b *budget) full(now time.Time) bool {
	return full(b.rooms, now) && (b.requests == nil || full(b.requests, now))
}

func full(l *rate.Limiter, now time.Time) bool { return l.TokensAt(now) >= float64(l.Burst()) }

// holdBudgets takes the session's shared budgets: its client's and, for an
// account, its account's. Before the session is published.
func (s *Session) holdBudgets() {
	l := s.hub.cfg.Limits
	s.clientBudget = s.hub.holdBudget(clientKey(s.client), func() *budget {
		return &budget{
			rooms:    perMinute(l.ClientRoomsPerMinute),
			requests: rate.NewLimiter(rate.Limit(l.ClientRatePerSec), l.ClientBurst),
		}
	})
	if s.account {
		s.accountBudget = s.hub.holdBudget(accountKey(s.key), func() *budget {
			return &budget{rooms: perMinute(l.RoomsPerMinute)}
		})
	}
}

// releaseBudgets lets go of the shared budgets, once.
func (s *Session) releaseBudgets() {
	if s.clientBudget != nil {
		s.hub.releaseBudget(clientKey(s.client))
	}
	if s.accountBudget != nil {
		s.hub.releaseBudget(accountKey(s.key))
	}
	s.clientBudget, s.accountBudget = nil, nil
}

// perMinute is a limiter of n a minute, n at once.
func perMinute(n int) *rate.Limiter { return rate.NewLimiter(rate.Limit(float64(n)/60), n) }

// budgetKeys are the shared budgets a connection holds: its client's, and
// its account's.
func clientKey(client string) string    { return "client " + client }
func accountKey(skeleton string) string { return "account " + skeleton }

// mayCreate reports whether the session may create the room name, which is
// not known yet: the server's policy (Config.RoomCreation) must allow it,
// and the connection, its client and its account must each have a new room
// left in their budgets (Limits.RoomsPerMinute, ClientRoomsPerMinute),
// which it spends. Otherwise the client is told why.
func (s *Session) mayCreate(ref, name string) bool {
	switch s.hub.cfg.RoomCreation {
	case RoomCreationAccounts:
		if !s.account {
			s.fail(ref, protocol.CodeNotAllowed, "only signed-in users may create rooms here: there is no room "+name)
			return false
		}
	case RoomCreationAdmins:
		if !s.admin {
			s.fail(ref, protocol.CodeNotAllowed, "only admins may create rooms here: there is no room "+name)
			return false
		}
	}
	now := s.hub.cfg.Clock.Now()
	if s.newRooms == nil {
		s.newRooms = perMinute(s.hub.cfg.Limits.RoomsPerMinute)
	}
	limiters := []*rate.Limiter{s.newRooms, s.clientBudget.rooms}
	if s.accountBudget != nil {
		limiters = append(limiters, s.accountBudget.rooms)
	}
	var taken []*rate.Reservation
	for _, l := range limiters {
		r := l.ReserveN(now, 1)
		if !r.OK() || r.DelayFrom(now) > 0 {
			r.CancelAt(now)
			for _, t := range taken {
				t.CancelAt(now)
			}
			s.hub.metrics.roomsRefused.Add(1)
			s.fail(ref, protocol.CodeRateLimited, "you have created too many rooms: wait a minute before creating "+name)
			return false
		}
		taken = append(taken, r)
	}
	return true
}
