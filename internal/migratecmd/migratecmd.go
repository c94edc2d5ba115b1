// Package migratecmd is `parley migrate-store`: it copies a single node's
// SQLite chat (persistence) into PostgreSQL (persistence/pgstore), every
// table the SQLite schema holds, so that the same chat can be served by
// nodes that share PostgreSQL.
//
// The copy goes table by table in primary-key order, in batches of a
// bounded number of rows, each batch one PostgreSQL transaction that also
// records how far the table got (the migrate_store_progress table in the
// target). A run that is stopped (killed, Ctrl-C, a lost connection)
// leaves whole batches behind it, and the next run goes on after the last
// one; a run after a complete one finds every table done and copies
// nothing. Rows the target has already (the same key) are left as they are
// and counted as skipped.
package migratecmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"

	"parley/internal/subcmd"
	"parley/persistence/pgstore"
)

// Usage is the subcommand's help.
const Usage = `Usage:
  parley migrate-store -from FILE -to postgres://USER:PASS@HOST:5432/DB?sslmode=disable [-batch N]

Copies a parley SQLite database (the -db of a single node) into PostgreSQL:
rooms, room messages with their edits and deletions, private messages,
accounts with their password hashes and sessions, the rooms each account
is in, read markers and conversations. The PostgreSQL database must exist;
its schema is made or brought up to date first. Then start parley with
-db set to the same URL.

Stop the server that uses FILE first. The source is opened read-only and
read as one snapshot, taken when the copy starts: what a running server
writes after that is not copied.

The copy goes in batches of -batch rows (default 5000), each committed
with how far it got (in the table migrate_store_progress), so it can be
stopped at any time: run the same command again and it goes on where it
stopped. Once complete, running it again copies nothing. A row the target
already has is kept as it is and counted as skipped. The target must not
hold accounts of its own when a copy begins (their ids would collide).

It logs its progress per batch and prints, per table, the rows in the
source, those copied by this run and those skipped (already in the target).
`

// DefaultBatch is the rows per transaction unless -batch says otherwise.
const DefaultBatch = 5000

// Config is one copy.
type Config struct {
	From   string       // the SQLite database file (or sqlite:file)
	To     string       // the PostgreSQL URL (postgres:// or postgresql://)
	Batch  int          // rows per transaction; 0: DefaultBatch
	Logger *slog.Logger // progress; nil: slog.Default()
}

// TableResult is what a run did to one table.
type TableResult struct {
	Table   string
	Source  int64 // rows in the source
	Copied  int64 // rows this run inserted
	Skipped int64 // rows the target had already (copied by an earlier run, or there before)
}

// Run runs `parley migrate-store` with args (what follows
// "migrate-store"). Progress is logged on errOut; the summary is printed
// on out.
func Run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) > 0 && (args[0] == "help" || args[0] == "--help") {
		fmt.Fprint(out, Usage)
		return nil
	}
	var cfg Config
	fs := subcmd.FlagSet("migrate-store", Usage, errOut)
	fs.StringVar(&cfg.From, "from", "", "the SQLite database `file` to copy")
	fs.StringVar(&cfg.To, "to", "", "the PostgreSQL `URL` to copy into")
	fs.IntVar(&cfg.Batch, "batch", DefaultBatch, "`rows` per transaction")
	operands, err := subcmd.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(operands) > 0 {
		fmt.Fprint(errOut, Usage)
		return fmt.Errorf("migrate-store: unexpected %q (the source and target are -from and -to)", operands[0])
	}
	cfg.Logger = slog.New(slog.NewTextHandler(errOut, nil))
	results, err := Migrate(ctx, cfg)
	if len(results) > 0 {
		if perr := printSummary(out, results); err == nil {
			err = perr
		}
	}
	if err != nil {
		return fmt.Errorf("migrate-store: %w", err)
	}
	return nil
}

func printSummary(out io.Writer, results []TableResult) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSOURCE\tCOPIED\tSKIPPED")
	var total TableResult
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", r.Table, r.Source, r.Copied, r.Skipped)
		total.Source += r.Source
		total.Copied += r.Copied
		total.Skipped += r.Skipped
	}
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\n", total.Source, total.Copied, total.Skipped)
	return tw.Flush()
}

// Migrate copies cfg.From into cfg.To and returns what it did per table,
// in copy order; on an error, what it did up to it. Everything it
// committed stays: the next call goes on from there.
func Migrate(ctx context.Context, cfg Config) ([]TableResult, error) {
	if cfg.Batch == 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Batch < 0 {
		return nil, fmt.Errorf("-batch %d: want a positive number of rows", cfg.Batch)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	// -db's other spelling of a SQLite file (main.go) works here too.
	cfg.From = strings.TrimPrefix(strings.TrimPrefix(cfg.From, "sqlite:"), "//")
	if cfg.From == "" {
		return nil, errors.New("-from is missing: name the SQLite database file to copy")
	}
	if !strings.HasPrefix(cfg.To, "postgres://") && !strings.HasPrefix(cfg.To, "postgresql://") {
		if cfg.To == "" {
			return nil, errors.New("-to is missing: give the PostgreSQL URL to copy into (postgres://...)")
		}
		return nil, fmt.Errorf("-to %q: want a PostgreSQL URL, postgres://user:pass@host:5432/db?sslmode=disable", pgstore.Redact(cfg.To))
	}
	src, err := openSource(ctx, cfg.From)
	if err != nil {
		return nil, err
	}
	defer src.close()
	dst, err := openTarget(ctx, cfg.To, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer dst.close()
	log := cfg.Logger
	log.Info("migrate-store: copying", "from", cfg.From, "to", pgstore.Redact(cfg.To), "tables", len(tables), "batch", cfg.Batch)
	var results []TableResult
	for _, t := range tables {
		r, err := copyTable(ctx, src, dst, t, cfg.Batch, log)
		results = append(results, r)
		if err != nil {
			return results, fmt.Errorf("table %s: %w", t.name, err)
		}
	}
	var copied, skipped int64
	for _, r := range results {
		copied += r.Copied
		skipped += r.Skipped
	}
	log.Info("migrate-store: complete", "copied", copied, "skipped", skipped)
	return results, nil
}
