package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// engine is what differs between the two databases the store runs on; the
// rest of the store is the same SQL through database/sql.
type engine interface {
	name() string
	// checkpoint makes the database's durable state compact (SQLite's WAL).
	checkpoint(ctx context.Context, s *Store) error
	// size is the bytes the database takes on disk.
	size(ctx context.Context, s *Store) (int64, error)
	// usedBytes is the size pruning compares with max_db_size.
	usedBytes(ctx context.Context, s *Store) (int64, error)
	// reclaim gives the space of deleted rows back.
	reclaim(ctx context.Context, s *Store) error
	// recordFault tells an error caused by one record's content (a
	// constraint, a bad statement in its Apply, a plain Go error) from one
	// that would hit any record (I/O, disk full, locked, connection lost).
	recordFault(err error) bool
	// forUpdate is the clause that locks rows read before a write.
	forUpdate() string
	// messageKey is the conflict target of the messages dictionary's
	// unique index.
	messageKey() string
	// enqueued is told of an outbox row to notifier written in tx: on
	// PostgreSQL it wakes the other processes' listeners at commit.
	enqueued(tx *sql.Tx, notifier string) error
}

var (
	_ engine = sqliteEngine{}
	_ engine = (*pgEngine)(nil)
)

// sqliteEngine is a SQLite file in WAL mode: one write connection, a few
// read connections.
type sqliteEngine struct{}

func (sqliteEngine) name() string { return "SQLite" }

// forUpdate: the write lock is taken at BEGIN (_txlock=immediate).
func (sqliteEngine) forUpdate() string { return "" }

func (sqliteEngine) messageKey() string { return "text" }

// enqueued: one process writes and sends, woken in-process (OnCommit).
func (sqliteEngine) enqueued(*sql.Tx, string) error { return nil }

func openSQLite(s *Store, path string) error {
	s.eng = sqliteEngine{}
	ctx := context.Background()
	if s.readOnly {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("open database %s: %w", path, err)
		}
	} else {
		if err := createFile(path); err != nil {
			return err
		}
		s.w = sql.OpenDB(newConnector(dsn(path, false)))
		s.w.SetMaxOpenConns(1)
		s.w.SetMaxIdleConns(1)
		s.w.SetConnMaxLifetime(0)
		s.w.SetConnMaxIdleTime(0)
		if err := migrate(ctx, s.w, path); err != nil {
			return err
		}
		// SQLite gives -wal and -shm the database file's mode, minus umask
		// surprises; make sure they are not readable by others either.
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("open database %s: %w", path, err)
			}
		}
	}
	s.r = sql.OpenDB(newConnector(dsn(path, true)))
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)
	if s.readOnly {
		return checkSchema(ctx, s.r, path)
	}
	return nil
}

// createFile creates path with mode 0600 unless it exists, so that SQLite
// never creates it with the process umask.
func createFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil { // umask-independent
		f.Close()
		return fmt.Errorf("create database %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create database %s: %w", path, err)
	}
	return nil
}

// dsn is the go-sqlite3 connection string. auto_vacuum comes before
// journal_mode in the driver's order, which is what lets it apply to a new
// file; _txlock=immediate makes every write transaction take the write lock
// up front, so two processes never deadlock upgrading a read lock.
//
// The writer's page cache is SQLite's default 2 MB. Results and rollups are
// keyed by check, so each check appends to a leaf page of its own: with
// thousands of checks the pages written are spread over more of the file
// than any cache of a few MB holds, and a miss is a read from the OS page
// cache. A larger cache costs its full size in RSS and saves little CPU
// once the database outgrows it (measured in docs/BENCHMARKS.md, goal 3).
func dsn(path string, readOnly bool) string {
	p := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	bt := fmt.Sprintf("_busy_timeout=%d", busyTimeout.Milliseconds())
	if readOnly {
		return p + "?mode=ro&" + bt + "&_foreign_keys=1"
	}
	return p + "?_auto_vacuum=incremental&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1&_txlock=immediate&_cache_size=-2000&" + bt
}

// connector opens connections with pulse's SQL functions registered, without
// the package-level state of sql.Register.
type connector struct {
	drv *sqlite3.SQLiteDriver
	dsn string
}

func newConnector(dsn string) connector {
	return connector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
		return conn.RegisterFunc("pulse_hist_merge", histMergeSQL, true)
	}}}
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }

func (c connector) Driver() driver.Driver { return c.drv }

// checkpoint copies the WAL into the database file and truncates it.
func (sqliteEngine) checkpoint(ctx context.Context, s *Store) error {
	var busy, logPages, done int
	if err := s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
		return fmt.Errorf("checkpoint %s: %w", s.path, err)
	}
	return nil
}

// size is the bytes the database takes on disk: the file plus its WAL.
func (sqliteEngine) size(_ context.Context, s *Store) (int64, error) {
	var total int64
	for _, p := range []string{s.path, s.path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("size of database %s: %w", s.path, err)
		}
		total += fi.Size()
	}
	return total, nil
}

// recordFault tells an error caused by one record's content (a constraint,
// a bad statement in its Apply, a plain Go error) from one that would hit
// any record (I/O, disk full, locked).
func (sqliteEngine) recordFault(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return true
	}
	switch se.Code {
	case sqlite3.ErrConstraint, sqlite3.ErrMismatch, sqlite3.ErrRange, sqlite3.ErrTooBig, sqlite3.ErrError:
		return true
	}
	return false
}

// usedBytes is the size the database file has after a checkpoint.
func (sqliteEngine) usedBytes(ctx context.Context, s *Store) (int64, error) {
	var pages, size int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return 0, fmt.Errorf("database size: %w", err)
	}
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
		return 0, fmt.Errorf("database size: %w", err)
	}
	return pages * size, nil
}

// reclaim gives free pages back to the file system a few at a time, then
// checkpoints so the file and its WAL actually shrink.
func (sqliteEngine) reclaim(ctx context.Context, s *Store) error {
	for {
		var free int64
		if err := s.w.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		if free == 0 {
			break
		}
		// The pragma frees pages as its statement is stepped: read it to
		// the end, or only the first page goes.
		rows, err := s.w.QueryContext(ctx, fmt.Sprintf(`PRAGMA incremental_vacuum(%d)`, min(free, vacuumPages)))
		if err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		for rows.Next() {
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		var left int64
		if err := s.w.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&left); err != nil {
			return fmt.Errorf("vacuum: %w", err)
		}
		if left >= free { // not an auto_vacuum database
			break
		}
	}
	return s.Checkpoint(ctx)
}
