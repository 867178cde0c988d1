package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

// Record is one unit of work for the writer: a result, the check's new state
// and any other rows that must be written with them, all in one transaction.
type Record struct {
	// Result is stored when Result.Check is set and Result.Start is not zero.
	Result checks.Result
	// State is the new opaque state of Result.Check (JSON from pkg/alert);
	// nil leaves it unchanged. A record may carry State without a result
	// (Result.Check set, Result.Start zero).
	State []byte
	// Apply makes extra writes (incident events, outbox rows) in the same
	// transaction. When it fails, the batch is rolled back and written again
	// without this record; the error goes to Done. Apply must not call the
	// Store's own methods (they would wait for the transaction it runs in).
	Apply func(tx Tx) error
	// Done, when set, is called by the writer once the record is on disk
	// (err nil) or has been given up (err set). It must not block.
	Done func(err error)
	// Fence, when set, is the lease the record is written under: it is
	// written only while the lease holds, and given up with ErrFenced
	// otherwise (several agents on PostgreSQL; see Fence).
	Fence *Fence
}

type item struct {
	rec   Record
	flush chan error // non-nil: a Flush marker, not a record
}

// Start starts the writer goroutine; calling it again does nothing. The
// writer runs until Close, not until ctx ends: results of checks still in
// flight when the agent is told to stop must reach the disk. Submit, Flush
// and Close start the writer themselves when Start was not called.
func (s *Store) Start(ctx context.Context) { s.ensureStarted(ctx) }

func (s *Store) ensureStarted(ctx context.Context) {
	if s.readOnly {
		return
	}
	s.startOnce.Do(func() {
		go s.wr.run(context.WithoutCancel(ctx))
	})
}

// Submit queues r for the writer. It returns at once unless the queue is
// full, in which case it waits: back-pressure, never a dropped result.
func (s *Store) Submit(r Record) error {
	if s.readOnly {
		return ErrReadOnly
	}
	s.ensureStarted(context.Background())
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.queue <- item{rec: r}:
		return nil
	default:
	}
	select {
	case s.queue <- item{rec: r}:
		return nil
	case <-s.giveUp:
		s.lost.Add(1)
		return ErrGaveUp
	}
}

// Flush waits until every record submitted before it is committed (or given
// up). It returns the error of a batch that could not be written at all.
func (s *Store) Flush(ctx context.Context) error {
	if s.readOnly {
		return nil
	}
	s.ensureStarted(context.Background())
	done := make(chan error, 1)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.queue <- item{flush: done}:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return fmt.Errorf("flush database %s: %w", s.path, ctx.Err())
	case <-s.giveUp:
		s.mu.RUnlock()
		return fmt.Errorf("flush database %s: %w", s.path, ErrGaveUp)
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("flush database %s: %w", s.path, ctx.Err())
	}
}

// writer is the state of the writer goroutine: dictionary caches and the
// per-batch accumulators, reused from batch to batch.
type writer struct {
	s *Store

	checkIDs map[string]int64
	msgs     map[string]msgEntry

	// per batch, merged into the caches only after a commit
	newChecks map[string]int64
	newMsgs   map[string]msgEntry
	latest    map[int64]*checks.Result
	rollIdx   map[rollKey]int
	rolls     []rollAcc
	buf       []byte
	// copied holds the batch's result rows on PostgreSQL, which takes
	// them in one COPY instead of a statement each.
	copied [][]any
}

type msgEntry struct{ id, lastTs int64 }

type rollKey struct{ check, hour int64 }

type rollAcc struct {
	key rollKey
	r   Rollup
}

const (
	hourMs       = int64(time.Hour / time.Millisecond)
	maxMsgCache  = 10_000
	writeRetries = 4               // attempts at a failing batch while the store closes
	maxRetryWait = 5 * time.Second // the longest pause between attempts
)

func newWriter(s *Store) *writer {
	return &writer{
		s:         s,
		checkIDs:  map[string]int64{},
		msgs:      map[string]msgEntry{},
		newChecks: map[string]int64{},
		newMsgs:   map[string]msgEntry{},
		latest:    map[int64]*checks.Result{},
		rollIdx:   map[rollKey]int{},
	}
}

// linger is how long the writer waits for more records once it has one
// that nobody waits for: a transaction per result would pay its BEGIN,
// COMMIT and a WAL frame per touched page for each one (docs/BENCHMARKS.md
// has the cost); gathering 100 ms of them spreads that over many. A record someone waits for (a Flush, a Done
// callback) or that carries incident writes (Apply: its notification
// waits for the commit) ends the wait at once, so alert latency and
// shutdown do not pay for it.
const linger = 100 * time.Millisecond

func (w *writer) run(ctx context.Context) {
	defer close(w.s.stopped)
	batch := make([]item, 0, maxBatch)
	timer := time.NewTimer(linger)
	timer.Stop()
	for {
		it, ok := <-w.s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], it)
		urgent := it.urgent()
		if !urgent {
			timer.Reset(linger)
		}
	gather:
		for len(batch) < maxBatch {
			if urgent {
				// Take what is queued already, then commit.
				select {
				case it, ok := <-w.s.queue:
					if !ok {
						break gather // the next receive returns !ok too
					}
					batch = append(batch, it)
				default:
					break gather
				}
				continue
			}
			select {
			case it, ok := <-w.s.queue:
				if !ok {
					break gather
				}
				batch = append(batch, it)
				urgent = it.urgent()
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		w.commit(ctx, batch)
		clear(batch) // drop references to results and callbacks
	}
}

// urgent reports whether someone waits for it to be on disk.
func (it *item) urgent() bool {
	return it.flush != nil || it.rec.Done != nil || it.rec.Apply != nil
}

// commit writes batch in one transaction, leaving out records that fail on
// their own, then runs the callbacks.
func (w *writer) commit(ctx context.Context, batch []item) {
	var failed map[int]error
	for i := range batch {
		if batch[i].rec.Fence != nil {
			failed = map[int]error{} // write marks the records whose lease is gone
			break
		}
	}
	var batchErr error
	committed := 0
	for attempt := 0; ; {
		n, bad, err := w.write(ctx, batch, failed)
		if err == nil {
			committed = n
			w.s.refusing.Store(nil)
			break
		}
		if bad >= 0 {
			if failed == nil {
				failed = map[int]error{}
			}
			failed[bad] = err
			w.s.log.Warn("record not written", "check", batch[bad].rec.Result.Check, "err", err)
			continue
		}
		// Not one record's fault (disk full, I/O error, locked past the
		// busy timeout): while the store is open, the batch is kept and
		// retried until the database takes it. Submit blocks once the
		// queue is full (back-pressure, never a dropped result), and the
		// agent's health probe, a write, fails: /healthz answers 503 and
		// systemd's watchdog restarts a pulse that cannot write. A store
		// being closed gives a batch up after writeRetries, and one past
		// its stop bound (StopBy) after this one attempt.
		w.s.refusing.Store(&refusal{err: err})
		attempt++
		giveUp := w.s.gaveUp() || attempt >= writeRetries && w.s.isClosing()
		if !giveUp {
			msg := "write batch failed, retrying"
			if attempt >= writeRetries {
				msg = "database refuses writes; the batch is held and retried"
			}
			w.s.log.Error(msg, "records", len(batch), "attempt", attempt, "err", err)
			select {
			case <-time.After(min(time.Duration(attempt*attempt)*w.s.retryBase, maxRetryWait)):
			case <-w.s.closing:
			case <-w.s.giveUp:
			}
			continue
		}
		dropped := 0
		for i := range batch {
			if batch[i].flush == nil && failed[i] == nil {
				dropped++
			}
		}
		w.s.lost.Add(int64(dropped))
		w.s.log.Error("write batch failed while stopping, records not written", "records", dropped, "err", err)
		batchErr = fmt.Errorf("write database %s: %w", w.s.path, err)
		break
	}
	// The hook first: once a Flush or a Done returns, the dispatcher has
	// been told about the commit.
	if f := w.s.onCommit.Load(); f != nil && committed > 0 {
		(*f)(committed)
	}
	for i := range batch {
		it := &batch[i]
		if it.flush != nil {
			it.flush <- batchErr
			continue
		}
		if it.rec.Done != nil {
			err := failed[i]
			if err == nil {
				err = batchErr
			}
			it.rec.Done(err)
		}
	}
}

// write runs one attempt. On failure, bad is the index of the record at
// fault, or -1 when the failure is not one record's (disk full, busy...).
func (w *writer) write(ctx context.Context, batch []item, failed map[int]error) (n, bad int, err error) {
	clear(w.newChecks)
	clear(w.newMsgs)
	clear(w.latest)
	clear(w.rollIdx)
	w.rolls = w.rolls[:0]
	clear(w.copied)
	w.copied = w.copied[:0]

	if f := w.s.writeFault; f != nil {
		if err := f(); err != nil {
			return 0, -1, err
		}
	}
	var tx *sql.Tx
	var conn *sql.Conn // PostgreSQL: the transaction's connection, for COPY
	if _, ok := w.s.eng.(*pgEngine); ok {
		if conn, err = w.s.w.Conn(ctx); err != nil {
			return 0, -1, fmt.Errorf("begin: %w", err)
		}
		defer conn.Close()
		tx, err = conn.BeginTx(ctx, nil)
	} else {
		tx, err = w.s.w.BeginTx(ctx, nil)
	}
	if err != nil {
		return 0, -1, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := w.fence(ctx, tx, batch, failed); err != nil {
		return 0, -1, err
	}
	st := w.s.stmts.inTx(ctx, tx)
	for i := range batch {
		it := &batch[i]
		if it.flush != nil || failed[i] != nil {
			continue
		}
		if err := w.record(ctx, tx, &st, &it.rec); err != nil {
			if w.s.eng.recordFault(err) {
				return 0, i, err
			}
			return 0, -1, err
		}
		n++
	}
	if conn != nil {
		if err := copyResults(ctx, conn, w.copied); err != nil {
			return 0, -1, err
		}
	}
	if err := w.aggregates(ctx, tx, &st); err != nil {
		return 0, -1, err
	}
	if err := tx.Commit(); err != nil {
		return 0, -1, fmt.Errorf("commit: %w", err)
	}
	for k, v := range w.newChecks {
		w.checkIDs[k] = v
	}
	if len(w.msgs)+len(w.newMsgs) > maxMsgCache {
		clear(w.msgs)
	}
	for k, v := range w.newMsgs {
		w.msgs[k] = v
	}
	return n, -1, nil
}

// fence marks in failed the records whose lease no longer holds, locking
// the others' lease rows until the transaction ends. failed is non-nil
// whenever a record of the batch has a Fence.
func (w *writer) fence(ctx context.Context, tx *sql.Tx, batch []item, failed map[int]error) error {
	if failed == nil {
		return nil
	}
	var fences []Fence
	for i := range batch {
		if f := batch[i].rec.Fence; f != nil && failed[i] == nil {
			fences = append(fences, *f)
		}
	}
	live, err := w.s.liveFences(ctx, tx, fences)
	if err != nil {
		return err
	}
	for i := range batch {
		if f := batch[i].rec.Fence; f != nil && failed[i] == nil && !live[*f] {
			failed[i] = fmt.Errorf("%s: %w", f.Lease, ErrFenced)
			w.s.log.Debug("record not written: lease lost", "check", batch[i].rec.Result.Check, "lease", f.Lease)
		}
	}
	return nil
}

func (w *writer) record(ctx context.Context, tx *sql.Tx, st *txStmts, r *Record) error {
	res := &r.Result
	if res.Check == "" {
		if r.State != nil {
			return errors.New("record has a state but no check name")
		}
	} else {
		first := res.Start
		if first.IsZero() {
			first = w.s.now()
		}
		cid, err := w.checkID(ctx, st, res.Check, msOf(first))
		if err != nil {
			return err
		}
		if !res.Start.IsZero() {
			if err := w.result(ctx, st, cid, res); err != nil {
				return err
			}
		}
		if r.State != nil {
			if _, err := st.state.ExecContext(ctx, cid, r.State, msOf(w.s.now())); err != nil {
				return fmt.Errorf("save state of %s: %w", res.Check, err)
			}
		}
	}
	if r.Apply != nil {
		if err := r.Apply(w.s.wrap(tx)); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) result(ctx context.Context, st *txStmts, cid int64, res *checks.Result) error {
	ts := msOf(res.Start)
	var value, msg, perf any
	if res.HasValue {
		value = res.Value
	}
	if res.State != checks.OK && res.Message != "" {
		id, err := w.msgID(ctx, st, res.Message, ts)
		if err != nil {
			return err
		}
		msg = id
	}
	if len(res.Perf) > 0 {
		w.buf = appendPerf(w.buf[:0], res.Perf)
		perf = w.buf
	}
	if st.result == nil { // PostgreSQL: COPY at the end of the batch
		if perf != nil {
			perf = append([]byte(nil), w.buf...)
		}
		w.copied = append(w.copied, []any{int64(len(w.copied)), cid, ts, res.Duration.Microseconds(), int64(res.State), value, msg, perf})
	} else if _, err := st.result.ExecContext(ctx, cid, ts, res.Duration.Microseconds(), int64(res.State), value, msg, perf); err != nil {
		return fmt.Errorf("insert result of %s: %w", res.Check, err)
	}
	if prev, ok := w.latest[cid]; !ok || !res.Start.Before(prev.Start) {
		w.latest[cid] = res
	}
	k := rollKey{cid, hourOf(res.Start)}
	i, ok := w.rollIdx[k]
	if !ok {
		i = len(w.rolls)
		w.rollIdx[k] = i
		if i < cap(w.rolls) {
			w.rolls = w.rolls[:i+1]
			w.rolls[i] = rollAcc{key: k}
		} else {
			w.rolls = append(w.rolls, rollAcc{key: k})
		}
	}
	w.rolls[i].r.Add(res.State, res.Duration)
	return nil
}

// aggregates writes the batch's latest results and rollup increments: one
// upsert per check (and hour), however many results it had in the batch.
// An increment to a UTC day that CompactRollups has summed already (a
// result written long after it started) goes to the daily row too.
func (w *writer) aggregates(ctx context.Context, tx *sql.Tx, st *txStmts) error {
	for cid, res := range w.latest {
		var value, perf any
		if res.HasValue {
			value = res.Value
		}
		if len(res.Perf) > 0 {
			w.buf = appendPerf(w.buf[:0], res.Perf)
			perf = w.buf
		}
		if _, err := st.latest.ExecContext(ctx, cid, msOf(res.Start), res.Duration.Microseconds(), int64(res.State), value, res.Message, perf); err != nil {
			return fmt.Errorf("update latest result of %s: %w", res.Check, err)
		}
	}
	if len(w.rolls) == 0 {
		return nil
	}
	through, lastCheck, err := dailyMarks(ctx, tx) // two primary-key reads a batch
	if err != nil {
		return fmt.Errorf("update rollup: %w", err)
	}
	for i := range w.rolls {
		a := &w.rolls[i]
		w.buf = appendHist(w.buf[:0], &a.r.Hist)
		args := []any{a.key.check, a.key.hour, a.r.Runs, a.r.Failures, a.r.Warn, a.r.Crit,
			a.r.LatencySum.Microseconds(), a.r.LatencyMax.Microseconds(), w.buf}
		if _, err := st.rollup.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("update rollup: %w", err)
		}
		if day := floorDiv(a.key.hour, dayHours); day < through || day == through && a.key.check <= lastCheck {
			args[1] = day
			if _, err := st.rollupDay.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("update daily rollup: %w", err)
			}
		}
	}
	return nil
}

func (w *writer) checkID(ctx context.Context, st *txStmts, name string, firstMs int64) (int64, error) {
	if id, ok := w.checkIDs[name]; ok {
		return id, nil
	}
	if id, ok := w.newChecks[name]; ok {
		return id, nil
	}
	var id int64
	if err := st.check.QueryRowContext(ctx, name, firstMs).Scan(&id); err != nil {
		return 0, fmt.Errorf("register check %s: %w", name, err)
	}
	w.newChecks[name] = id
	return id, nil
}

// msgID returns the id of text in the messages dictionary, refreshing its
// last_ts at most once an hour (Prune relies on it being that fresh).
func (w *writer) msgID(ctx context.Context, st *txStmts, text string, ts int64) (int64, error) {
	if e, ok := w.msgs[text]; ok && e.lastTs >= ts-hourMs {
		return e.id, nil
	}
	if e, ok := w.newMsgs[text]; ok && e.lastTs >= ts-hourMs {
		return e.id, nil
	}
	var id int64
	if err := st.msg.QueryRowContext(ctx, text, ts).Scan(&id); err != nil {
		return 0, fmt.Errorf("store message: %w", err)
	}
	w.newMsgs[text] = msgEntry{id: id, lastTs: ts}
	return id, nil
}

// stmts are the writer's statements, prepared once on the write connection.
type stmts struct {
	result, check, msg, latest, rollup, rollupDay, state *sql.Stmt
}

type txStmts struct {
	result, check, msg, latest, rollup, rollupDay, state *sql.Stmt
}

func (st *stmts) inTx(ctx context.Context, tx *sql.Tx) txStmts {
	t := txStmts{
		check:     tx.StmtContext(ctx, st.check),
		msg:       tx.StmtContext(ctx, st.msg),
		latest:    tx.StmtContext(ctx, st.latest),
		rollup:    tx.StmtContext(ctx, st.rollup),
		rollupDay: tx.StmtContext(ctx, st.rollupDay),
		state:     tx.StmtContext(ctx, st.state),
	}
	if st.result != nil {
		t.result = tx.StmtContext(ctx, st.result)
	}
	return t
}

func (s *Store) prepare(ctx context.Context) error {
	if s.readOnly {
		return nil
	}
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.stmts.result, `INSERT INTO results(check_id, ts, dur, state, value, msg, perf) VALUES(?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(check_id, ts) DO UPDATE SET dur = excluded.dur, state = excluded.state,
			value = excluded.value, msg = excluded.msg, perf = excluded.perf`},
		{&s.stmts.check, `INSERT INTO checks(name, first_seen) VALUES(?1, ?2)
			ON CONFLICT(name) DO UPDATE SET first_seen = CASE WHEN excluded.first_seen < checks.first_seen
			THEN excluded.first_seen ELSE checks.first_seen END RETURNING id`},
		{&s.stmts.msg, `INSERT INTO messages(text, last_ts) VALUES(?1, ?2)
			ON CONFLICT(` + s.eng.messageKey() + `) DO UPDATE SET last_ts = CASE WHEN excluded.last_ts > messages.last_ts
			THEN excluded.last_ts ELSE messages.last_ts END RETURNING id`},
		{&s.stmts.latest, `INSERT INTO latest(check_id, ts, dur, state, value, msg, perf) VALUES(?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(check_id) DO UPDATE SET ts = excluded.ts, dur = excluded.dur, state = excluded.state,
			value = excluded.value, msg = excluded.msg, perf = excluded.perf WHERE excluded.ts >= latest.ts`},
		{&s.stmts.rollup, rollupUpsertSQL("rollups", "hour")},
		{&s.stmts.rollupDay, rollupUpsertSQL("rollups_daily", "day")},
		{&s.stmts.state, `INSERT INTO check_state(check_id, state, updated) VALUES(?, ?, ?)
			ON CONFLICT(check_id) DO UPDATE SET state = excluded.state, updated = excluded.updated`},
	} {
		if _, pg := s.eng.(*pgEngine); pg && p.dst == &s.stmts.result {
			continue // results go in by COPY
		}
		st, err := s.w.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql[:40], err)
		}
		*p.dst = st
	}
	return nil
}

// rollupUpsertSQL adds a rollup increment to table's row of (check, span),
// key naming the span's column.
func rollupUpsertSQL(table, key string) string {
	return fmt.Sprintf(`INSERT INTO %[1]s(check_id, %[2]s, runs, failures, warn, crit, lat_sum, lat_max, hist)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(check_id, %[2]s) DO UPDATE SET runs = %[1]s.runs + excluded.runs,
		failures = %[1]s.failures + excluded.failures, warn = %[1]s.warn + excluded.warn,
		crit = %[1]s.crit + excluded.crit, lat_sum = %[1]s.lat_sum + excluded.lat_sum,
		lat_max = CASE WHEN excluded.lat_max > %[1]s.lat_max THEN excluded.lat_max ELSE %[1]s.lat_max END,
		hist = pulse_hist_merge(%[1]s.hist, excluded.hist)`, table, key)
}
