// Package report computes what people look at — uptime, error rate, latency,
// the SLO error budget, MTTA and MTTR — and builds the documents of
// `pulse status` (Status) and of the daily and weekly digest (Digest), with
// their text, markdown, html and json renderings.
//
// Everything here is a function over values read through small interfaces
// that *store.Store implements; the clock is passed in, so every number is
// tested with tables.
package report

import (
	"fmt"
	"math"
	"time"

	"github.com/pulse-monitor/pulse/pkg/store"
)

// DateLayout is the layout of the dates reports take and print.
const DateLayout = "2006-01-02"

// BudgetWindow is the span of the error budget.
const BudgetWindow = 30 * 24 * time.Hour

// Day returns the calendar day date ("YYYY-MM-DD") in loc as [from, to):
// midnight to midnight, 23 or 25 hours long on daylight-saving days.
func Day(date string, loc *time.Location) (from, to time.Time, err error) {
	return Days(date, 1, loc)
}

// Days returns the n calendar days starting on date in loc as [from, to).
func Days(date string, n int, loc *time.Location) (from, to time.Time, err error) {
	if loc == nil {
		loc = time.UTC
	}
	d, err := time.ParseInLocation(DateLayout, date, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("invalid date %q (use YYYY-MM-DD): %w", date, err)
	}
	// time.Date normalises a midnight that a DST jump skips to the first
	// instant of the day, which is what a day boundary must be.
	from = time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	to = time.Date(d.Year(), d.Month(), d.Day()+n, 0, 0, 0, 0, loc)
	return from, to, nil
}

// DateOf is the calendar day of t in loc, as "YYYY-MM-DD".
func DateOf(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format(DateLayout)
}

// AddDays shifts the date "YYYY-MM-DD" by n calendar days.
func AddDays(date string, n int) (string, error) {
	d, err := time.Parse(DateLayout, date)
	if err != nil {
		return "", fmt.Errorf("invalid date %q (use YYYY-MM-DD): %w", date, err)
	}
	return d.AddDate(0, 0, n).Format(DateLayout), nil
}

// Yesterday is the day before now's day in loc.
func Yesterday(now time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	n := now.In(loc)
	return time.Date(n.Year(), n.Month(), n.Day()-1, 12, 0, 0, 0, loc).Format(DateLayout)
}

// ErrorRate is the share of failed (non-ok) runs in [0, 1]; 0 without runs.
func ErrorRate(r *store.Rollup) float64 {
	if r.Runs == 0 {
		return 0
	}
	return float64(r.Failures) / float64(r.Runs)
}

// Overall sums the rollups of several checks: availability of the sum is the
// run-weighted availability, which is what the error rate KPI is.
func Overall(rs []*store.Rollup) store.Rollup {
	var sum store.Rollup
	for _, r := range rs {
		sum.Merge(r)
	}
	return sum
}

// MeanAvailability is the mean of the availabilities of the rollups that
// have runs, in [0, 1]: every check counts the same however often it runs.
// ok is false when no rollup has runs.
func MeanAvailability(rs []*store.Rollup) (avail float64, ok bool) {
	n := 0
	for _, r := range rs {
		if r.Runs > 0 {
			avail += r.Availability()
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return avail / float64(n), true
}

// Budget is the error budget of an availability target over BudgetWindow.
type Budget struct {
	Target         float64 `json:"target"` // percent
	WindowDays     int     `json:"window_days"`
	AllowedMinutes float64 `json:"allowed_minutes"`
	UsedMinutes    float64 `json:"used_minutes"`
	LeftMinutes    float64 `json:"left_minutes"` // negative once overspent
	// BurnRate24h is how fast the last 24 hours spent the budget: 1 spends
	// it exactly in the window, 2 in half of it. Null when the target is
	// 100 % and there were failures (an infinite rate).
	BurnRate24h *float64 `json:"burn_rate_24h"`
}

// ErrorBudget computes the budget of target (percent) over window.
// failShare is the share of failed runs over the window and covered how much
// of the window had data (a database a week old has spent nothing of the
// three weeks before it); failShare24h is the share over the last 24 hours.
func ErrorBudget(target float64, window, covered time.Duration, failShare, failShare24h float64) Budget {
	covered = min(max(covered, 0), window)
	allowed := (1 - target/100) * window.Minutes()
	used := failShare * covered.Minutes()
	b := Budget{
		Target:         target,
		WindowDays:     int(window / (24 * time.Hour)),
		AllowedMinutes: round(allowed, 2),
		UsedMinutes:    round(used, 2),
		LeftMinutes:    round(allowed-used, 2),
	}
	if slack := 1 - target/100; slack > 0 {
		b.BurnRate24h = ptr(round(failShare24h/slack, 2))
	} else if failShare24h == 0 {
		b.BurnRate24h = ptr(0.0)
	}
	return b
}

// Incident is one incident as reports see it.
type Incident struct {
	ID         int64     `json:"id"`
	Check      string    `json:"check"`
	Severity   string    `json:"severity"` // P1..P4
	Status     string    `json:"status"`   // open | acknowledged | resolved
	Message    string    `json:"message,omitempty"`
	OpenedAt   time.Time `json:"opened_at"`
	AckedAt    time.Time `json:"acked_at,omitzero"`
	AckedBy    string    `json:"acked_by,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// Duration is how long the incident lasted, until now while open.
func (i *Incident) Duration(now time.Time) time.Duration {
	if !i.ResolvedAt.IsZero() {
		return i.ResolvedAt.Sub(i.OpenedAt)
	}
	return now.Sub(i.OpenedAt)
}

// Open reports whether the incident is not resolved.
func (i *Incident) Open() bool { return i.ResolvedAt.IsZero() }

// MTTA is the mean time to acknowledge of the incidents acknowledged in
// [from, to); ok is false when none was.
func MTTA(incs []Incident, from, to time.Time) (time.Duration, bool) {
	var sum time.Duration
	n := 0
	for i := range incs {
		in := &incs[i]
		if in.AckedAt.IsZero() || in.AckedAt.Before(from) || !in.AckedAt.Before(to) {
			continue
		}
		sum += in.AckedAt.Sub(in.OpenedAt)
		n++
	}
	if n == 0 {
		return 0, false
	}
	return sum / time.Duration(n), true
}

// MTTR is the mean time to resolve of the incidents resolved in [from, to)
// (an incident that spans midnight counts on the day it is resolved); ok is
// false when none was.
func MTTR(incs []Incident, from, to time.Time) (time.Duration, bool) {
	var sum time.Duration
	n := 0
	for i := range incs {
		in := &incs[i]
		if in.ResolvedAt.IsZero() || in.ResolvedAt.Before(from) || !in.ResolvedAt.Before(to) {
			continue
		}
		sum += in.ResolvedAt.Sub(in.OpenedAt)
		n++
	}
	if n == 0 {
		return 0, false
	}
	return sum / time.Duration(n), true
}

// Active reports whether the incident was open at some moment of [from, to).
func (i *Incident) Active(from, to time.Time) bool {
	return i.OpenedAt.Before(to) && (i.ResolvedAt.IsZero() || !i.ResolvedAt.Before(from))
}

// SeverityCounts counts incidents by severity.
type SeverityCounts struct {
	P1 int `json:"p1"`
	P2 int `json:"p2"`
	P3 int `json:"p3"`
	P4 int `json:"p4"`
}

// Add counts one incident of severity sev.
func (c *SeverityCounts) Add(sev string) {
	switch sev {
	case "P1":
		c.P1++
	case "P2":
		c.P2++
	case "P3":
		c.P3++
	default:
		c.P4++
	}
}

// Total is the number of incidents counted.
func (c SeverityCounts) Total() int { return c.P1 + c.P2 + c.P3 + c.P4 }

func ptr[T any](v T) *T { return &v }

func round(v float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(v*p) / p
}

// pct is share (0..1) as a percentage rounded to 4 decimals, so that JSON
// carries 99.9583 rather than 99.95833333333333.
func pct(share float64) float64 { return round(share*100, 4) }

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }
