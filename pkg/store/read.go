package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

// Stored results lose precision: start times are kept to the millisecond,
// durations to the microsecond, and ok results keep no message (only the
// latest result of each check does).

// CheckRow is one check known to the database.
type CheckRow struct {
	Name      string
	Type      string // as given to WatchStart; empty when never given
	FirstSeen time.Time
	Last      checks.Result // zero (Last.Start.IsZero()) before its first result
}

// LoadStates returns every check's saved state (Record.State), by name.
func (s *Store) LoadStates(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT c.name, st.state FROM check_state st JOIN checks c ON c.id = st.check_id`)
	if err != nil {
		return nil, fmt.Errorf("load check states: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var name string
		var b []byte
		if err := rows.Scan(&name, &b); err != nil {
			return nil, fmt.Errorf("load check states: %w", err)
		}
		out[name] = b
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load check states: %w", err)
	}
	return out, nil
}

// LastResults returns the latest result of every check, by name.
func (s *Store) LastResults(ctx context.Context) (map[string]checks.Result, error) {
	rows, err := s.Checks(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]checks.Result, len(rows))
	for _, c := range rows {
		if !c.Last.Start.IsZero() {
			out[c.Name] = c.Last
		}
	}
	return out, nil
}

// Checks returns every check known to the database with its latest result,
// sorted by name.
func (s *Store) Checks(ctx context.Context) ([]CheckRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT c.name, c.type, c.first_seen, l.ts, l.dur, l.state, l.value, l.msg, l.perf
		FROM checks c LEFT JOIN latest l ON l.check_id = c.id ORDER BY c.name`)
	if err != nil {
		return nil, fmt.Errorf("list checks: %w", err)
	}
	defer rows.Close()
	var out []CheckRow
	for rows.Next() {
		var c CheckRow
		var first int64
		var ts, dur, state sql.NullInt64
		var value sql.NullFloat64
		var msg sql.NullString
		var perf []byte
		if err := rows.Scan(&c.Name, &c.Type, &first, &ts, &dur, &state, &value, &msg, &perf); err != nil {
			return nil, fmt.Errorf("list checks: %w", err)
		}
		c.FirstSeen = timeOfMs(first)
		if ts.Valid {
			c.Last = checks.Result{Check: c.Name, Message: msg.String}
			if err := fillResult(&c.Last, ts.Int64, dur.Int64, state.Int64, value, perf); err != nil {
				return nil, fmt.Errorf("list checks: %s: %w", c.Name, err)
			}
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list checks: %w", err)
	}
	return out, nil
}

func fillResult(r *checks.Result, ts, dur, state int64, value sql.NullFloat64, perf []byte) error {
	r.Start = timeOfMs(ts)
	r.Duration = time.Duration(dur) * time.Microsecond
	r.State = checks.State(state)
	if value.Valid {
		r.SetValue(value.Float64)
	}
	if len(perf) > 0 {
		ps, err := decodePerf(perf)
		if err != nil {
			return err
		}
		r.Perf = ps
	}
	return nil
}

// Results returns check's results that started in [from, to), oldest first.
// With limit > 0 it returns at most the limit newest of them.
func (s *Store) Results(ctx context.Context, check string, from, to time.Time, limit int) ([]checks.Result, error) {
	if limit <= 0 {
		limit = math.MaxInt64
	}
	rows, err := s.r.QueryContext(ctx, `SELECT r.ts, r.dur, r.state, r.value, m.text, r.perf
		FROM results r LEFT JOIN messages m ON m.id = r.msg
		WHERE r.check_id = (SELECT id FROM checks WHERE name = ?) AND r.ts >= ? AND r.ts < ?
		ORDER BY r.ts DESC LIMIT ?`, check, msOf(from), msOf(to), limit)
	if err != nil {
		return nil, fmt.Errorf("results of %s: %w", check, err)
	}
	defer rows.Close()
	var out []checks.Result
	for rows.Next() {
		var ts, dur, state int64
		var value sql.NullFloat64
		var msg sql.NullString
		var perf []byte
		if err := rows.Scan(&ts, &dur, &state, &value, &msg, &perf); err != nil {
			return nil, fmt.Errorf("results of %s: %w", check, err)
		}
		r := checks.Result{Check: check, Message: msg.String}
		if err := fillResult(&r, ts, dur, state, value, perf); err != nil {
			return nil, fmt.Errorf("results of %s: %w", check, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("results of %s: %w", check, err)
	}
	slices.Reverse(out)
	return out, nil
}

// ValueNear returns the value of check's result closest to t within
// ±tolerance (metric checks compare against yesterday's or last week's).
// Two primary-key seeks, whatever the tolerance.
func (s *Store) ValueNear(ctx context.Context, check string, t time.Time, tolerance time.Duration) (float64, bool, error) {
	at, tol := msOf(t), tolerance.Milliseconds()
	rows, err := s.r.QueryContext(ctx, `WITH c(id) AS (SELECT id FROM checks WHERE name = ?1)
		SELECT ts, value FROM (SELECT ts, value FROM results, c WHERE check_id = c.id AND ts <= ?2 AND ts >= ?3
			AND value IS NOT NULL ORDER BY ts DESC LIMIT 1) AS before
		UNION ALL
		SELECT ts, value FROM (SELECT ts, value FROM results, c WHERE check_id = c.id AND ts > ?2 AND ts <= ?4
			AND value IS NOT NULL ORDER BY ts LIMIT 1) AS after`, check, at, at-tol, at+tol)
	if err != nil {
		return 0, false, fmt.Errorf("value of %s near %s: %w", check, t.Format(time.RFC3339), err)
	}
	defer rows.Close()
	var best float64
	bestDist, found := int64(-1), false
	for rows.Next() {
		var ts int64
		var v float64
		if err := rows.Scan(&ts, &v); err != nil {
			return 0, false, fmt.Errorf("value of %s near %s: %w", check, t.Format(time.RFC3339), err)
		}
		if d := abs(ts - at); !found || d < bestDist {
			best, bestDist, found = v, d, true
		}
	}
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("value of %s near %s: %w", check, t.Format(time.RFC3339), err)
	}
	return best, found, nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// Rollups returns check's hourly rollups for the (UTC) hours that start in
// [from, to), oldest first.
func (s *Store) Rollups(ctx context.Context, check string, from, to time.Time) ([]Rollup, error) {
	return s.rollups(ctx, `SELECT c.name, r.hour, r.runs, r.failures, r.warn, r.crit, r.lat_sum, r.lat_max, r.hist
		FROM rollups r JOIN checks c ON c.id = r.check_id
		WHERE r.check_id = (SELECT id FROM checks WHERE name = ?1) AND r.hour >= ?2 AND r.hour < ?3
		ORDER BY r.hour`, check, ceilDiv(from.Unix(), 3600), ceilDiv(to.Unix(), 3600))
}

// AllRollups returns the hourly rollups of every check for the hours that
// start in [from, to), by check name then hour.
func (s *Store) AllRollups(ctx context.Context, from, to time.Time) ([]Rollup, error) {
	return s.rollups(ctx, allRollupsSQL, ceilDiv(from.Unix(), 3600), ceilDiv(to.Unix(), 3600))
}

const allRollupsSQL = `SELECT c.name, r.hour, r.runs, r.failures, r.warn, r.crit, r.lat_sum, r.lat_max, r.hist
	FROM checks c CROSS JOIN rollups r WHERE r.check_id = c.id AND r.hour >= ? AND r.hour < ?
	ORDER BY c.name, r.hour`

// EachRollup calls fn with the hourly rollups of every check for the hours
// that start in [from, to), by check name then hour, as it reads them. fn
// must not keep r (it is reused); an error from fn ends the read with it.
// Status and the digest read tens of thousands of rollups this way:
// building a slice of them (600 bytes each, with the histogram) cost more
// than the query.
func (s *Store) EachRollup(ctx context.Context, from, to time.Time, fn func(r *Rollup) error) error {
	return s.eachRollup(ctx, fn, allRollupsSQL, ceilDiv(from.Unix(), 3600), ceilDiv(to.Unix(), 3600))
}

// rollups collects what eachRollup reads.
func (s *Store) rollups(ctx context.Context, q string, args ...any) ([]Rollup, error) {
	var out []Rollup
	err := s.eachRollup(ctx, func(r *Rollup) error {
		out = append(out, *r)
		return nil
	}, q, args...)
	return out, err
}

func (s *Store) eachRollup(ctx context.Context, fn func(r *Rollup) error, q string, args ...any) error {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("read rollups: %w", err)
	}
	defer rows.Close()
	var (
		r          Rollup
		name, hist sql.RawBytes // valid until the next row: copied or decoded at once
		check      string
	)
	for rows.Next() {
		var hour, sum, mx int64
		r = Rollup{}
		if err := rows.Scan(&name, &hour, &r.Runs, &r.Failures, &r.Warn, &r.Crit, &sum, &mx, &hist); err != nil {
			return fmt.Errorf("read rollups: %w", err)
		}
		if string(name) != check { // rows come by check: one string per check
			check = string(name)
		}
		r.Check = check
		r.Hour = time.Unix(hour*3600, 0)
		r.LatencySum = time.Duration(sum) * time.Microsecond
		r.LatencyMax = time.Duration(mx) * time.Microsecond
		if err := decodeHist(hist, &r.Hist); err != nil {
			return fmt.Errorf("read rollups: %s: %w", r.Check, err)
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read rollups: %w", err)
	}
	return nil
}

// Totals sums every check's rollups over the hours that start in
// [from, to), in SQL: one row per check however long the span (status'
// 30-day uptime). The whole UTC days of the span that CompactRollups has
// summed are read from the daily rows, the hours around them from the
// hourly ones. The histograms are not summed; Hour is the span's first hour.
func (s *Store) Totals(ctx context.Context, from, to time.Time) (map[string]Rollup, error) {
	h0, h1 := ceilDiv(from.Unix(), 3600), ceilDiv(to.Unix(), 3600)
	through, err := s.dailyThrough(ctx)
	if err != nil {
		return nil, fmt.Errorf("sum rollups: %w", err)
	}
	// Days [d0, d1) are whole inside the span and summed: read hours
	// [h0, d0·24), days [d0, d1), hours [d1·24, h1). Without such a day:
	// hours [h0, h1) and two empty ranges.
	d0, d1 := ceilDiv(h0, dayHours), min(floorDiv(h1, dayHours), through)
	a1, b0 := d0*dayHours, d1*dayHours
	if d1 <= d0 {
		d0, d1, a1, b0 = 0, 0, h1, h1
	}
	// CROSS JOIN makes checks the outer loop: one primary-key range per
	// check and arm. Left to itself the planner scans the rollup tables
	// whole (every hour of 400 days) and looks the checks up.
	const arm = `SELECT c.id, c.name, t.runs, t.failures, t.warn, t.crit, t.lat_sum, t.lat_max
		FROM checks c CROSS JOIN %s t WHERE t.check_id = c.id AND t.%s >= ? AND t.%s < ?`
	rows, err := s.r.QueryContext(ctx, `SELECT name, sum(runs), sum(failures), sum(warn), sum(crit), sum(lat_sum), max(lat_max)
		FROM (`+fmt.Sprintf(arm, "rollups", "hour", "hour")+` UNION ALL `+fmt.Sprintf(arm, "rollups_daily", "day", "day")+
		` UNION ALL `+fmt.Sprintf(arm, "rollups", "hour", "hour")+`) AS arms GROUP BY id, name`, h0, a1, d0, d1, b0, h1)
	if err != nil {
		return nil, fmt.Errorf("sum rollups: %w", err)
	}
	defer rows.Close()
	out := map[string]Rollup{}
	for rows.Next() {
		r := Rollup{Hour: time.Unix(h0*3600, 0)}
		var sum, mx int64
		if err := rows.Scan(&r.Check, &r.Runs, &r.Failures, &r.Warn, &r.Crit, &sum, &mx); err != nil {
			return nil, fmt.Errorf("sum rollups: %w", err)
		}
		r.LatencySum = time.Duration(sum) * time.Microsecond
		r.LatencyMax = time.Duration(mx) * time.Microsecond
		out[r.Check] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sum rollups: %w", err)
	}
	return out, nil
}
