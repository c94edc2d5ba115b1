package main

// The persist scenario: the persistence actor alone, fed as fast as it
// accepts, against one autocommit INSERT per message on the same schema.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/mattn/go-sqlite3" // the driver persistence uses
	"github.com/oklog/ulid/v2"

	"parley/actors"
	"parley/internal/protocol"
	"parley/persistence"
)

// unionCPUs joins two taskset lists. Either empty (no pinning) makes the
// union empty too.
func unionCPUs(a, b string) (string, error) {
	if a == "" || b == "" {
		return "", nil
	}
	var all []int
	for _, list := range []string{a, b} {
		cpus, err := parseCPUList(list)
		if err != nil {
			return "", fmt.Errorf("cpu list %q: %w", list, err)
		}
		all = append(all, cpus...)
	}
	slices.Sort(all)
	return joinCPUs(slices.Compact(all)), nil
}

type persistConfig struct {
	Messages    int
	Autocommit  int
	Size        int
	Synchronous string
}

type persistResult struct {
	Synchronous     string  `json:"synchronous"`
	Messages        int     `json:"messages"`
	Seconds         float64 `json:"seconds"`
	CommittedPerSec float64 `json:"committed_msgs_per_sec"`
	Failed          int64   `json:"failed"`
	FullRetries     int64   `json:"queue_full_retries"`
	Batches         uint64  `json:"batches"`
	AvgBatch        float64 `json:"avg_batch"`
	Syncs           uint64  `json:"wal_syncs"`    // the acker's fdatasyncs (synchronous=FULL); one covers one or more batches
	Checkpoints     uint64  `json:"checkpoints"`  // background checkpoints
	WALRestarts     uint64  `json:"wal_restarts"` // of those, the ones that restarted the WAL (past its limit)
	ClientCPU       float64 `json:"cpu_pct"`

	AutocommitMessages int     `json:"autocommit_messages"`
	AutocommitSeconds  float64 `json:"autocommit_seconds"`
	AutocommitPerSec   float64 `json:"autocommit_msgs_per_sec"`
	Ratio              float64 `json:"ratio"`
}

func runPersist(ctx context.Context, cfg persistConfig, prog *progress) (*persistResult, error) {
	dir, err := os.MkdirTemp("", "parley-bench-persist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	r := &persistResult{Synchronous: strings.ToUpper(cfg.Synchronous), Messages: cfg.Messages, AutocommitMessages: cfg.Autocommit}

	store, err := persistence.Open(ctx, filepath.Join(dir, "batched.db"), persistence.Options{Synchronous: cfg.Synchronous})
	if err != nil {
		return nil, err
	}
	content := strings.Repeat("x", cfg.Size)
	now := time.Now().UTC().Truncate(time.Millisecond)
	entropy := ulid.Monotonic(rand.Reader, 0)
	var done, failed, queued atomic.Int64
	allDone := make(chan struct{})
	n := int64(cfg.Messages)
	cb := func(err error) {
		if err != nil {
			failed.Add(1)
		}
		if done.Add(1) == n {
			close(allDone)
		}
	}
	prog.set(func() (float64, string) {
		d := done.Load()
		return float64(d) / float64(n), fmt.Sprintf("persist: %d appended, %d committed", queued.Load(), d)
	})
	mon := &monitor{}
	cpu0 := mon.sample()
	start := time.Now()
	for i := range cfg.Messages {
		m := &actors.StoredMessage{
			ID:        ulid.MustNew(ulid.Timestamp(now), entropy).String(),
			Room:      "bench-" + strconv.Itoa(i%10),
			Username:  "bench",
			Content:   content,
			Timestamp: now,
		}
		for !store.Append(m, cb) {
			r.FullRetries++
			if r.FullRetries > 50_000_000 {
				store.Close()
				return nil, fmt.Errorf("persist: the store refused message %d fifty million times", i)
			}
			// Yield the core to the writer: the bench may be pinned to one.
			time.Sleep(100 * time.Microsecond)
		}
		queued.Add(1)
	}
	if n > 0 {
		select {
		case <-allDone:
		case <-time.After(5 * time.Minute):
			store.Close()
			return nil, fmt.Errorf("persist: only %d of %d messages committed after 5 minutes", done.Load(), n)
		}
	}
	el := time.Since(start)
	_, r.ClientCPU = cpuPercent(cpu0, mon.sample())
	st := store.Stats()
	if err := store.Close(); err != nil {
		return nil, err
	}
	r.Seconds = el.Seconds()
	r.CommittedPerSec = float64(n-failed.Load()) / el.Seconds()
	r.Failed = failed.Load()
	r.Batches = st.Batches
	r.Syncs, r.Checkpoints, r.WALRestarts = st.Syncs, st.Checkpoints, st.WALRestarts
	if st.Batches > 0 {
		r.AvgBatch = float64(st.Rows) / float64(st.Batches)
	}

	if cfg.Autocommit > 0 {
		sec, err := autocommitInserts(ctx, filepath.Join(dir, "autocommit.db"), cfg, prog)
		if err != nil {
			return nil, err
		}
		r.AutocommitSeconds = sec
		r.AutocommitPerSec = float64(cfg.Autocommit) / sec
		r.Ratio = r.CommittedPerSec / r.AutocommitPerSec
	}
	return r, nil
}

// autocommitInserts runs one INSERT per message, each its own transaction,
// on a new database with persistence's schema and the same journal and
// synchronous settings. It returns the seconds taken.
func autocommitInserts(ctx context.Context, path string, cfg persistConfig, prog *progress) (float64, error) {
	// Let persistence create the schema, so that it is exactly the same.
	store, err := persistence.Open(ctx, path, persistence.Options{Synchronous: cfg.Synchronous})
	if err != nil {
		return 0, err
	}
	if err := store.Close(); err != nil {
		return 0, err
	}
	abs, _ := filepath.Abs(path)
	q := url.Values{"_journal_mode": {"WAL"}, "_synchronous": {strings.ToUpper(cfg.Synchronous)}, "_busy_timeout": {"5000"}}
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: abs}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var level int
	if err := db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&level); err != nil {
		return 0, err
	}
	if want := map[string]int{"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}[strings.ToUpper(cfg.Synchronous)]; level != want {
		return 0, fmt.Errorf("autocommit database: synchronous is %d, want %d", level, want)
	}
	stmt, err := db.PrepareContext(ctx, "INSERT INTO messages (id, room, username, content, timestamp, is_private, recipient, nonce) VALUES (?,?,?,?,?,?,?,?)")
	if err != nil {
		return 0, err
	}
	defer stmt.Close()
	content := strings.Repeat("x", cfg.Size)
	now := time.Now().UTC().Truncate(time.Millisecond)
	ts := protocol.FormatTimestamp(now)
	entropy := ulid.Monotonic(rand.Reader, 0)
	var done atomic.Int64
	prog.set(func() (float64, string) {
		d := done.Load()
		return float64(d) / float64(cfg.Autocommit), fmt.Sprintf("persist: autocommit %d/%d", d, cfg.Autocommit)
	})
	start := time.Now()
	for i := range cfg.Autocommit {
		id := ulid.MustNew(ulid.Timestamp(now), entropy).String()
		if _, err := stmt.ExecContext(context.Background(), id, "bench-"+strconv.Itoa(i%10), "bench", content, ts, false, nil, nil); err != nil {
			return 0, fmt.Errorf("autocommit insert %d: %w", i, err)
		}
		done.Add(1)
	}
	return time.Since(start).Seconds(), nil
}
