package server

import (
	"context"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"parley/actors"
	"parley/internal/accounts"
	"parley/persistence"
	"parley/persistence/pgstore"
)

// Store is what a server runs on, whichever the engine: the Hub's store,
// the accounts' store, its metrics, and Close.
type Store interface {
	actors.Store
	accounts.Store
	Collectors() []prometheus.Collector
	Close() error
}

var (
	_ Store = (*persistence.Store)(nil)
	_ Store = (*pgstore.Store)(nil)
)

// IsPostgres reports whether db (a -db value) names a PostgreSQL database.
func IsPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// OpenStore opens the store that db names: the one place that picks the
// engine. A postgres:// or postgresql:// URL is PostgreSQL (pgstore);
// anything else is a SQLite file, given as a path or as sqlite:path
// (sqlite:///abs/path works too). sqlite configures SQLite only.
func OpenStore(ctx context.Context, db string, sqlite persistence.Options) (Store, error) {
	if IsPostgres(db) {
		st, err := pgstore.Open(ctx, db, pgstore.Options{Logger: sqlite.Logger})
		if err != nil {
			return nil, err
		}
		return st, nil
	}
	path := db
	if rest, ok := strings.CutPrefix(db, "sqlite:"); ok {
		path = strings.TrimPrefix(rest, "//")
	}
	st, err := persistence.Open(ctx, path, sqlite)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// displayDB is db as logs may show it: without a password.
func displayDB(db string) string {
	if IsPostgres(db) {
		return pgstore.Redact(db)
	}
	return db
}
