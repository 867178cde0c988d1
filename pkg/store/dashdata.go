package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// EachDailyRollup calls fn with every check's rollup of each UTC day in
// [from, to) (days that start in the span), histograms included, Hour the
// day's start. Days CompactRollups has summed are read from rollups_daily,
// one row a check and day; the days after them (today, yesterday within the
// grace hour) are summed here from the hourly rows. Rows come by check then
// day within each of the two parts, summed days first; fn must not keep r.
// The dashboards read 90 days of 1,000 checks this way.
func (s *Store) EachDailyRollup(ctx context.Context, from, to time.Time, fn func(r *Rollup) error) error {
	d0, d1 := ceilDiv(from.Unix(), daySeconds), ceilDiv(to.Unix(), daySeconds)
	if d1 <= d0 {
		return nil
	}
	through, err := s.dailyThrough(ctx)
	if err != nil {
		return fmt.Errorf("read daily rollups: %w", err)
	}
	if mid := min(max(through, d0), d1); mid > d0 {
		err := s.eachRollup(ctx, func(r *Rollup) error {
			// eachRollup reads the day column as an hour: make it the day.
			r.Hour = time.Unix(r.Hour.Unix()/3600*daySeconds, 0)
			return fn(r)
		}, `SELECT c.name, r.day, r.runs, r.failures, r.warn, r.crit, r.lat_sum, r.lat_max, r.hist
			FROM checks c CROSS JOIN rollups_daily r WHERE r.check_id = c.id AND r.day >= ? AND r.day < ?
			ORDER BY c.name, r.day`, d0, mid)
		if err != nil {
			return err
		}
		d0 = mid
	}
	if d0 >= d1 {
		return nil
	}
	// The days not summed yet: merge their hours, which come by check then
	// hour, into one rollup per check and day.
	var (
		acc  Rollup
		have bool
	)
	flush := func() error {
		if !have {
			return nil
		}
		have = false
		return fn(&acc)
	}
	err = s.eachRollup(ctx, func(r *Rollup) error {
		day := time.Unix(floorDiv(r.Hour.Unix(), daySeconds)*daySeconds, 0)
		if have && (acc.Check != r.Check || !acc.Hour.Equal(day)) {
			if err := flush(); err != nil {
				return err
			}
		}
		if !have {
			acc = Rollup{Check: r.Check, Hour: day}
			have = true
		}
		acc.Merge(r)
		return nil
	}, allRollupsSQL, d0*dayHours, d1*dayHours)
	if err != nil {
		return err
	}
	return flush()
}

// EachDailyCount is EachDailyRollup with only Check, Hour, Runs and
// Failures read from the summed days (the days after them come from
// EachDailyRollup, in full): the executive dashboard's 90-day availability
// needs no more, and the latency columns and histograms were most of the
// cost of reading 90 days of 1,000 checks.
func (s *Store) EachDailyCount(ctx context.Context, from, to time.Time, fn func(r *Rollup) error) error {
	d0, d1 := ceilDiv(from.Unix(), daySeconds), ceilDiv(to.Unix(), daySeconds)
	if d1 <= d0 {
		return nil
	}
	through, err := s.dailyThrough(ctx)
	if err != nil {
		return fmt.Errorf("read daily rollups: %w", err)
	}
	if mid := min(max(through, d0), d1); mid > d0 {
		rows, err := s.r.QueryContext(ctx, `SELECT c.name, r.day, r.runs, r.failures
			FROM checks c CROSS JOIN rollups_daily r WHERE r.check_id = c.id AND r.day >= ? AND r.day < ?
			ORDER BY c.name, r.day`, d0, mid)
		if err != nil {
			return fmt.Errorf("read daily rollups: %w", err)
		}
		defer rows.Close()
		var (
			r     Rollup
			name  sql.RawBytes
			check string
			day   int64
		)
		for rows.Next() {
			r = Rollup{}
			if err := rows.Scan(&name, &day, &r.Runs, &r.Failures); err != nil {
				return fmt.Errorf("read daily rollups: %w", err)
			}
			if string(name) != check { // rows come by check: one string per check
				check = string(name)
			}
			r.Check, r.Hour = check, time.Unix(day*daySeconds, 0)
			if err := fn(&r); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read daily rollups: %w", err)
		}
		d0 = mid
	}
	if d0 >= d1 {
		return nil
	}
	return s.EachDailyRollup(ctx, time.Unix(d0*daySeconds, 0), to, fn)
}

// DayValue is the values of one check's results over one UTC day.
type DayValue struct {
	Day      time.Time
	Count    int64
	Avg, Max float64
}

// DailyValues returns, for each UTC day in [from, to) on which check's
// results carried a value, their count, mean and maximum, oldest first:
// the daily trend of a metric check, summed in SQL.
func (s *Store) DailyValues(ctx context.Context, check string, from, to time.Time) ([]DayValue, error) {
	d0, d1 := ceilDiv(from.Unix(), daySeconds), ceilDiv(to.Unix(), daySeconds)
	const dayMs = daySeconds * 1000
	rows, err := s.r.QueryContext(ctx, `SELECT r.ts / ? AS d, count(r.value), avg(r.value), max(r.value)
		FROM results r WHERE r.check_id = (SELECT id FROM checks WHERE name = ?)
		AND r.ts >= ? AND r.ts < ? AND r.value IS NOT NULL GROUP BY d ORDER BY d`,
		int64(dayMs), check, d0*dayMs, d1*dayMs)
	if err != nil {
		return nil, fmt.Errorf("read daily values of %s: %w", check, err)
	}
	defer rows.Close()
	var out []DayValue
	for rows.Next() {
		var d int64
		var v DayValue
		var avg, mx sql.NullFloat64
		if err := rows.Scan(&d, &v.Count, &avg, &mx); err != nil {
			return nil, fmt.Errorf("read daily values of %s: %w", check, err)
		}
		v.Day, v.Avg, v.Max = time.Unix(d*daySeconds, 0), avg.Float64, mx.Float64
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read daily values of %s: %w", check, err)
	}
	return out, nil
}
