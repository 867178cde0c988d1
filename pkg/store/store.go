// Package store is pulse's SQLite database: embedded, numbered migrations
// under PRAGMA user_version; one batched writer for results, check state and
// whatever other packages write in the same transaction (incident events,
// outbox rows); hourly and daily rollups; reads for status and reports; retention.
//
// The agent holds one write connection and a few read connections, all in
// WAL mode, so readers (the CLI, the status page) never wait for the writer
// and the writer never waits for them.
//
// A raw result is a few integers (ok results keep no message) so that 30
// days of them at a 1-minute interval stay small on a VM's disk; results are
// keyed (check, time), so a batch dirties about one leaf page per distinct
// check. The bytes per result and the writer's throughput are measured in
// docs/BENCHMARKS.md (BenchmarkWriteResults, TestStorageBytesPerResult).
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
	"github.com/pulse-monitor/pulse/checks"
)

// Compile-time checks that the store serves the check kinds that read history.
var (
	_ checks.History    = (*Store)(nil)
	_ checks.Heartbeats = (*Store)(nil)
)

// ErrClosed is returned by writes to a closed Store.
var ErrClosed = errors.New("store is closed")

// ErrReadOnly is returned by writes to a Store opened with Options.ReadOnly.
var ErrReadOnly = errors.New("store is read-only")

// ErrGaveUp is Submit's error once the stop bound set by StopBy has passed
// while the record waited for room in the queue: it was not written.
var ErrGaveUp = errors.New("database refused writes until the stop bound; record not written")

// RollupRetention is how long hourly rollups are kept.
const RollupRetention = 400 * 24 * time.Hour

const (
	busyTimeout = 5 * time.Second
	readConns   = 4
	queueSize   = 4096 // records waiting for the writer before Submit blocks
	maxBatch    = 512  // records per write transaction
)

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// ReadOnly opens the database for reading only (the CLI's status and
	// report): no file is created, no migration runs, and a database whose
	// schema is older than this binary's is refused with a message telling
	// to start `pulse run` once, which upgrades it. Writers (the agent, ack,
	// silence) open read-write and upgrade in place.
	ReadOnly bool
	// OnCommit, when set, is called by the writer after each committed batch
	// with the number of records in it, before the batch's Done callbacks
	// run and its Flush calls return; it must not block (the notification
	// dispatcher uses it to wake up). See also SetOnCommit.
	OnCommit func(n int)
}

// SchemaError is returned by Open for a database this binary cannot use as is.
type SchemaError struct {
	Path  string
	Have  int // the database's user_version
	Known int // the newest schema this binary knows
}

func (e *SchemaError) Error() string {
	if e.Have > e.Known {
		return fmt.Sprintf("database %s was written by a newer pulse (schema %d; this pulse knows up to %d): upgrade pulse or use another --db",
			e.Path, e.Have, e.Known)
	}
	return fmt.Sprintf("database %s has schema %d but this pulse needs %d: run `pulse run` once to upgrade it",
		e.Path, e.Have, e.Known)
}

// Store is an open pulse database.
type Store struct {
	path     string
	log      *slog.Logger
	now      func() time.Time
	readOnly bool

	w *sql.DB // exactly one connection: the writer, pings, prune
	r *sql.DB // readers

	stmts    stmts
	onCommit atomic.Pointer[func(int)]

	mu        sync.RWMutex // guards closed against Submit/Flush racing Close
	closed    bool
	closing   chan struct{} // closed when Close starts
	queue     chan item
	startOnce sync.Once
	stopped   chan struct{}
	closeOnce sync.Once
	closeErr  error
	// giveUp is closed when the stop bound set by StopBy has passed: the
	// writer then drops what the database refuses instead of holding it,
	// and Submit stops waiting for room. lost counts the records dropped.
	giveUp   chan struct{}
	stopOnce sync.Once
	lost     atomic.Int64
	// refusing is the error of the batch the writer holds because the
	// database refuses it (nil once a batch commits).
	refusing atomic.Pointer[refusal]

	wr         *writer // owned by the writer goroutine
	pruneChunk int     // rows per DELETE statement
	dailyChunk int     // checks per daily-rollup transaction
	retryBase  time.Duration
	writeFault func() error // tests: fails the writer's transactions
}

// Open opens (creating it with mode 0600 when missing) and migrates the
// database at path.
func Open(path string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		path:     path,
		log:      opts.Logger,
		now:      opts.Now,
		readOnly: opts.ReadOnly,
		stopped:  make(chan struct{}),
		closing:  make(chan struct{}),
		giveUp:   make(chan struct{}),

		pruneChunk: pruneChunk,
		dailyChunk: dailyChunk,
		retryBase:  50 * time.Millisecond,
	}
	if opts.OnCommit != nil {
		s.SetOnCommit(opts.OnCommit)
	}
	ctx := context.Background()
	if opts.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	} else {
		if err := createFile(path); err != nil {
			return nil, err
		}
		s.w = sql.OpenDB(newConnector(dsn(path, false)))
		s.w.SetMaxOpenConns(1)
		s.w.SetMaxIdleConns(1)
		s.w.SetConnMaxLifetime(0)
		s.w.SetConnMaxIdleTime(0)
		if err := migrate(ctx, s.w, path); err != nil {
			s.w.Close()
			return nil, err
		}
		// SQLite gives -wal and -shm the database file's mode, minus umask
		// surprises; make sure they are not readable by others either.
		for _, suffix := range []string{"-wal", "-shm"} {
			if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.w.Close()
				return nil, fmt.Errorf("open database %s: %w", path, err)
			}
		}
	}
	s.r = sql.OpenDB(newConnector(dsn(path, true)))
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)
	if opts.ReadOnly {
		if err := checkSchema(ctx, s.r, path); err != nil {
			s.r.Close()
			return nil, err
		}
	}
	if err := s.prepare(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if !opts.ReadOnly {
		s.queue = make(chan item, queueSize)
		s.wr = newWriter(s)
	}
	return s, nil
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

// SetOnCommit replaces the hook called after each committed batch.
func (s *Store) SetOnCommit(f func(n int)) {
	if f == nil {
		s.onCommit.Store(nil)
		return
	}
	s.onCommit.Store(&f)
}

func (s *Store) isClosing() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

func (s *Store) gaveUp() bool {
	select {
	case <-s.giveUp:
		return true
	default:
		return false
	}
}

// StopBy bounds how long the store keeps what the database refuses: from
// deadline on, a batch the database does not take (disk full, I/O errors,
// locked) is dropped after one attempt and counted, and a Submit waiting
// for room returns ErrGaveUp. The agent calls it when told to stop, so
// that it exits within its stop bound whatever the database does; Close
// then says how many records were not written. Only the first call counts.
func (s *Store) StopBy(deadline time.Time) {
	s.stopOnce.Do(func() {
		time.AfterFunc(time.Until(deadline), func() { close(s.giveUp) })
	})
}

type refusal struct{ err error }

// Refusing returns why the database refuses the batch the writer holds
// (disk full, I/O error), or nil when the last batch committed. Unlike a
// write probe, it answers at once.
func (s *Store) Refusing() error {
	if r := s.refusing.Load(); r != nil {
		return r.err
	}
	return nil
}

// Lost is how many records were dropped because the database refused
// them past the stop bound, or while the store closed.
func (s *Store) Lost() int64 { return s.lost.Load() }

// Path is the database file's path.
func (s *Store) Path() string { return s.path }

// Close flushes every submitted record to disk and closes the database. A
// batch the database refuses (disk full...) is given up after writeRetries
// more attempts, so that a stopping agent exits.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		if !s.readOnly {
			s.ensureStarted(context.Background())
			s.mu.Lock()
			s.closed = true
			close(s.queue)
			s.mu.Unlock()
			if !s.waitWriter() {
				// Stuck in a call into SQLite past the stop bound: the
				// process is exiting, and closing the connection under
				// the writer would only wait for it too.
				s.closeErr = fmt.Errorf("close database %s: the writer did not stop within %s of the stop bound", s.path, writerGrace)
				s.reportLost()
				return
			}
			s.reportLost()
		}
		s.closeErr = s.closeDBs()
	})
	return s.closeErr
}

// writerGrace is how long Close waits for the writer once the stop bound
// has passed.
const writerGrace = time.Second

// waitWriter waits for the writer goroutine to end: without limit before
// the stop bound, writerGrace after it. It reports whether it ended.
func (s *Store) waitWriter() bool {
	select {
	case <-s.stopped:
		return true
	case <-s.giveUp:
	}
	t := time.NewTimer(writerGrace)
	defer t.Stop()
	select {
	case <-s.stopped:
		return true
	case <-t.C:
		return false
	}
}

func (s *Store) reportLost() {
	if n := s.lost.Load(); n > 0 {
		s.log.Error("records not written: the database refused them until pulse stopped", "records", n)
	}
}

func (s *Store) closeDBs() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database %s: %w", s.path, err)
	}
	return nil
}

// Checkpoint copies the WAL into the database file and truncates it.
func (s *Store) Checkpoint(ctx context.Context) error {
	if s.readOnly {
		return ErrReadOnly
	}
	var busy, logPages, done int
	if err := s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &done); err != nil {
		return fmt.Errorf("checkpoint %s: %w", s.path, err)
	}
	return nil
}

// Size is the bytes the database takes on disk: the file plus its WAL.
func (s *Store) Size() (int64, error) {
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

func msOf(t time.Time) int64 { return t.UnixMilli() }

func timeOfMs(ms int64) time.Time { return time.UnixMilli(ms) }
