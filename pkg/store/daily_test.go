package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

// hourlyTotals sums the hourly rollups of [from, to) per check in Go: what
// Totals must return whichever rows it reads.
func hourlyTotals(t *testing.T, s *Store, from, to time.Time) map[string]Rollup {
	t.Helper()
	out := map[string]Rollup{}
	err := s.EachRollup(context.Background(), from, to, func(r *Rollup) error {
		sum := out[r.Check]
		sum.Check = r.Check
		sum.Merge(r)
		out[r.Check] = sum
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameTotals(t *testing.T, what string, got, want map[string]Rollup) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: totals of %d checks, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		if g.Runs != w.Runs || g.Failures != w.Failures || g.Warn != w.Warn || g.Crit != w.Crit ||
			g.LatencySum != w.LatencySum || g.LatencyMax != w.LatencyMax {
			t.Errorf("%s: %s: Totals = runs %d failures %d warn %d crit %d sum %v max %v\nhourly sum:   runs %d failures %d warn %d crit %d sum %v max %v",
				what, name, g.Runs, g.Failures, g.Warn, g.Crit, g.LatencySum, g.LatencyMax,
				w.Runs, w.Failures, w.Warn, w.Crit, w.LatencySum, w.LatencyMax)
		}
	}
}

func dailyThroughMeta(t *testing.T, s *Store) int64 {
	t.Helper()
	d, err := s.dailyThrough(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDailyRollups: Totals over any span gives the same sums before and
// after the complete days are summed, the days summed are exactly the
// complete ones (an hour of grace after midnight), empty days are skipped,
// and a result written late into a summed day reaches the daily row.
func TestDailyRollups(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 5))
	day0 := time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)
	names := []string{"api", "db", "web"}
	// Days 0-3 every 20 minutes, then nothing until day 7, then every 20
	// minutes to now (t0 is day 9, 10:00).
	var recs []Record
	for ts := day0.Add(7 * time.Minute); ts.Before(t0); ts = ts.Add(20 * time.Minute) {
		if ts.After(day0.Add(4*24*time.Hour)) && ts.Before(day0.Add(7*24*time.Hour)) {
			continue
		}
		for i, name := range names {
			st := checks.OK
			if x := rng.IntN(50); x == 0 {
				st = checks.Crit
			} else if x == 1 {
				st = checks.Warn
			}
			d := time.Duration(1000+rng.IntN(90_000)) * time.Microsecond
			recs = append(recs, Record{Result: result(name, ts.Add(time.Duration(i)*time.Second), st, d)})
		}
	}
	submit(t, s, recs...)

	spans := []struct{ from, to time.Time }{
		{t0.Add(-30 * 24 * time.Hour), t0},                                      // all of it
		{t0.Add(-5*24*time.Hour - 30*time.Minute), t0.Add(-2 * 24 * time.Hour)}, // mid-day to mid-day
		{day0.Add(24 * time.Hour), day0.Add(3 * 24 * time.Hour)},                // whole days only
		{day0.Add(25 * time.Hour), day0.Add(26 * time.Hour)},                    // inside one day
		{day0.Add(2*24*time.Hour - time.Second), day0.Add(3*24*time.Hour + 1)},  // hours not aligned
		{t0.Add(-24 * time.Hour), t0},                                           // the last day
		{day0.Add(6*24*time.Hour + 12*time.Hour), t0},                           // days 7 and 8 whole, 9 in part
	}
	before := make([]map[string]Rollup, len(spans))
	for i, sp := range spans {
		before[i] = hourlyTotals(t, s, sp.from, sp.to)
		got, err := s.Totals(ctx, sp.from, sp.to)
		if err != nil {
			t.Fatal(err)
		}
		sameTotals(t, fmt.Sprintf("span %d before summing", i), got, before[i])
	}

	// At 00:30 on day 9 day 8 is not complete yet (grace): days 0-3 and 7
	// are summed, 4-6 skipped.
	n, err := s.CompactRollups(ctx, day0.Add(9*24*time.Hour+30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("CompactRollups summed %d days, want 5 (days 0-3 and 7)", n)
	}
	if got, want := dailyThroughMeta(t, s), dayOf(day0)+8; got != want {
		t.Errorf("daily rollups through day %d, want %d", got, want)
	}
	if n := count(t, s, `SELECT count(*) FROM rollups_daily`); n != 5*int64(len(names)) {
		t.Errorf("%d daily rows, want %d", n, 5*len(names))
	}
	// Summed through day 7 only: the spans over days 7 and 8 read day 7's
	// row and day 8's hours.
	for i, sp := range spans {
		got, err := s.Totals(ctx, sp.from, sp.to)
		if err != nil {
			t.Fatal(err)
		}
		sameTotals(t, fmt.Sprintf("span %d summed in part", i), got, before[i])
	}
	// A day's row is the sum of its hours, histogram included.
	var runs int64
	var hist []byte
	if err := s.r.QueryRow(`SELECT runs, hist FROM rollups_daily WHERE check_id = (SELECT id FROM checks WHERE name = 'db') AND day = ?`,
		dayOf(day0)+1).Scan(&runs, &hist); err != nil {
		t.Fatal(err)
	}
	var dayHist Histogram
	if err := decodeHist(hist, &dayHist); err != nil {
		t.Fatal(err)
	}
	ups, err := s.Rollups(ctx, "db", day0.Add(24*time.Hour), day0.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var want Rollup
	for i := range ups {
		want.Merge(&ups[i])
	}
	if runs != 72 || want.Runs != 72 || dayHist != want.Hist {
		t.Errorf("daily row of day 1: %d runs (want 72, hours say %d), histogram equal to the hours': %v", runs, want.Runs, dayHist == want.Hist)
	}
	// Now day 8 too; calling again does nothing more.
	if n, err := s.CompactRollups(ctx, t0); err != nil || n != 1 {
		t.Errorf("CompactRollups at %v = %d, %v; want day 8", t0, n, err)
	}
	if n, err := s.CompactRollups(ctx, t0); err != nil || n != 0 {
		t.Errorf("CompactRollups again = %d, %v; want nothing to do", n, err)
	}
	for i, sp := range spans {
		got, err := s.Totals(ctx, sp.from, sp.to)
		if err != nil {
			t.Fatal(err)
		}
		sameTotals(t, fmt.Sprintf("span %d after summing", i), got, before[i])
	}

	// A result of day 2 written now (a check that started before midnight
	// and was stored after the day was summed) counts in both tables.
	const day2 = `SELECT runs * 1000 + crit FROM rollups_daily
		WHERE check_id = (SELECT id FROM checks WHERE name = 'web') AND day = ?`
	was := count(t, s, day2, dayOf(day0)+2)
	late := result("web", day0.Add(2*24*time.Hour+13*time.Hour+5*time.Second), checks.Crit, 3*time.Second)
	submit(t, s, Record{Result: late})
	if got := count(t, s, day2, dayOf(day0)+2); got != was+1001 {
		t.Errorf("daily row of day 2 went from %d to %d (runs*1000+crit), want one more crit run", was, got)
	}
	for i, sp := range spans {
		got, err := s.Totals(ctx, sp.from, sp.to)
		if err != nil {
			t.Fatal(err)
		}
		sameTotals(t, fmt.Sprintf("span %d after a late result", i), got, hourlyTotals(t, s, sp.from, sp.to))
	}
}

// TestDailyRollupsUpgrade: a database of schema 2 (hourly rollups, no
// daily table) is migrated on open, reads right at once, and is summed from
// its oldest hour on, hours before 1970 included.
func TestDailyRollupsUpgrade(t *testing.T) {
	sqliteOnly(t, "a SQLite file of schema 2")
	path := filepath.Join(t.TempDir(), "pulse.db")
	old := openTest(t, path, Options{Now: func() time.Time { return t0 }})
	fill(t, old, 4, 10*24, t0.Add(-10*24*time.Hour), time.Hour)
	epoch := time.Unix(0, 0)
	submit(t, old, Record{Result: result("check-000", epoch.Add(-30*time.Hour), checks.Crit, time.Second)})
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DROP TABLE rollups_daily`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	setUserVersion(t, path, 2)

	s := openTest(t, path, Options{Now: func() time.Time { return t0 }})
	ctx := context.Background()
	from := epoch.Add(-3 * 24 * time.Hour)
	want := hourlyTotals(t, s, from, t0)
	if want["check-000"].Crit < 1 {
		t.Fatal("the 1969 result is not in the hourly rollups")
	}
	if _, ok, _ := s.GetMeta(ctx, dailyThroughKey); ok {
		t.Fatal("daily rollups marked summed before any CompactRollups")
	}
	got, err := s.Totals(ctx, from, t0)
	if err != nil {
		t.Fatal(err)
	}
	sameTotals(t, "not summed", got, want)
	n, err := s.CompactRollups(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	// 1969-12-30, and day -10 10:00 to day 0 09:00: eleven days, today's
	// not complete.
	if n != 11 {
		t.Errorf("CompactRollups summed %d days, want 11", n)
	}
	v, _, _ := s.GetMeta(ctx, dailyThroughKey)
	if d, _ := strconv.ParseInt(v, 10, 64); d != dayOf(t0) {
		t.Errorf("summed through day %s, want %d (today)", v, dayOf(t0))
	}
	got, err = s.Totals(ctx, from, t0)
	if err != nil {
		t.Fatal(err)
	}
	sameTotals(t, "summed", got, want)
	if n := count(t, s, `SELECT count(*) FROM rollups_daily WHERE day < 0`); n != 1 {
		t.Errorf("%d daily rows before 1970, want the one of 1969-12-30", n)
	}

	ro := openTest(t, path, Options{ReadOnly: true})
	if _, err := ro.CompactRollups(ctx, t0); err != ErrReadOnly {
		t.Errorf("CompactRollups on a read-only store: %v", err)
	}
	got, err = ro.Totals(ctx, from, t0)
	if err != nil {
		t.Fatal(err)
	}
	sameTotals(t, "read-only reader", got, want)
}

// TestDailyRollupsInSlices: a day is summed a slice of checks per
// transaction; while it is, readers keep to the hourly rows, and a late
// result of a check already summed reaches its daily row, one of a check
// not summed yet is summed with its slice.
func TestDailyRollupsInSlices(t *testing.T) {
	s, _ := newStore(t)
	s.dailyChunk = 2
	ctx := context.Background()
	day0 := t0.Truncate(24 * time.Hour).Add(-2 * 24 * time.Hour) // two complete days before t0's
	fill(t, s, 5, 2*24*6, day0, 10*time.Minute)
	from := day0
	limit := dayOf(t0)
	ids := map[string]int64{}
	rows, err := s.Checks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		ids[r.Name] = count(t, s, `SELECT id FROM checks WHERE name = ?`, r.Name)
	}

	step := func(want compactResult) {
		t.Helper()
		got, err := s.compactStep(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("compactStep = %d, want %d", got, want)
		}
	}
	step(stepSlice) // day 0: checks 1-2
	if d, c, _ := marks(t, s); d != dayOf(day0) || c != ids["check-001"] {
		t.Fatalf("after one slice: day %d check %d, want day %d check %d", d, c, dayOf(day0), ids["check-001"])
	}
	late := func(check string, at time.Time) {
		r := result(check, at, checks.Crit, 2*time.Second)
		submit(t, s, Record{Result: r})
	}
	late("check-000", day0.Add(5*time.Hour+time.Second)) // summed already
	late("check-003", day0.Add(6*time.Hour+time.Second)) // not yet
	sameTotals(t, "day 0 in part", totals(t, s, from, t0), hourlyTotals(t, s, from, t0))
	step(stepSlice)                                      // checks 3-4
	step(stepDay)                                        // check 5: day 0 done
	late("check-004", day0.Add(7*time.Hour+time.Second)) // summed already
	step(stepSlice)
	step(stepSlice)
	step(stepDay) // day 1 done
	step(stepNone)
	want := hourlyTotals(t, s, from, t0)
	sameTotals(t, "summed", totals(t, s, from, t0), want)
	for name, id := range ids {
		var runs, crit int64
		if err := s.r.QueryRow(`SELECT runs, crit FROM rollups_daily WHERE check_id = ? AND day = ?`, id, dayOf(day0)).Scan(&runs, &crit); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		hours := hourlyTotals(t, s, day0, day0.Add(24*time.Hour))[name]
		if runs != hours.Runs || crit != hours.Crit {
			t.Errorf("%s day 0: daily row runs %d crit %d, hours say %d and %d", name, runs, crit, hours.Runs, hours.Crit)
		}
	}
}

func marks(t *testing.T, s *Store) (day, check int64, err error) {
	t.Helper()
	return dailyMarks(context.Background(), s.r)
}

func totals(t *testing.T, s *Store, from, to time.Time) map[string]Rollup {
	t.Helper()
	m, err := s.Totals(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
