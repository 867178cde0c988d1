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
// Consistency: CompactRollups sums a day in one transaction that also
// advances the meta row dailyThroughKey; the writer, for a rollup increment
// of a day before today (a result that started before midnight and was
// written after it), reads that row in its own transaction and adds the
// increment to the daily row too when the day is summed already. Both run
// on the single write connection, so every increment is in the daily row
// exactly once whichever commits first.

const (
	dayHours        = 24
	daySeconds      = 86400
	dailyThroughKey = "rollups_daily_through" // first UTC day not summed yet
	// dailyGrace is how long after its end a day is summed: the results of
	// checks that started before midnight are written by then.
	dailyGrace = time.Hour
)

func dayOf(t time.Time) int64 { return floorDiv(t.Unix(), daySeconds) }

// CompactRollups sums every complete UTC day not summed yet into
// rollups_daily, one day per transaction (about 25 ms for 1,000 checks), so
// the writer's batches run between days. It returns the days summed. A
// database upgraded with months of hourly rows catches up on the first
// calls; the agent calls it with each prune.
func (s *Store) CompactRollups(ctx context.Context, now time.Time) (int, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	limit := dayOf(now.Add(-dailyGrace)) // days before it are complete
	n := 0
	for {
		more, err := s.compactNextDay(ctx, limit)
		if err != nil {
			return n, fmt.Errorf("sum daily rollups: %w", err)
		}
		if !more {
			return n, nil
		}
		n++
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
}

// compactNextDay sums the first day with hourly rows at or after the meta
// row's day and before limit, and moves the meta row past it. It reports
// false when no such day is left (the meta row is then moved to limit).
func (s *Store) compactNextDay(ctx context.Context, limit int64) (bool, error) {
	more := false
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		through, err := dailyThroughTx(ctx, tx)
		if err != nil {
			return err
		}
		if through >= limit {
			return nil
		}
		// The first hour with data at or after the day, check by check
		// (the key is (check_id, hour): one seek each).
		var next sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT min((SELECT hour FROM rollups WHERE check_id = c.id AND hour >= ?
			ORDER BY hour LIMIT 1)) FROM checks c`, through*dayHours).Scan(&next); err != nil {
			return err
		}
		day := limit
		if next.Valid {
			day = min(floorDiv(next.Int64, dayHours), limit)
		}
		if day < limit {
			if err := sumDay(ctx, tx, day); err != nil {
				return err
			}
			more = true
			day++
		}
		return SetMetaTx(tx, dailyThroughKey, strconv.FormatInt(day, 10))
	})
	return more, err
}

// sumDay (re)writes the daily rows of day from its hourly rows.
func sumDay(ctx context.Context, tx *sql.Tx, day int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT r.check_id, r.runs, r.failures, r.warn, r.crit, r.lat_sum, r.lat_max, r.hist
		FROM checks c CROSS JOIN rollups r ON r.check_id = c.id AND r.hour >= ? AND r.hour < ?
		ORDER BY c.id`, day*dayHours, (day+1)*dayHours)
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
	ins, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO rollups_daily(check_id, day, runs, failures, warn, crit,
		lat_sum, lat_max, hist) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)`)
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

// dailyThroughTx reads the first day not summed yet (noneSummed when never
// set).
func dailyThroughTx(ctx context.Context, tx *sql.Tx) (int64, error) {
	var v string
	err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, dailyThroughKey).Scan(&v)
	if err == sql.ErrNoRows {
		return noneSummed, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// dailyThrough is dailyThroughTx for readers.
func (s *Store) dailyThrough(ctx context.Context) (int64, error) {
	v, ok, err := s.GetMeta(ctx, dailyThroughKey)
	if err != nil {
		return 0, err
	}
	if !ok {
		return noneSummed, nil
	}
	d, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read meta %s: %w", dailyThroughKey, err)
	}
	return d, nil
}
