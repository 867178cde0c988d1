package report

import (
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no tzdata for Europe/Berlin: %v", err)
	}
	return loc
}

func TestDay(t *testing.T) {
	loc := berlin(t)
	for _, tc := range []struct {
		date  string
		loc   *time.Location
		from  string
		hours int
	}{
		{"2026-06-15", time.UTC, "2026-06-15T00:00:00Z", 24},
		{"2026-06-15", loc, "2026-06-14T22:00:00Z", 24},
		{"2026-03-29", loc, "2026-03-28T23:00:00Z", 23}, // clocks go forward
		{"2026-10-25", loc, "2026-10-24T22:00:00Z", 25}, // clocks go back
		{"2026-12-31", loc, "2026-12-30T23:00:00Z", 24},
	} {
		t.Run(tc.date+" "+tc.loc.String(), func(t *testing.T) {
			from, to, err := Day(tc.date, tc.loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := from.UTC().Format(time.RFC3339); got != tc.from {
				t.Errorf("from = %s, want %s", got, tc.from)
			}
			if h := to.Sub(from); h != time.Duration(tc.hours)*time.Hour {
				t.Errorf("day is %s long, want %dh", h, tc.hours)
			}
		})
	}
	for _, bad := range []string{"", "2026-02-30", "29.03.2026", "2026-3-1"} {
		if _, _, err := Day(bad, loc); err == nil {
			t.Errorf("Day(%q) gave no error", bad)
		}
	}
}

func TestYesterday(t *testing.T) {
	loc := berlin(t)
	for _, tc := range []struct {
		now  string
		loc  *time.Location
		want string
	}{
		{"2026-03-29T22:30:00Z", loc, "2026-03-29"},      // 00:30 on the 30th in Berlin
		{"2026-03-29T22:30:00Z", time.UTC, "2026-03-28"}, // still the 29th in UTC
		{"2026-03-30T08:00:00Z", loc, "2026-03-29"},
		{"2026-01-01T00:00:00Z", time.UTC, "2025-12-31"},
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		if got := Yesterday(now, tc.loc); got != tc.want {
			t.Errorf("Yesterday(%s in %s) = %s, want %s", tc.now, tc.loc, got, tc.want)
		}
	}
}

func TestErrorBudget(t *testing.T) {
	for _, tc := range []struct {
		name                string
		target              float64
		covered             time.Duration
		fail, fail24h       float64
		allowed, used, left float64
		burn                float64 // -1: null
	}{
		{"no failures", 99.9, BudgetWindow, 0, 0, 43.2, 0, 43.2, 0},
		{"half spent, burning at 1", 99.9, BudgetWindow, 0.0005, 0.001, 43.2, 21.6, 21.6, 1},
		{"a week of data spends only that week", 99.9, 7 * 24 * time.Hour, 0.001, 0.002, 43.2, 10.08, 33.12, 2},
		{"overspent", 99.9, BudgetWindow, 0.002, 0.01, 43.2, 86.4, -43.2, 10},
		{"99 percent", 99, BudgetWindow, 0.005, 0.0025, 432, 216, 216, 0.25},
		{"covered beyond the window is capped", 99.9, 2 * BudgetWindow, 0.001, 0, 43.2, 43.2, 0, 0},
		{"target 100, no failures", 100, BudgetWindow, 0, 0, 0, 0, 0, 0},
		{"target 100 with failures burns infinitely", 100, BudgetWindow, 0.001, 0.001, 0, 43.2, -43.2, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := ErrorBudget(tc.target, BudgetWindow, tc.covered, tc.fail, tc.fail24h)
			if !near(b.AllowedMinutes, tc.allowed) || !near(b.UsedMinutes, tc.used) || !near(b.LeftMinutes, tc.left) || b.WindowDays != 30 {
				t.Errorf("budget = %+v; want allowed %v used %v left %v", b, tc.allowed, tc.used, tc.left)
			}
			switch {
			case tc.burn < 0 && b.BurnRate24h != nil:
				t.Errorf("burn rate = %v, want null", *b.BurnRate24h)
			case tc.burn >= 0 && (b.BurnRate24h == nil || !near(*b.BurnRate24h, tc.burn)):
				t.Errorf("burn rate = %v, want %v", b.BurnRate24h, tc.burn)
			}
		})
	}
}

func TestMTTAandMTTR(t *testing.T) {
	loc := berlin(t)
	d1From, d1To, _ := Day("2026-03-28", loc)
	d2From, d2To, _ := Day("2026-03-29", loc)
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	incs := []Incident{
		// Spans midnight: acknowledged on the 28th, resolved on the 29th.
		{ID: 1, Severity: "P2", OpenedAt: at("2026-03-28T22:30:00Z"), AckedAt: at("2026-03-28T22:40:00Z"), ResolvedAt: at("2026-03-28T23:30:00Z")},
		{ID: 2, Severity: "P1", OpenedAt: at("2026-03-29T08:00:00Z"), AckedAt: at("2026-03-29T08:02:00Z"), ResolvedAt: at("2026-03-29T08:20:00Z")},
		{ID: 3, Severity: "P3", OpenedAt: at("2026-03-29T20:00:00Z")}, // open
	}
	for _, tc := range []struct {
		name             string
		from, to         time.Time
		mtta, mttr       time.Duration
		hasMTTA, hasMTTR bool
		active           int
	}{
		{"28th", d1From, d1To, 10 * time.Minute, 0, true, false, 1},
		{"29th", d2From, d2To, 2 * time.Minute, (time.Hour + 20*time.Minute) / 2, true, true, 3},
		{"empty day", d2To.Add(48 * time.Hour), d2To.Add(72 * time.Hour), 0, 0, false, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, okA := MTTA(incs, tc.from, tc.to)
			r, okR := MTTR(incs, tc.from, tc.to)
			if a != tc.mtta || okA != tc.hasMTTA || r != tc.mttr || okR != tc.hasMTTR {
				t.Errorf("MTTA %s %v, MTTR %s %v; want %s %v, %s %v", a, okA, r, okR, tc.mtta, tc.hasMTTA, tc.mttr, tc.hasMTTR)
			}
			n := 0
			for i := range incs {
				if incs[i].Active(tc.from, tc.to) {
					n++
				}
			}
			if n != tc.active {
				t.Errorf("%d incidents active, want %d", n, tc.active)
			}
		})
	}
}

func TestRates(t *testing.T) {
	a := &store.Rollup{Runs: 1000, Failures: 1}
	b := &store.Rollup{Runs: 10, Failures: 5}
	empty := &store.Rollup{}
	if got := ErrorRate(a); !near(got, 0.001) {
		t.Errorf("error rate = %v", got)
	}
	if got := ErrorRate(empty); got != 0 {
		t.Errorf("error rate without runs = %v", got)
	}
	if av, ok := MeanAvailability([]*store.Rollup{a, b, empty}); !ok || !near(av, (0.999+0.5)/2) {
		t.Errorf("mean availability = %v %v; an empty check must not count", av, ok)
	}
	if _, ok := MeanAvailability([]*store.Rollup{empty}); ok {
		t.Error("mean availability of no runs is ok")
	}
	if s := Overall([]*store.Rollup{a, b}); s.Runs != 1010 || s.Failures != 6 {
		t.Errorf("overall = %+v", s)
	}
}

func TestDailyDue(t *testing.T) {
	loc := berlin(t)
	cfg := &config.Config{Agent: config.Agent{Location: loc}, Report: config.Report{DailyAt: "09:00", Notify: []string{"team"}}}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	for _, tc := range []struct {
		name     string
		last     string
		now      time.Time
		day      string
		due      bool
		noNotify bool
	}{
		{"at daily_at, not sent", "2026-03-28", at("2026-03-30T07:00:00Z"), "2026-03-29", true, false}, // 09:00 CEST
		{"just before daily_at", "2026-03-28", at("2026-03-30T06:59:00Z"), "2026-03-28", false, false},
		{"already sent today", "2026-03-29", at("2026-03-30T12:00:00Z"), "2026-03-29", false, false},
		{"catch up: down at yesterday's daily_at", "2026-03-27", at("2026-03-30T05:00:00Z"), "2026-03-28", true, false},
		{"catch up after days down sends the latest", "2026-03-01", at("2026-03-30T10:00:00Z"), "2026-03-29", true, false},
		{"never sent, before daily_at: wait", "", at("2026-03-30T05:00:00Z"), "", false, false},
		{"never sent, after daily_at", "", at("2026-03-30T10:00:00Z"), "2026-03-29", true, false},
		{"DST day: 09:00 is 07:00Z after the change", "2026-03-28", at("2026-03-29T07:30:00Z"), "2026-03-28", false, false},
		{"DST day: before 09:00 CEST", "2026-03-27", at("2026-03-29T06:30:00Z"), "2026-03-27", false, false},
		{"no [report] notify", "", at("2026-03-30T10:00:00Z"), "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *cfg
			if tc.noNotify {
				c.Report.Notify = nil
			}
			day, due := DailyDue(tc.last, tc.now, &c)
			if day != tc.day || due != tc.due {
				t.Errorf("DailyDue(%q, %s) = %q %v; want %q %v", tc.last, tc.now.In(loc), day, due, tc.day, tc.due)
			}
		})
	}
}

func TestSparkline(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		in   []*float64
		want string
	}{
		{nil, ""},
		{[]*float64{f(0), f(0)}, "▁▁"},
		{[]*float64{f(1), f(2), nil, f(4), f(8)}, "▂▃ ▅█"},
		{[]*float64{f(5)}, "█"},
	} {
		if got := Sparkline(tc.in); got != tc.want {
			t.Errorf("Sparkline = %q, want %q", got, tc.want)
		}
	}
}
