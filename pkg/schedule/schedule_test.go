package schedule

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/cron"

	"github.com/pulse-monitor/pulse/pkg/config"
)

func TestOffsetStable(t *testing.T) {
	// The phase is a contract across releases: a change here moves every
	// check of every installation. These values were computed with FNV-1a.
	golden := []struct {
		name     string
		interval time.Duration
		want     time.Duration
	}{
		{"api-health", time.Minute, 7_228 * time.Millisecond},
		{"api-health", 30 * time.Second, 7_228 * time.Millisecond},
		{"failed-payments", 5 * time.Minute, 102_676 * time.Millisecond},
		{"", time.Minute, 16_037 * time.Millisecond},
		{"x", 500 * time.Microsecond, 347_271 * time.Nanosecond},
		{"x", 0, 0},
	}
	for _, g := range golden {
		t.Run(fmt.Sprintf("%s/%s", g.name, g.interval), func(t *testing.T) {
			if got := Offset(g.name, g.interval); got != g.want {
				t.Errorf("Offset(%q, %s) = %s, want %s", g.name, g.interval, got, g.want)
			}
		})
	}
	// Cross-check against the standard library's FNV-1a.
	for i := range 1000 {
		name := fmt.Sprintf("check-%d", i)
		h := fnv.New64a()
		h.Write([]byte(name))
		want := time.Duration(h.Sum64()%60_000) * time.Millisecond
		if got := Offset(name, time.Minute); got != want {
			t.Fatalf("Offset(%q, 1m) = %s, want %s (FNV-1a mod interval)", name, got, want)
		}
		if got := Offset(name, time.Minute); got < 0 || got >= time.Minute {
			t.Fatalf("Offset(%q, 1m) = %s, outside [0, 1m)", name, got)
		}
	}
}

func TestOffsetSpread(t *testing.T) {
	cases := []struct {
		name     string
		format   string
		interval time.Duration
		buckets  int
	}{
		{"sequential over 1m", "check-%04d", time.Minute, 60},
		{"hostnames over 1m", "web-%d.prod.example.com", time.Minute, 60},
		{"sequential over 5s", "http-%d", 5 * time.Second, 50},
		{"sequential over 1h", "c%d", time.Hour, 60},
	}
	const n = 10_000
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			counts := make([]int, tc.buckets)
			width := tc.interval / time.Duration(tc.buckets)
			for i := range n {
				counts[Offset(fmt.Sprintf(tc.format, i), tc.interval)/width]++
			}
			mean := float64(n) / float64(tc.buckets)
			for b, c := range counts {
				if float64(c) > 3*mean {
					t.Errorf("bucket %d holds %d offsets, over 3× the mean %.0f", b, c, mean)
				}
				if float64(c) < mean/3 {
					t.Errorf("bucket %d holds %d offsets, under a third of the mean %.0f", b, c, mean)
				}
			}
		})
	}
}

func TestNextInterval(t *testing.T) {
	const name = "api-health" // Offset 7.228s in 1m and in 30s
	ph := 7228 * time.Millisecond
	cases := []struct {
		name     string
		interval time.Duration
		after    time.Time
		want     time.Time
	}{
		{"before the phase", time.Minute, t0.Add(2 * time.Second), t0.Add(ph)},
		{"just before", time.Minute, t0.Add(ph - time.Millisecond), t0.Add(ph)},
		{"exactly at a run is after it", time.Minute, t0.Add(ph), t0.Add(time.Minute + ph)},
		{"past the phase", time.Minute, t0.Add(50 * time.Second), t0.Add(time.Minute + ph)},
		{"30s", 30 * time.Second, t0, t0.Add(ph)},
		{"30s second slot", 30 * time.Second, t0.Add(20 * time.Second), t0.Add(30*time.Second + ph)},
		{"before the epoch", time.Minute, time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC), time.Date(1969, 12, 31, 23, 59, 7, 228e6, time.UTC)},
		{"time zone of after does not matter", time.Minute, t0.In(mustLoc(t, "Asia/Kolkata")).Add(2 * time.Second), t0.Add(ph)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := &Job{Name: name, Interval: tc.interval}
			got := Next(j, tc.after)
			if !got.Equal(tc.want) {
				t.Errorf("Next(%s, after %s) = %s, want %s", tc.interval, tc.after, got, tc.want)
			}
		})
	}
	t.Run("properties", func(t *testing.T) {
		for _, iv := range []time.Duration{time.Second, 5 * time.Second, 90 * time.Second, time.Hour, 24 * time.Hour} {
			for i := range 200 {
				j := &Job{Name: fmt.Sprintf("c-%d", i), Interval: iv}
				after := t0.Add(time.Duration(i) * 7777 * time.Millisecond)
				got := Next(j, after)
				if !got.After(after) || got.Sub(after) > iv {
					t.Fatalf("Next(%s, %s) = %s: not in (after, after+interval]", iv, after, got)
				}
				if (got.UnixNano()-int64(Offset(j.Name, iv)))%int64(iv) != 0 {
					t.Fatalf("Next(%s) = %s is not epoch slot + offset", iv, got)
				}
			}
		}
	})
}

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func mustCron(t testing.TB, expr string, loc *time.Location) *Job {
	t.Helper()
	s, err := cron.Parse(expr, loc, config.ParseEvery)
	if err != nil {
		t.Fatalf("cron.Parse(%q): %v", expr, err)
	}
	return &Job{Name: "cron-" + expr, Cron: s, Location: loc}
}

// at parses "2006-01-02 15:04:05" as a wall time in loc; for an ambiguous
// time it picks the offset named by the suffix ("EDT"/"EST"...), if any.
func at(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	wall, zone, _ := strings.Cut(s, " ")
	clock, abbr, _ := strings.Cut(zone, " ")
	w, err := time.Parse("2006-01-02 15:04:05", wall+" "+clock)
	if err != nil {
		t.Fatal(err)
	}
	if abbr == "" {
		return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
	}
	// Try each offset the zone uses around that day and keep the one named.
	for _, probe := range []time.Duration{-36 * time.Hour, 36 * time.Hour} {
		name, off := w.Add(probe).In(loc).Zone()
		if name == abbr {
			return w.Add(-time.Duration(off) * time.Second)
		}
	}
	t.Fatalf("zone %s not in effect around %s in %s", abbr, wall, loc)
	return time.Time{}
}

func fmtRuns(ts []time.Time, loc *time.Location) string {
	var b strings.Builder
	for i, x := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(x.In(loc).Format("2006-01-02 15:04:05 MST"))
	}
	return b.String()
}

func TestNextCron(t *testing.T) {
	paris := mustLoc(t, "Europe/Paris")
	cases := []struct {
		name string
		expr string
		loc  *time.Location
		from string
		want []string // wall times in loc, with zone
	}{
		{"5 fields", "*/5 * * * *", time.UTC, "2026-06-01 12:03:10", []string{"2026-06-01 12:05:00 UTC", "2026-06-01 12:10:00 UTC", "2026-06-01 12:15:00 UTC"}},
		{"6 fields with seconds", "*/20 * * * * *", time.UTC, "2026-06-01 12:00:00", []string{"2026-06-01 12:00:20 UTC", "2026-06-01 12:00:40 UTC", "2026-06-01 12:01:00 UTC"}},
		{"6 fields fixed second", "15 30 9 * * MON-FRI", time.UTC, "2026-06-05 10:00:00", []string{"2026-06-08 09:30:15 UTC", "2026-06-09 09:30:15 UTC", "2026-06-10 09:30:15 UTC"}},
		{"@daily", "@daily", time.UTC, "2026-06-01 12:00:00", []string{"2026-06-02 00:00:00 UTC", "2026-06-03 00:00:00 UTC", "2026-06-04 00:00:00 UTC"}},
		{"@hourly", "@hourly", time.UTC, "2026-06-01 12:00:00", []string{"2026-06-01 13:00:00 UTC", "2026-06-01 14:00:00 UTC", "2026-06-01 15:00:00 UTC"}},
		{"@daily in Paris", "@daily", paris, "2026-06-01 12:00:00", []string{"2026-06-02 00:00:00 CEST", "2026-06-03 00:00:00 CEST", "2026-06-04 00:00:00 CEST"}},
		{"weekdays at 9 in Paris", "0 9 * * 1-5", paris, "2026-06-05 10:00:00", []string{"2026-06-08 09:00:00 CEST", "2026-06-09 09:00:00 CEST", "2026-06-10 09:00:00 CEST"}},
		{"month end", "0 0 31 * *", time.UTC, "2026-06-01 00:00:00", []string{"2026-07-31 00:00:00 UTC", "2026-08-31 00:00:00 UTC", "2026-10-31 00:00:00 UTC"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := mustCron(t, tc.expr, tc.loc)
			got := fmtRuns(NextRuns(j, at(t, tc.loc, tc.from), len(tc.want)), tc.loc)
			if want := strings.Join(tc.want, ", "); got != want {
				t.Errorf("%q from %s:\n got  %s\n want %s", tc.expr, tc.from, got, want)
			}
		})
	}
}

func TestNextEvery(t *testing.T) {
	// @every runs as an interval: spread by name, aligned to the epoch.
	s, err := cron.Parse("@every 90s", time.UTC, config.ParseEvery)
	if err != nil {
		t.Fatal(err)
	}
	j := &Job{Name: "ev", Cron: s}
	iv := &Job{Name: "ev", Interval: 90 * time.Second}
	for i := range 50 {
		after := t0.Add(time.Duration(i) * 13 * time.Second)
		if got, want := Next(j, after), Next(iv, after); !got.Equal(want) {
			t.Fatalf("@every 90s after %s = %s, want %s as interval 90s", after, got, want)
		}
	}
}

// TestNextDST runs the 2026 transitions: New York springs forward on March 8
// (02:00 EST → 03:00 EDT) and falls back on November 1 (02:00 EDT → 01:00
// EST); Berlin on March 29 (02:00 CET → 03:00 CEST) and October 25 (03:00
// CEST → 02:00 CET).
func TestNextDST(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	berlin := mustLoc(t, "Europe/Berlin")
	saoPaulo := mustLoc(t, "America/Sao_Paulo")
	cases := []struct {
		name string
		expr string
		loc  *time.Location
		from string
		want []string
	}{
		// Fixed hours: each wall time once; a gap time at the end of the gap.
		{"NY 02:30 on spring-forward runs at 03:00 once", "30 2 * * *", ny, "2026-03-07 03:00:00",
			[]string{"2026-03-08 03:00:00 EDT", "2026-03-09 02:30:00 EDT", "2026-03-10 02:30:00 EDT"}},
		{"NY 01:30 on fall-back runs once", "30 1 * * *", ny, "2026-10-31 03:00:00",
			[]string{"2026-11-01 01:30:00 EDT", "2026-11-02 01:30:00 EST", "2026-11-03 01:30:00 EST"}},
		{"NY 01:30 asked during the repeat: next day", "30 1 * * *", ny, "2026-11-01 01:10:00 EST",
			[]string{"2026-11-02 01:30:00 EST"}},
		{"NY 02:00 and 02:30 in the gap collapse into one run", "0,30 2 * * *", ny, "2026-03-08 00:00:00",
			[]string{"2026-03-08 03:00:00 EDT", "2026-03-09 02:00:00 EDT"}},
		{"NY hours 1-3 on fall-back: 01:xx once", "0 1-3 * * *", ny, "2026-11-01 00:00:00",
			[]string{"2026-11-01 01:00:00 EDT", "2026-11-01 02:00:00 EST", "2026-11-01 03:00:00 EST", "2026-11-02 01:00:00 EST"}},
		{"Berlin 02:30 on spring-forward runs at 03:00 once", "30 2 * * *", berlin, "2026-03-28 12:00:00",
			[]string{"2026-03-29 03:00:00 CEST", "2026-03-30 02:30:00 CEST"}},
		{"Berlin 02:30 on fall-back runs once", "30 2 * * *", berlin, "2026-10-24 12:00:00",
			[]string{"2026-10-25 02:30:00 CEST", "2026-10-26 02:30:00 CET"}},
		{"Berlin 6 fields 02:15:30 in the gap", "30 15 2 * * *", berlin, "2026-03-28 12:00:00",
			[]string{"2026-03-29 03:00:00 CEST", "2026-03-30 02:15:30 CEST"}},
		{"Sao Paulo @daily when midnight is skipped (2018)", "@daily", saoPaulo, "2018-11-03 12:00:00",
			[]string{"2018-11-04 01:00:00 -02", "2018-11-05 00:00:00 -02"}},
		// Every hour: periods keep real time; a gap is not made up, a
		// repeated hour is covered again.
		{"NY */30 across spring-forward", "*/30 * * * *", ny, "2026-03-08 00:45:00",
			[]string{"2026-03-08 01:00:00 EST", "2026-03-08 01:30:00 EST", "2026-03-08 03:00:00 EDT", "2026-03-08 03:30:00 EDT"}},
		{"NY */30 across fall-back", "*/30 * * * *", ny, "2026-11-01 00:45:00",
			[]string{"2026-11-01 01:00:00 EDT", "2026-11-01 01:30:00 EDT", "2026-11-01 01:00:00 EST", "2026-11-01 01:30:00 EST", "2026-11-01 02:00:00 EST"}},
		{"Berlin */30 across spring-forward", "*/30 * * * *", berlin, "2026-03-29 01:15:00",
			[]string{"2026-03-29 01:30:00 CET", "2026-03-29 03:00:00 CEST", "2026-03-29 03:30:00 CEST"}},
		{"Berlin */30 across fall-back", "*/30 * * * *", berlin, "2026-10-25 01:45:00",
			[]string{"2026-10-25 02:00:00 CEST", "2026-10-25 02:30:00 CEST", "2026-10-25 02:00:00 CET", "2026-10-25 02:30:00 CET", "2026-10-25 03:00:00 CET"}},
		{"NY hourly at :15 across fall-back", "15 * * * *", ny, "2026-11-01 00:30:00",
			[]string{"2026-11-01 01:15:00 EDT", "2026-11-01 01:15:00 EST", "2026-11-01 02:15:00 EST"}},
		{"NY */30 asked during the repeat", "*/30 * * * *", ny, "2026-11-01 01:10:00 EST",
			[]string{"2026-11-01 01:30:00 EST", "2026-11-01 02:00:00 EST"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := mustCron(t, tc.expr, tc.loc)
			got := fmtRuns(NextRuns(j, at(t, tc.loc, tc.from), len(tc.want)), tc.loc)
			if want := strings.Join(tc.want, ", "); got != want {
				t.Errorf("%q in %s from %s:\n got  %s\n want %s", tc.expr, tc.loc, tc.from, got, want)
			}
		})
	}
}

// TestNextDSTYear walks a whole year in each zone: fixed-hour schedules run
// exactly once per local day; every-hour schedules run exactly one period
// apart, checked around each of the year's zone changes.
func TestNextDSTYear(t *testing.T) {
	zones := []struct {
		name string
		year int
	}{{"America/New_York", 2026}, {"Europe/Berlin", 2026}, {"Australia/Lord_Howe", 2026}, {"America/Sao_Paulo", 2018}, {"UTC", 2026}}
	for _, z := range zones {
		loc := mustLoc(t, z.name)
		start := time.Date(z.year, 1, 1, 0, 0, 0, 0, loc)
		end := time.Date(z.year+1, 1, 1, 0, 0, 0, 0, loc)
		t.Run(z.name+"/daily", func(t *testing.T) {
			for _, expr := range []string{"30 2 * * *", "30 1 * * *", "0 0 * * *", "59 23 * * *", "0 3 * * *"} {
				j := mustCron(t, expr, loc)
				days := map[string]int{}
				prev := start.Add(-time.Second)
				for x := Next(j, prev); x.Before(end); x = Next(j, x) {
					if !x.After(prev) {
						t.Fatalf("%q: %s not after %s", expr, x, prev)
					}
					prev = x
					days[x.In(loc).Format("2006-01-02")]++
				}
				if len(days) != 365 {
					t.Errorf("%q ran on %d days of %d, want 365", expr, len(days), z.year)
				}
				for d, n := range days {
					if n != 1 {
						t.Errorf("%q ran %d times on %s", expr, n, d)
					}
				}
			}
		})
		t.Run(z.name+"/periodic", func(t *testing.T) {
			// Each zone change of the year, and one ordinary day.
			windows := []time.Time{start.AddDate(0, 6, 0)}
			for p := start; ; {
				_, e := p.ZoneBounds()
				if e.IsZero() || !e.Before(end) {
					break
				}
				windows = append(windows, e)
				p = e
			}
			if z.name != "UTC" && len(windows) < 3 {
				t.Fatalf("found %d zone changes in %d", len(windows)-1, z.year)
			}
			for _, tc := range []struct {
				expr   string
				period time.Duration
			}{{"*/30 * * * *", 30 * time.Minute}, {"0 * * * *", time.Hour}, {"*/10 * * * * *", 10 * time.Second}} {
				j := mustCron(t, tc.expr, loc)
				for _, w := range windows {
					prev := Next(j, w.Add(-6*time.Hour))
					for x := Next(j, prev); x.Before(w.Add(6 * time.Hour)); x = Next(j, x) {
						// Lord Howe shifts by 30 minutes: an hourly run
						// there may be 30 or 90 minutes from the last.
						if d := x.Sub(prev); d != tc.period && z.name != "Australia/Lord_Howe" {
							t.Fatalf("%q: %s after %s (%s), want %s", tc.expr, x.In(loc), prev.In(loc), d, tc.period)
						}
						if !x.After(prev) {
							t.Fatalf("%q: %s not after %s", tc.expr, x, prev)
						}
						prev = x
					}
				}
			}
		})
	}
}

type stopAfter struct {
	last time.Time
}

func (s stopAfter) Next(t time.Time) time.Time {
	if n := t.Add(time.Hour); !n.After(s.last) {
		return n
	}
	return time.Time{}
}

func TestNextRuns(t *testing.T) {
	cases := []struct {
		name string
		job  *Job
		n    int
		want int
	}{
		{"three interval runs", &Job{Name: "a", Interval: time.Minute}, 3, 3},
		{"none asked", &Job{Name: "a", Interval: time.Minute}, 0, 0},
		{"negative", &Job{Name: "a", Interval: time.Minute}, -1, 0},
		{"schedule that stops", &Job{Name: "a", Cron: stopAfter{last: t0.Add(2 * time.Hour)}}, 5, 2},
		{"no schedule", &Job{Name: "a"}, 3, 0},
		{"february 30 never fires", mustCron(t, "0 0 30 2 *", time.UTC), 3, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := NextRuns(tc.job, t0, tc.n)
			if len(got) != tc.want {
				t.Fatalf("NextRuns = %d runs %v, want %d", len(got), got, tc.want)
			}
			prev := t0
			for _, x := range got {
				if !x.After(prev) {
					t.Errorf("runs not increasing: %v", got)
				}
				if want := Next(tc.job, prev); !x.Equal(want) {
					t.Errorf("run %s, want Next(%s) = %s", x, prev, want)
				}
				prev = x
			}
		})
	}
}

func TestJobFor(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	cases := []struct {
		name    string
		check   config.Check
		wantErr string
		check2  func(t *testing.T, j Job)
	}{
		{"interval", config.Check{Name: "a", Interval: config.Duration(30 * time.Second), Location: time.UTC}, "", func(t *testing.T, j Job) {
			if j.Interval != 30*time.Second || j.Cron != nil {
				t.Errorf("job = %+v, want interval 30s", j)
			}
		}},
		{"cron in its zone", config.Check{Name: "b", Interval: config.Duration(time.Minute), Schedule: "30 2 * * *", Location: ny}, "", func(t *testing.T, j Job) {
			got := Next(&j, at(t, ny, "2026-03-07 03:00:00"))
			if want := at(t, ny, "2026-03-08 03:00:00"); !got.Equal(want) {
				t.Errorf("next = %s, want %s", got, want)
			}
		}},
		{"@every", config.Check{Name: "c", Schedule: "@every 2m", Location: time.UTC}, "", func(t *testing.T, j Job) {
			if got, want := Next(&j, t0), Next(&Job{Name: "c", Interval: 2 * time.Minute}, t0); !got.Equal(want) {
				t.Errorf("next = %s, want %s", got, want)
			}
		}},
		{"bad cron", config.Check{Name: "d", Schedule: "61 * * * *", Location: time.UTC}, `schedule "61 * * * *"`, nil},
		{"nothing", config.Check{Name: "e"}, "no interval or schedule", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j, err := JobFor(&tc.check)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j.Name != tc.check.Name {
				t.Errorf("name = %q", j.Name)
			}
			tc.check2(t, j)
		})
	}
}

var _ cron.Schedule = stopAfter{}
