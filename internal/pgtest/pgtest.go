// Package pgtest runs a real, throwaway PostgreSQL server for tests: a
// cluster made by initdb in a temporary directory, listening on a random
// loopback port, stopped and removed when the test that started it ends.
//
// Start costs an initdb and a server start (a second or two), so a test
// starts one server and gives each of its cases a database of its own
// (NewDB), which costs a CREATE DATABASE.
//
// Without PostgreSQL installed the tests that need it skip with a loud
// message; with the CI variable set (as .ci/run does) they fail instead,
// as the browser tests do. PARLEY_PG_BIN names the directory of initdb and
// pg_ctl if they are in neither PATH nor /usr/lib/postgresql/*/bin.
//
// The work is internal/pgrun's (which the bench shares); this package
// turns its errors into test failures and its Close into a cleanup.
package pgtest

import (
	"context"
	"errors"
	"os"
	"testing"

	"parley/internal/pgrun"
)

// Server is one running throwaway PostgreSQL server.
type Server struct {
	s *pgrun.Server
}

// Require skips t (fails it under CI) when PostgreSQL is not installed,
// for a test that starts PostgreSQL some other way than Start (a program
// it runs, say).
func Require(t testing.TB) {
	t.Helper()
	if pgrun.BinDir() == "" {
		notInstalled(t)
	}
}

func notInstalled(t testing.TB) {
	t.Helper()
	msg := pgrun.ErrNotInstalled.Error() + ": SKIPPING the PostgreSQL tests"
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (required under CI)")
	}
	t.Skip("!!! " + msg)
}

// Start starts a server for t, or skips t (fails it under CI) when
// PostgreSQL is not installed. The server is stopped and its directory
// removed at t's cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := pgrun.Start(pgrun.Options{})
	if errors.Is(err, pgrun.ErrNotInstalled) {
		notInstalled(t)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return &Server{s: s}
}

// Start starts the server again after Stop (Start, the function, starts
// it the first time), on the same port and data.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.s.Start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Stop stops the server at once (pg_ctl's immediate mode: as if it
// crashed; it recovers from its WAL at the next Start). Its clients' next
// statements fail, and new connections are refused.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.s.Stop(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// DSN is the address of database db on s.
func (s *Server) DSN(db string) string { return s.s.DSN(db) }

// NewDB creates an empty database on s and returns its DSN. It is dropped
// at t's cleanup (forcing out connections left open: a failed test's).
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pgrun.StartLimit)
	defer cancel()
	name, dsn, err := s.s.CreateDB(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), pgrun.StartLimit)
		defer cancel()
		if err := s.s.DropDB(ctx, name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return dsn
}
