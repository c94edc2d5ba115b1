package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A started server serves two databases of its own, each empty and apart.
func TestStartAndNewDB(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	for _, dsn := range []string{s.NewDB(t), s.NewDB(t)} {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatalf("connect %s: %v", dsn, err)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil || n != 0 {
			t.Errorf("tables in a new database: got %d, %v, want 0", n, err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Errorf("create a table: %v", err)
		}
		conn.Close(ctx)
	}
}
