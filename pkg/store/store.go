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
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/redact"
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

	eng      engine // SQLite or PostgreSQL
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

// Open opens and migrates the database at target: a SQLite file (created
// with mode 0600 when missing), or a PostgreSQL database when target is a
// postgres:// URL (see IsPostgres).
func Open(target string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		path:     target,
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
	var err error
	if IsPostgres(target) {
		s.path = redact.URL(target)
		err = openPostgres(s, target)
	} else {
		err = openSQLite(s, target)
	}
	if err != nil {
		s.closeDBs()
		return nil, err
	}
	if err := s.prepare(context.Background()); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open database %s: %w", s.path, err)
	}
	if !opts.ReadOnly {
		s.queue = make(chan item, queueSize)
		s.wr = newWriter(s)
	}
	return s, nil
}

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

// Path names the database: the SQLite file's path, or the PostgreSQL URL
// with its password hidden.
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

// Checkpoint copies SQLite's WAL into the database file and truncates it;
// on PostgreSQL it does nothing.
func (s *Store) Checkpoint(ctx context.Context) error {
	if s.readOnly {
		return ErrReadOnly
	}
	return s.eng.checkpoint(ctx, s)
}

// Size is the bytes the database takes on disk: SQLite's file plus its WAL,
// or PostgreSQL's tables with their indexes.
func (s *Store) Size() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.eng.size(ctx, s)
}

func msOf(t time.Time) int64 { return t.UnixMilli() }

func timeOfMs(ms int64) time.Time { return time.UnixMilli(ms) }
