package persistence

// Durable acknowledgements without an fsync on the writer's goroutine.
//
// The writer's connection commits with synchronous=NORMAL: in WAL mode a
// COMMIT then only write()s its frames into the -wal file, and SQLite syncs
// nothing until a checkpoint. With Options.Synchronous FULL (the default) the
// writer hands every committed batch to the acker goroutine, which
// fdatasyncs the -wal file and only then calls the batch's done callbacks;
// batches committed while a sync runs are covered together by the next one
// (group commit), and the writer goes on with the next batch meanwhile.
// Checkpoints are taken off the writer too (wal_autocheckpoint=0): the
// checkpointer goroutine runs them on a connection of its own.
//
// Why an acknowledged message survives power loss as it would with FULL:
//
//  1. Its COMMIT returned before the acker's fdatasync began, so the commit's
//     frames, and every frame before them in the WAL, were written into the
//     file by then; fdatasync returns only once all of the file's data and
//     size are on stable storage. The WAL header of the current generation
//     is already durable: SQLite syncs it (NORMAL included) whenever it
//     restarts the WAL, before the first frame after it. So recovery after
//     a power loss finds a valid chain of frames through that commit.
//  2. Those frames leave the WAL only when a later writer restarts it, which
//     SQLite does only once a checkpoint has copied every frame into the
//     database file; a checkpoint at NORMAL syncs the WAL before copying and
//     the database file after, before it records the frames as copied. So an
//     acknowledged commit is always in the synced WAL or the synced database.
//  3. The checkpointer's connection therefore runs at NORMAL too, never OFF
//     (unless the whole writer is OFF).
//
// A failed fdatasync fails the messages of the batches it was to cover (their
// done gets the error; they may or may not be stored, like a message whose
// process died before its ack). Linux reports a write-back error to an open
// file once, so a later fdatasync can succeed although frames before it never
// reached the disk, and WAL recovery stops at the first bad frame: after a
// failure no commit is acknowledged until a RESTART checkpoint, begun after
// the failure, has copied the whole WAL into the database file and synced it.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// errNotRecovered is the done error of a committed message whose WAL sync
// succeeded but came after a failed one that no checkpoint has made up for.
var errNotRecovered = errors.New("an earlier sync of the wal failed and no checkpoint has recovered it yet")

// batchBuf is one batch on its way from run to the acker, and back to run
// for reuse through Store.spare.
type batchBuf struct {
	items []item
	errs  []error // errs[i]: items[i]'s outcome at commit; nil if it was committed
	sync  bool    // committed, and must be made durable by a WAL sync before it is acknowledged
}

// newBuf returns a spare batch buffer, or a new one.
func (s *Store) newBuf() *batchBuf {
	select {
	case b := <-s.spare:
		return b
	default:
		return &batchBuf{items: make([]item, 0, s.opts.BatchMax), errs: make([]error, 0, s.opts.BatchMax)}
	}
}

// recycle gives b back to run, or to the garbage collector if enough are
// spare already.
func (s *Store) recycle(b *batchBuf) {
	clear(b.items) // drop references to written messages and their callbacks
	clear(b.errs)
	b.items, b.errs, b.sync = b.items[:0], b.errs[:0], false
	select {
	case s.spare <- b:
	default:
	}
}

// ackLoop is the acker goroutine, started by Open. It takes the batches run
// hands it, in order; it syncs the WAL once for all those waiting (if any of
// them needs it), then gives back their queue budget and calls their done
// callbacks, in order. It owns the -wal file descriptor s.wal (closed by
// Close once it has exited) and stops when run closes s.acks, after
// acknowledging everything handed to it.
func (s *Store) ackLoop() {
	defer close(s.ackerExited)
	group := make([]*batchBuf, 0, cap(s.acks)+1)
	for b := range s.acks {
		group = append(group[:0], b)
		// Everything already handed over shares the sync below: the
		// acker is the only receiver, so these receives cannot block.
		for len(s.acks) > 0 {
			group = append(group, <-s.acks)
		}
		var syncErr error
		if slices.ContainsFunc(group, func(b *batchBuf) bool { return b.sync }) {
			syncErr = s.syncWAL()
		}
		for _, b := range group {
			s.acknowledge(b, syncErr)
			s.recycle(b)
		}
		clear(group)
	}
}

// syncWAL makes every frame written to the WAL so far durable, or says why
// it cannot vouch for them.
func (s *Store) syncWAL() error {
	err := s.opts.syncFile(s.wal)
	s.stats.syncs.Add(1)
	if err != nil {
		s.stats.failedSyncs.Add(1)
		s.syncFailures.Add(1)
		s.kickCheckpointer()
		s.log.Error("persistence: wal sync failed; the batches it covered are not acknowledged",
			"path", s.path, "err", err)
		return fmt.Errorf("sync wal: %w", err)
	}
	if s.syncFailures.Load() > s.recovered.Load() {
		return fmt.Errorf("sync wal: %w", errNotRecovered)
	}
	return nil
}

// acknowledge gives back b's queue budget, counts its outcome and calls its
// done callbacks in order. syncErr, if not nil, replaces the success of
// whatever b committed when b needed the sync.
func (s *Store) acknowledge(b *batchBuf, syncErr error) {
	var bytes, msgs int64
	var rows, failed uint64
	for i, it := range b.items {
		bytes += it.size
		switch {
		case it.kind == kindBarrier:
			b.errs[i] = nil // a barrier only marks a place in the queue; it cannot fail
			continue
		case b.errs[i] == nil && b.sync && syncErr != nil:
			b.errs[i] = syncErr
		}
		if it.kind == kindMessage {
			msgs++
			if b.errs[i] == nil {
				rows++
			} else {
				failed++
			}
		}
	}
	// Give the budget back before acknowledging, so a done that appends
	// again finds the room.
	s.queued.Add(-bytes)
	s.pending.Add(-msgs)
	s.stats.rows.Add(rows)
	s.stats.failedRows.Add(failed)
	for i, it := range b.items {
		if it.done != nil {
			it.done(b.errs[i])
		}
	}
}

// While fewer than quietRowsPerSecond messages a second are committed, the
// checkpointer rests quietCheckpointPause between checkpoints instead of
// Options.CheckpointInterval: the WAL then grows by a few hundred rows at
// most between two.
const (
	quietRowsPerSecond   = 5000
	quietCheckpointPause = 100 * time.Millisecond
)

// kickCheckpointer asks for a checkpoint soon, without blocking: one pending
// request is as good as many.
func (s *Store) kickCheckpointer() {
	select {
	case s.ckptKick <- struct{}{}:
	default:
	}
}

// checkpointLoop is the checkpointer goroutine, started by Open. It owns the
// checkpoint connection (s.cconn, closed by Close once it has exited). It
// waits for a commit (or a failed sync) to ask for a checkpoint, runs one,
// then rests Options.CheckpointInterval so that one checkpoint covers many
// commits, or quietCheckpointPause while the writer is quiet; an idle writer
// costs it no wake-ups. It stops when Close closes s.ckptStop, which happens
// only after run and the acker have exited.
func (s *Store) checkpointLoop() {
	defer close(s.ckptExited)
	rest := time.NewTimer(time.Hour)
	rest.Stop()
	var backoff time.Duration
	lastRows, lastAt := s.stats.rows.Load(), time.Now()
	for {
		select {
		case <-s.ckptStop:
			return
		case <-s.ckptKick:
		}
		pause := s.opts.CheckpointInterval
		// A checkpoint costs two syncs however little it copies: at an
		// everyday load, one every CheckpointInterval was a tenth of
		// the server's CPU (docs/performance.md). Quiet means fewer
		// rows since the last one than quietRowsPerSecond for the time.
		rows, now := s.stats.rows.Load(), time.Now()
		if float64(rows-lastRows) < quietRowsPerSecond*now.Sub(lastAt).Seconds() {
			pause = max(pause, quietCheckpointPause)
		}
		lastRows, lastAt = rows, now
		if err := s.checkpoint(); err != nil {
			// A persistent fault (full disk, lost lock) must not become a
			// busy loop, nor a log line per commit.
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			pause = max(pause, backoff)
			s.log.Warn("persistence: checkpoint failed", "path", s.path, "retry_in", pause, "err", err)
		} else {
			backoff = 0
		}
		if s.syncFailures.Load() > s.recovered.Load() {
			s.kickCheckpointer() // recovery is owed: try again after the pause, commits or not
		}
		rest.Reset(pause)
		select {
		case <-s.ckptStop:
			rest.Stop()
			return
		case <-rest.C:
		}
	}
}

// checkpoint copies what it can of the WAL into the database file without
// holding the writer up (PASSIVE). Under continuous writes a PASSIVE
// checkpoint never catches up with the writer, so the WAL would never
// restart and would grow without end: past Options.WALLimit, or when a
// failed sync is owed a recovery, it runs a RESTART checkpoint instead,
// which waits for the writer to finish its transaction (through walMu, so
// that the writer cannot keep winning SQLite's busy-handler race), copies
// everything and makes the writer's next transaction start the WAL over.
// The writer waits meanwhile.
func (s *Store) checkpoint() error {
	failures := s.syncFailures.Load()
	recovering := failures > s.recovered.Load()
	// The file passes the limit only when the log does: when the writer
	// starts the WAL over it cuts the file back to the limit
	// (journal_size_limit). Then there is no point in a PASSIVE round,
	// during which the writer would add to it.
	over := false
	if fi, err := s.wal.Stat(); err == nil && fi.Size() > s.opts.WALLimit {
		over = true
	}
	if !recovering && !over {
		log, _, err := s.walCheckpoint("PASSIVE")
		if err != nil {
			return err
		}
		if log*s.frameBytes <= s.opts.WALLimit {
			return nil
		}
	}
	s.walMu.Lock()
	log, done, err := s.walCheckpoint("RESTART")
	s.walMu.Unlock()
	if err != nil {
		return err
	}
	if done < log {
		// A reader held the checkpoint back beyond the busy timeout.
		return fmt.Errorf("restart checkpoint: %d of %d wal frames copied", done, log)
	}
	s.stats.walRestarts.Add(1)
	if recovering {
		s.recovered.Store(failures)
		s.log.Info("persistence: wal checkpointed after a failed sync; acknowledging again", "path", s.path)
	}
	return nil
}

// walCheckpoint runs PRAGMA wal_checkpoint(mode) and returns the frames in
// the WAL and how many of them are now in the database file.
func (s *Store) walCheckpoint(mode string) (log, done int64, err error) {
	var busy int
	// context.Background: go-sqlite3 would start a watcher goroutine for
	// a context that can be cancelled.
	row := s.cconn.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")")
	if err := row.Scan(&busy, &log, &done); err != nil {
		return 0, 0, fmt.Errorf("%s checkpoint: %w", mode, err)
	}
	s.stats.checkpoints.Add(1)
	if busy != 0 && mode != "PASSIVE" {
		return log, done, fmt.Errorf("%s checkpoint: busy: %d of %d wal frames copied", mode, done, log)
	}
	return log, done, nil
}

// openWAL opens the -wal file for the acker's syncs and makes it, its
// directory entry and what Open wrote (the schema) durable at once: the
// writer's connection, at NORMAL, did not sync them.
func openWAL(path string) (*os.File, error) {
	// Read-write although it is never written: some systems refuse to
	// sync a file opened read-only.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open wal for syncing: %w", err)
	}
	if err := fdatasync(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sync wal: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("sync wal directory: %w", err)
	}
	return f, nil
}
