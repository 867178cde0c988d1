package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// AgentLock is the lock `pulse run` holds on the file beside its database
// (DATABASE.lock) for as long as it runs, so that a second agent on the same
// database refuses to start instead of opening a second incident for every
// failure and sending every notification twice. It is an flock: the kernel
// drops it when the process dies, even on kill -9, so it is never stale.
// Commands other than run (status, ack, check --record...) do not take it.
type AgentLock struct {
	f *os.File
}

// LockedError is LockAgent's answer when another agent holds the lock.
type LockedError struct {
	Database string
	PID      int // 0 when the holder's pid could not be read
}

func (e *LockedError) Error() string {
	who := "another agent"
	if e.PID > 0 {
		who = fmt.Sprintf("another agent (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s is running on %s; stop it first", who, e.Database)
}

// LockAgent takes the agent lock of the database at path without waiting,
// and writes this process's pid into the lock file for the next one to
// name. It returns a *LockedError when another process holds it.
func LockAgent(path string) (*AgentLock, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock database %s: %w", path, pathErr(err))
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Database: path, PID: holderPID(f)}
		}
		return nil, fmt.Errorf("lock database %s: %w", path, err)
	}
	// The pid only helps the next agent's error message: on a full disk,
	// where it may not be written, the agent must still start (systemd
	// restarts it there), holding the lock all the same.
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := f.Truncate(0); err == nil {
		f.WriteAt(pid, 0)
	}
	return &AgentLock{f: f}, nil
}

// holderPID reads the pid the lock's holder wrote. The holder writes it just
// after taking the lock, so an empty file is read again for a moment.
func holderPID(f *os.File) int {
	for range 20 {
		b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}

// Unlock releases the lock. The file stays: removing it would race with an
// agent that has just opened it, which would then lock a file no longer
// there while a third agent creates and locks a new one.
func (l *AgentLock) Unlock() error {
	return l.f.Close()
}

// pathErr drops the path *PathError adds; the caller's message names it.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
