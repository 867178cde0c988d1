package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// Daily rollups (migration 0003): each complete UTC day of hourly rollups
// summed into one row per check. Totals reads them for the whole days of a
// span, so 30 days cost about 30 rows a check instead of 720: on 1,000
// checks × 30 days that was most of `pulse status` (docs/BENCHMARKS.md,
// goal 5).
//
// Consistency: CompactRollups sums a day in slices of checks, each in one
// transaction that also advances the meta rows (the day, and the last check
// of it summed); the writer reads them in each batch's own transaction and
// adds an increment to the daily row too when its check's day is summed
// already (a result that started before midnight and was written long
// after). Both run on the single write connection (and other processes
// take the write lock for the whole transaction), so every increment is in
// the daily row exactly once whichever commits first. Readers use daily
// rows only for days whose every check is summed.

const (
	dayHours        = 24
	daySeconds      = 86400
	dailyThroughKey = "rollups_daily_through" // first UTC day not summed yet
	dailyCheckKey   = "rollups_daily_check"   // last check id of that day summed, while it is summed in slices
	dailyChunk      = 1000                    // checks summed per transaction
	// dailyGrace is how long after its end a day is summed: the results of
	// checks that started before midnight are written by then.
	dailyGrace = time.Hour
)

func dayOf(t time.Time) int64 { return floorDiv(t.Unix(), daySeconds) }

// CompactRollups sums every complete UTC day not summed yet into
// rollups_daily, a slice of dailyChunk checks per transaction (40-60 ms
// for 1,000 checks), so the writer's batches run between slices even with
// tens of thousands of checks. It returns the days summed. A database
// upgraded with months of hourly rows catches up on the first calls; the
// agent calls it with each prune.
func (s *Store) CompactRollups(ctx context.Context, now time.Time) (int, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	limit := dayOf(now.Add(-dailyGrace)) // days before it are complete
	n := 0
	for {
		step, err := s.compactStep(ctx, limit)
		if err != nil {
			return n, fmt.Errorf("sum daily rollups: %w", err)
		}
		switch step {
		case stepNone:
			return n, nil
		case stepDay:
			n++
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
}

type compactResult int

const (
	stepNone  compactResult = iota // nothing left before the limit
	stepSlice                      // a slice of a day's checks summed
	stepDay                        // the last slice: the day is summed
)

// compactStep sums the next slice of checks of the day being summed: the
// meta rows say which day (dailyThroughKey) and the last check id of it
// already summed (dailyCheckKey, absent before a day's first slice). A
// day's first slice starts at the first day with hourly rows at or after
// the mark, before limit; the last slice moves the day mark past it.
func (s *Store) compactStep(ctx context.Context, limit int64) (compactResult, error) {
	res := stepNone
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		day, lastCheck, err := dailyMarks(ctx, tx)
		if err != nil {
			return err
		}
		if day >= limit {
			return nil
		}
		if lastCheck < 0 {
			// A new day: skip to the first one with data, check by check
			// (the key is (check_id, hour): one seek each).
			var next sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT min((SELECT hour FROM rollups WHERE check_id = c.id AND hour >= ?
				ORDER BY hour LIMIT 1)) FROM checks c`, day*dayHours).Scan(&next); err != nil {
				return err
			}
			day = limit
			if next.Valid {
				day = min(floorDiv(next.Int64, dayHours), limit)
			}
			if day >= limit {
				return setMeta(tx, dailyThroughKey, strconv.FormatInt(limit, 10))
			}
		}
		var upTo sql.NullInt64 // the slice: checks (lastCheck, upTo]
		if err := tx.QueryRowContext(ctx, `SELECT max(id) FROM (SELECT id FROM checks WHERE id > ? ORDER BY id LIMIT ?) AS slice`,
			lastCheck, s.dailyChunk).Scan(&upTo); err != nil {
			return err
		}
		var more int
		if upTo.Valid {
			if err := sumDay(ctx, tx, day, lastCheck, upTo.Int64); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM checks WHERE id > ?`, upTo.Int64).Scan(&more); err != nil {
				return err
			}
		}
		if more > 0 {
			res = stepSlice
			if err := setMeta(tx, dailyThroughKey, strconv.FormatInt(day, 10)); err != nil {
				return err
			}
			return setMeta(tx, dailyCheckKey, strconv.FormatInt(upTo.Int64, 10))
		}
		res = stepDay
		if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, dailyCheckKey); err != nil {
			return err
		}
		return setMeta(tx, dailyThroughKey, strconv.FormatInt(day+1, 10))
	})
	return res, err
}

// sumDay (re)writes the daily rows of day of the checks with ids in
// (after, upTo] from their hourly rows.
func sumDay(ctx context.Context, tx *sql.Tx, day, after, upTo int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT r.check_id, r.runs, r.failures, r.warn, r.crit, r.lat_sum, r.lat_max, r.hist
		FROM checks c CROSS JOIN rollups r WHERE r.check_id = c.id AND r.hour >= ? AND r.hour < ?
		AND c.id > ? AND c.id <= ? ORDER BY c.id`, day*dayHours, (day+1)*dayHours, after, upTo)
	if err != nil {
		return err
	}
	type acc struct {
		id int64
		r  Rollup
	}
	var sums []acc
	for rows.Next() {
		var id, sum, mx int64
		var r Rollup
		var hist []byte
		if err := rows.Scan(&id, &r.Runs, &r.Failures, &r.Warn, &r.Crit, &sum, &mx, &hist); err != nil {
			rows.Close()
			return err
		}
		if err := decodeHist(hist, &r.Hist); err != nil {
			rows.Close()
			return err
		}
		r.LatencySum = time.Duration(sum) * time.Microsecond
		r.LatencyMax = time.Duration(mx) * time.Microsecond
		if n := len(sums); n > 0 && sums[n-1].id == id {
			sums[n-1].r.Merge(&r)
		} else {
			sums = append(sums, acc{id: id, r: r})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO rollups_daily(check_id, day, runs, failures, warn, crit,
		lat_sum, lat_max, hist) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(check_id, day) DO UPDATE SET runs = excluded.runs, failures = excluded.failures,
		warn = excluded.warn, crit = excluded.crit, lat_sum = excluded.lat_sum, lat_max = excluded.lat_max,
		hist = excluded.hist`)
	if err != nil {
		return err
	}
	defer ins.Close()
	var buf []byte
	for i := range sums {
		a := &sums[i]
		buf = appendHist(buf[:0], &a.r.Hist)
		if _, err := ins.ExecContext(ctx, a.id, day, a.r.Runs, a.r.Failures, a.r.Warn, a.r.Crit,
			a.r.LatencySum.Microseconds(), a.r.LatencyMax.Microseconds(), buf); err != nil {
			return err
		}
	}
	return nil
}

// noneSummed is the mark of a database where no day is summed yet: a day
// before any clock (day 0 is 1970-01-01, and hours before it are valid).
const noneSummed = -1 << 40

// querier is what reads the marks: a transaction (the writer, the
// compaction) or the readers' pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// dailyMarks reads the first day not summed yet (noneSummed when never
// set) and the last check id of it already summed (-1 when none).
func dailyMarks(ctx context.Context, q querier) (day, lastCheck int64, err error) {
	day, lastCheck = noneSummed, -1
	rows, err := q.QueryContext(ctx, `SELECT key, value FROM meta WHERE key IN (?, ?)`, dailyThroughKey, dailyCheckKey)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return 0, 0, err
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("meta %s: %w", k, err)
		}
		if k == dailyThroughKey {
			day = n
		} else {
			lastCheck = n
		}
	}
	return day, lastCheck, rows.Err()
}

// dailyThrough is the first day not summed yet, for readers.
func (s *Store) dailyThrough(ctx context.Context) (int64, error) {
	day, _, err := dailyMarks(ctx, s.r)
	if err != nil {
		return 0, fmt.Errorf("read meta %s: %w", dailyThroughKey, err)
	}
	return day, nil
}
