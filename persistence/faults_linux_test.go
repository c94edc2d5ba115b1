package persistence

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"

	"parley/actors"
)

// These tests produce real storage faults, which needs root: a size-limited
// or read-only tmpfs (CAP_SYS_ADMIN) and the immutable attribute
// (CAP_LINUX_IMMUTABLE; a mode-0444 file would not stop root). Where that
// cannot be done they skip, loudly, naming what went untested.

// mountTmpfs mounts a tmpfs of the given options on a fresh directory,
// unmounted at cleanup (after any writer opened later is closed).
func mountTmpfs(t *testing.T, options string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, options); err != nil {
		t.Skipf("SKIPPED, STORAGE FAULT NOT TESTED: cannot mount a tmpfs (%v); run as root with CAP_SYS_ADMIN to cover it", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// setImmutable sets or clears the immutable attribute of paths. Once set it
// is cleared again at cleanup, so that the temporary directory can go.
func setImmutable(t *testing.T, on bool, paths ...string) {
	t.Helper()
	flag := "-i"
	if on {
		flag = "+i"
	}
	chattr, err := exec.LookPath("chattr")
	if err != nil && on {
		t.Skipf("SKIPPED, STORAGE FAULT NOT TESTED: no chattr to make a file read-only for root (%v)", err)
	}
	for _, p := range paths {
		if out, err := exec.Command(chattr, flag, p).CombinedOutput(); err != nil {
			if on {
				t.Skipf("SKIPPED, STORAGE FAULT NOT TESTED: chattr +i %s: %v: %s (needs root and a file system with attributes)", p, err, out)
			}
			t.Fatalf("chattr -i %s: %v: %s", p, err, out)
		}
		if on {
			t.Cleanup(func() { _ = exec.Command(chattr, "-i", p).Run() })
		}
	}
}

// fillUp writes to a file in dir until the file system is full, and returns
// the file's path.
func fillUp(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return path
		}
	}
}

func TestOpenReadOnlyFile(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	setImmutable(t, true, path)
	w, err := Open(testCtx(t), path, Options{Logger: quietLogger()})
	if err == nil {
		_ = w.Close()
		t.Fatal("Open of an immutable file = nil error, want one")
	}
	if want := fmt.Sprintf("open database %q: ", path); !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "readonly database") {
		t.Errorf("Open of an immutable file: %q, want %q... 'readonly database'", err, want)
	}
}

func TestOpenReadOnlyFileSystem(t *testing.T) {
	dir := mountTmpfs(t, "size=4m")
	path := filepath.Join(dir, "chat.db")
	w := openTest(t, path, Options{})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
	w, err := Open(testCtx(t), path, Options{Logger: quietLogger()})
	if err == nil {
		_ = w.Close()
		t.Fatal("Open on a read-only file system = nil error, want one")
	}
	if want := fmt.Sprintf("open database %q: directory %s is not writable: ", path, dir); !strings.HasPrefix(err.Error(), want) || !errors.Is(err, syscall.EROFS) {
		t.Errorf("Open on a read-only file system: %q, want %q... wrapping EROFS", err, want)
	}
}

// A full disk fails the batch; freeing space lets the next one commit.
func TestRuntimeDiskFullFailsBatchThenRecovers(t *testing.T) {
	dir := mountTmpfs(t, "size=2m")
	w := openTest(t, filepath.Join(dir, "chat.db"), Options{})
	filler := fillUp(t, dir)

	// Big enough to need pages the WAL does not have yet.
	big := func(id string) *actors.StoredMessage {
		m := roomMsg(id, "general", "alice", 1)
		m.Content = strings.Repeat("x", 256<<10)
		return m
	}
	err := appendExpectingFailure(t, w, big("m1"))
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrFull {
		t.Errorf("done on a full disk = %v, want SQLITE_FULL", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	appendAll(t, w, []*actors.StoredMessage{big("m2")})
	checkStoredOnly(t, w, "general", "m2")
}

// The database files made read-only under a running writer: the batch
// fails; made writable again, the next batch commits.
func TestRuntimeReadOnlyFileFailsBatchThenRecovers(t *testing.T) {
	path := tempDB(t)
	w := openTest(t, path, Options{})
	appendAll(t, w, []*actors.StoredMessage{roomMsg("m1", "general", "alice", 1)})

	files := []string{path, path + "-wal"}
	setImmutable(t, true, files...)
	err := appendExpectingFailure(t, w, roomMsg("m2", "general", "alice", 2))
	var se sqlite3.Error
	if !errors.As(err, &se) || se.Code != sqlite3.ErrIoErr {
		t.Errorf("done with read-only files = %v, want an SQLITE_IOERR", err)
	}
	setImmutable(t, false, files...)
	appendAll(t, w, []*actors.StoredMessage{roomMsg("m3", "general", "alice", 3)})
	checkStoredOnly(t, w, "general", "m1", "m3")
}
