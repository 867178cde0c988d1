package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pulse-monitor/pulse/pkg/redact"
	"golang.org/x/sys/unix"
)

// AgentLock is the lock `pulse run` holds on the file beside its database
// (DATABASE.lock) for as long as it runs, so that a second agent on the same
// database refuses to start instead of opening a second incident for every
// failure and sending every notification twice. It is an flock: the kernel
// drops it when the process dies, even on kill -9, so it is never stale.
// Commands other than run (status, ack, check --record...) do not take it.
//
// On PostgreSQL, where several agents share the database (pkg/cluster
// decides who does what), it is a shared session advisory lock held on a
// connection of its own: it keeps LockCopy, which `pulse migrate` takes
// exclusively, out while any agent runs, and agents out while a copy
// runs. The server drops it when that connection ends, which the
// process's death does too.
type AgentLock struct {
	f  *os.File
	pg *pgx.Conn
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
	if IsPostgres(path) {
		return lockPostgres(path, true)
	}
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
	if l.pg != nil {
		// Release before closing: the server drops a closed session's
		// locks only once its backend has exited, after Close returns, so
		// a `pulse migrate` started just after the last agent stopped
		// would still find the database taken. If the release fails the
		// close still ends the session, and with it the lock.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		l.pg.Exec(ctx, `SELECT pg_advisory_unlock_all()`)
		return l.pg.Close(ctx)
	}
	return l.f.Close()
}

// LockCopy takes the PostgreSQL database at url for `pulse migrate`: no
// agent runs on it meanwhile, and none starts.
func LockCopy(url string) (*AgentLock, error) { return lockPostgres(url, false) }

func lockPostgres(url string, shared bool) (*AgentLock, error) {
	where := redact.URL(url)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("lock database %s: %s", where, redact.Text(err.Error()))
	}
	var key int64
	var ok bool
	if err := conn.QueryRow(ctx, rebind(advisoryKeySQL), "pulse agent").Scan(&key); err == nil {
		q := `SELECT pg_try_advisory_lock($1)`
		if shared {
			q = `SELECT pg_try_advisory_lock_shared($1)`
		}
		err = conn.QueryRow(ctx, q, key).Scan(&ok)
	}
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("lock database %s: %w", where, err)
	}
	if !ok {
		// The holder's server process, not its pid on its host: what
		// finds it in pg_stat_activity.
		var pid int
		conn.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
			AND (classid::bigint << 32 | objid::bigint) = $1 LIMIT 1`, key).Scan(&pid)
		conn.Close(ctx)
		if shared {
			return nil, fmt.Errorf("lock database %s: `pulse migrate` is copying into it (server process %d); start the agent once it is done", where, pid)
		}
		return nil, &LockedError{Database: where, PID: pid}
	}
	return &AgentLock{pg: conn}, nil
}

// pathErr drops the path *PathError adds; the caller's message names it.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
