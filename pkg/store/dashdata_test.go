package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

// TestEachDailyRollup: one rollup per check and UTC day, the same (counts,
// latency sum and max, histogram) whether the day is read from
// rollups_daily or summed from its hours, before and after CompactRollups;
// and EachDailyCount the same days' runs and failures.
func TestEachDailyRollup(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 9))
	day0 := time.Date(2026, 2, 22, 0, 0, 0, 0, time.UTC) // t0 is 2026-03-01 10:00, day 7
	var recs []Record
	for ts := day0.Add(3 * time.Minute); ts.Before(t0); ts = ts.Add(30 * time.Minute) {
		for i, name := range []string{"api", "db"} {
			if name == "db" && ts.Before(day0.Add(48*time.Hour)) {
				continue // db starts on day 2
			}
			st := checks.OK
			if rng.IntN(10) == 0 {
				st = checks.Crit
			}
			r := result(name, ts.Add(time.Duration(i)*time.Second), st, time.Duration(1000+rng.IntN(200_000))*time.Microsecond)
			r.SetValue(float64(ts.Sub(day0) / time.Hour))
			recs = append(recs, Record{Result: r})
		}
	}
	submit(t, s, recs...)

	// The expected days: the hourly rows summed per check and day.
	want := map[string]Rollup{}
	if err := s.EachRollup(ctx, day0.Add(-24*time.Hour), t0.Add(time.Hour), func(r *Rollup) error {
		k := fmt.Sprintf("%s %d", r.Check, floorDiv(r.Hour.Unix(), daySeconds))
		w := want[k]
		w.Check, w.Hour = r.Check, time.Unix(floorDiv(r.Hour.Unix(), daySeconds)*daySeconds, 0)
		w.Merge(r)
		want[k] = w
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(want) != 8+6 { // api days 0-7, db days 2-7
		t.Fatalf("fixture: %d check-days, want 14", len(want))
	}
	read := func(what string, from, to time.Time) map[string]Rollup {
		t.Helper()
		got := map[string]Rollup{}
		if err := s.EachDailyRollup(ctx, from, to, func(r *Rollup) error {
			k := fmt.Sprintf("%s %d", r.Check, floorDiv(r.Hour.Unix(), daySeconds))
			if _, dup := got[k]; dup {
				t.Errorf("%s: %s twice", what, k)
			}
			if r.Hour.Unix()%daySeconds != 0 {
				t.Errorf("%s: %s: Hour %v is not a day's start", what, k, r.Hour.UTC())
			}
			got[k] = *r
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(what string, from, to time.Time) {
		t.Helper()
		got := read(what, from, to)
		n := 0
		for k, w := range want {
			if w.Hour.Before(from) || !w.Hour.Before(to) {
				continue
			}
			n++
			g, ok := got[k]
			if !ok {
				t.Errorf("%s: no %s", what, k)
				continue
			}
			if g.Check != w.Check || !g.Hour.Equal(w.Hour) || g.Runs != w.Runs || g.Failures != w.Failures || g.Crit != w.Crit ||
				g.LatencySum != w.LatencySum || g.LatencyMax != w.LatencyMax || g.Hist != w.Hist {
				t.Errorf("%s: %s = runs %d failures %d sum %v max %v p95 %v, want runs %d failures %d sum %v max %v p95 %v",
					what, k, g.Runs, g.Failures, g.LatencySum, g.LatencyMax, g.P(0.95), w.Runs, w.Failures, w.LatencySum, w.LatencyMax, w.P(0.95))
			}
		}
		if len(got) != n {
			t.Errorf("%s: %d check-days, want %d", what, len(got), n)
		}
		counts := map[string]Rollup{}
		if err := s.EachDailyCount(ctx, from, to, func(r *Rollup) error {
			counts[fmt.Sprintf("%s %d", r.Check, floorDiv(r.Hour.Unix(), daySeconds))] = *r
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if len(counts) != n {
			t.Errorf("%s: EachDailyCount: %d check-days, want %d", what, len(counts), n)
		}
		for k, g := range got {
			if c := counts[k]; c.Check != g.Check || !c.Hour.Equal(g.Hour) || c.Runs != g.Runs || c.Failures != g.Failures {
				t.Errorf("%s: EachDailyCount: %s = %s %v runs %d failures %d, want runs %d failures %d", what, k, c.Check, c.Hour.UTC(), c.Runs, c.Failures, g.Runs, g.Failures)
			}
		}
	}
	all := func(what string) {
		check(what+", all", day0.Add(-24*time.Hour), t0.Add(24*time.Hour))
		check(what+", days 3-5", day0.Add(3*24*time.Hour), day0.Add(6*24*time.Hour))
		check(what+", from mid-day 1", day0.Add(36*time.Hour), t0) // day 1 starts before: not in
		check(what+", empty", day0.Add(3*24*time.Hour), day0.Add(3*24*time.Hour))
	}
	all("hourly only")
	// Days 0-4 summed (t0 stands in for 00:30 on day 6: day 5 in its grace hour).
	if _, err := s.CompactRollups(ctx, day0.Add(6*24*time.Hour+30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := dailyThroughMeta(t, s); got != dayOf(day0)+5 {
		t.Fatalf("summed through %d, want %d", got, dayOf(day0)+5)
	}
	all("summed in part")
	if _, err := s.CompactRollups(ctx, t0); err != nil {
		t.Fatal(err)
	}
	all("summed to yesterday")

	// DailyValues: the value is the hour since day0, every 30 minutes.
	vs, err := s.DailyValues(ctx, "db", day0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 6 {
		t.Fatalf("DailyValues(db) = %d days, want 6: %+v", len(vs), vs)
	}
	if v := vs[0]; !v.Day.Equal(day0.Add(48*time.Hour)) || v.Count != 48 || v.Avg != 48+11.5 || v.Max != 71 {
		t.Errorf("DailyValues(db)[0] = %+v, want day 2, 48 values, avg 59.5, max 71", v)
	}
	if v := vs[5]; !v.Day.Equal(day0.Add(7*24*time.Hour)) || v.Count != 20 || v.Max != 177 {
		t.Errorf("DailyValues(db)[5] = %+v, want day 7, 20 values, max 177", v)
	}
	if vs, err := s.DailyValues(ctx, "nosuch", day0, t0); err != nil || len(vs) != 0 {
		t.Errorf("DailyValues(nosuch) = %v, %v; want none", vs, err)
	}
}
