package store

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLockAgent: a second lock on the same database, through a second open
// file description (as a second process would have), is refused and names
// the holder's pid; once the first is released, it succeeds.
func TestLockAgent(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pulse.db")
	first, err := LockAgent(db)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(db + ".lock"); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want this pid", b, err)
	}

	second, err := LockAgent(db)
	var le *LockedError
	if !errors.As(err, &le) {
		if second != nil {
			second.Unlock()
		}
		t.Fatalf("second LockAgent: %v, want *LockedError", err)
	}
	if le.PID != os.Getpid() || le.Database != db {
		t.Errorf("LockedError = %+v, want pid %d and database %s", le, os.Getpid(), db)
	}
	want := "another agent (pid " + strconv.Itoa(os.Getpid()) + ") is running on " + db + "; stop it first"
	if err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}

	if err := first.Unlock(); err != nil {
		t.Fatal(err)
	}
	again, err := LockAgent(db)
	if err != nil {
		t.Fatalf("LockAgent after Unlock: %v", err)
	}
	again.Unlock()
}

// TestLockAgentOtherDatabase: the lock is per database, not per machine.
func TestLockAgentOtherDatabase(t *testing.T) {
	dir := t.TempDir()
	a, err := LockAgent(filepath.Join(dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Unlock()
	b, err := LockAgent(filepath.Join(dir, "b.db"))
	if err != nil {
		t.Fatalf("lock of another database: %v", err)
	}
	b.Unlock()
}
