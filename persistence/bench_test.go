package persistence

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"parley/actors"
	"parley/internal/protocol"
)

var benchContent = strings.Repeat("x", 100)

// benchID is a 20-digit, zero-padded i: unique and sorted, like a ULID.
func benchID(i int) string {
	var b [20]byte
	for j := len(b) - 1; j >= 0; j-- {
		b[j] = '0' + byte(i%10)
		i /= 10
	}
	return string(b[:])
}

// BenchmarkAppend measures messages committed per second through Append and
// done, the way the room actors use the writer, with synchronous=FULL. The
// messages go round-robin to rooms=N rooms: with one room every insert into
// the (room, id) index appends at its right edge; with ten, each statement
// writes in ten places of it, as a busy server does.
func BenchmarkAppend(b *testing.B) {
	type shape struct{ batch, rooms int }
	for _, sh := range []shape{{1, 1}, {64, 1}, {512, 1}, {1000, 1}, {512, 10}} {
		batch := sh.batch
		rooms := make([]string, sh.rooms)
		for i := range rooms {
			rooms[i] = fmt.Sprintf("room-%d", i)
		}
		b.Run(fmt.Sprintf("batch=%d/rooms=%d", batch, sh.rooms), func(b *testing.B) {
			const queue = 8192
			w, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"),
				Options{BatchMax: batch, QueueMessages: queue, Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			// One token per queue slot, taken before Append and given
			// back by done: the producer never finds the queue full and
			// never spins.
			tokens := make(chan struct{}, queue)
			var failed atomic.Int64
			done := func(err error) {
				if err != nil {
					failed.Add(1)
				}
				<-tokens // never blocks: a token was put in before Append
			}
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				tokens <- struct{}{}
				m := &actors.StoredMessage{
					ID: benchID(i), Room: rooms[i%len(rooms)], Username: "alice",
					Content: benchContent, Timestamp: baseTime,
				}
				if !w.Append(m, done) {
					b.Fatalf("Append(%d) = false", i)
				}
			}
			if err := w.Sync(context.Background()); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d messages failed", n)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// BenchmarkAutocommitInsert is the comparison: one INSERT, hence one
// transaction and one fsync, per message, with the same schema and pragmas.
func BenchmarkAutocommitInsert(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	w, err := Open(context.Background(), path, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	db, err := sqlx.Open("sqlite3", path+"?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=5000")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	stmt, err := db.Prepare(insertMessagesSQL(1))
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	ts := protocol.FormatTimestamp(baseTime)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if _, err := stmt.Exec(benchID(i), "general", "alice", benchContent, ts, false, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
