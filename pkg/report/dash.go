package report

import (
	"context"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// The dashboards (/dash/executive, /dash/operations) are built here from
// the same numbers as status and the digest: BuildStatus for states, KPIs
// and the error budget, the digest's metric baseline, MTTA and MTTR, and
// one rollup per check and UTC day (store.EachDailyRollup) for the trends.

// DashDays is how many UTC days the dashboards' longest trend covers.
const DashDays = 90

// DayStat is one check's day: the counts of its rollup and the latency
// quantiles of its histogram, small enough to cache 90 days of 1,000 checks.
type DayStat struct {
	Runs, Failures, Warn, Crit int64
	LatencySum, LatencyMax     time.Duration
	P50, P95                   time.Duration
}

// DayStatOf summarises a day's rollup.
func DayStatOf(r *store.Rollup) DayStat {
	return DayStat{Runs: r.Runs, Failures: r.Failures, Warn: r.Warn, Crit: r.Crit,
		LatencySum: r.LatencySum, LatencyMax: r.LatencyMax, P50: r.P(0.5), P95: r.P(0.95)}
}

// DayCountsOf is r's runs and failures only, what the availabilities
// need: the days of DailyStats before its last OpsDays.
func DayCountsOf(r *store.Rollup) DayStat {
	return DayStat{Runs: r.Runs, Failures: r.Failures}
}

// DailyStats is every check's days [First, First+len(Days)), UTC.
type DailyStats struct {
	First time.Time
	Days  int
	// ByCheck has Days entries per check, zero on days without runs.
	// The dashboards' reader (pkg/server) fills only Runs and Failures of
	// the days before the last OpsDays.
	ByCheck map[string][]DayStat
}

// DayStart is the start of day i.
func (ds *DailyStats) DayStart(i int) time.Time {
	return ds.First.Add(time.Duration(i) * 24 * time.Hour)
}

// runsFails counts runs and failed runs, without the histogram a
// store.Rollup carries (merging 90 days × 1,000 of those was most of a
// render).
type runsFails struct{ runs, fails int64 }

func (c runsFails) availability() float64 {
	if c.runs == 0 {
		return 1
	}
	return float64(c.runs-c.fails) / float64(c.runs)
}

// meanAvailability is MeanAvailability over counts.
func meanAvailability(cs []runsFails) (float64, bool) {
	sum, n := 0.0, 0
	for _, c := range cs {
		if c.runs > 0 {
			sum += c.availability()
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// counts sums days [from, to) of check.
func (ds *DailyStats) counts(check string, from, to int) runsFails {
	var c runsFails
	days := ds.ByCheck[check]
	for i := max(from, 0); i < min(to, len(days)); i++ {
		c.runs += days[i].Runs
		c.fails += days[i].Failures
	}
	return c
}

// DashFirstDay is the first UTC day of the n days that end with now's.
func DashFirstDay(now time.Time, n int) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d-(n-1), 0, 0, 0, 0, time.UTC)
}

// GroupOf is a check's group on the dashboards: its first tag, else
// UngroupedName.
func GroupOf(c *config.Check) string {
	if len(c.Tags) > 0 {
		return c.Tags[0]
	}
	return UngroupedName
}

// UngroupedName is the group of checks without tags.
const UngroupedName = "other"

// GroupAvailability is one service group on the executive dashboard.
type GroupAvailability struct {
	Name            string
	Checks          int
	Availability30d *float64 // percent, mean over its checks with runs
	Met30d          *bool
	Availability90d *float64
	Met90d          *bool
	Budget          Budget   // 30 days
	Daily           []Bucket // one per day of the 90, Availability the mean of its checks'
}

// WeekIncidents is one week (7 UTC days) of incidents.
type WeekIncidents struct {
	Start       time.Time
	Opened      SeverityCounts
	MTTASeconds *float64 // of the acks in the week
	MTTRSeconds *float64 // of the resolutions in the week
}

// MetricTrend is a business metric: the digest's last-24-hours period
// against its baseline, and its daily means.
type MetricTrend struct {
	MetricPeriod
	Daily []*float64 // mean per day of the 30, nil without values
}

// ExecDash is the executive dashboard.
type ExecDash struct {
	Status     *Status
	Groups     []GroupAvailability
	Untagged   int // checks in UngroupedName because they have no tag
	Metrics    []MetricTrend
	Weeks      []WeekIncidents // oldest first, the last one ending today
	Opened90d  SeverityCounts
	MTTA90d    *float64
	MTTR90d    *float64
	MetricDays int
}

// DashSource is what the dashboards read besides DailyStats.
type DashSource interface {
	Source
	DailyValues(ctx context.Context, check string, from, to time.Time) ([]store.DayValue, error)
}

// BuildExecDash builds the executive dashboard of cfg's enabled checks from
// st (BuildStatus at now) and ds (DashDays days ending today).
func BuildExecDash(ctx context.Context, src DashSource, cfg *config.Config, st *Status, ds *DailyStats, now time.Time) (*ExecDash, error) {
	t := cfg.Targets
	e := &ExecDash{Status: st, MetricDays: 30}
	rows, err := src.Checks(ctx)
	if err != nil {
		return nil, err
	}
	firstSeen := make(map[string]time.Time, len(rows))
	for _, r := range rows {
		firstSeen[r.Name] = r.FirstSeen
	}
	type acc struct {
		g              *GroupAvailability
		m30, m90, last []runsFails
		dailySum       []float64 // sum of the availabilities of the checks with runs that day
		dailyN         []int
		dailyRuns      []runsFails
		oldest         time.Time
		haveOldest     bool
	}
	var groups []*acc
	byName := map[string]*acc{}
	n := ds.Days
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		if !c.IsEnabled() {
			continue
		}
		name := GroupOf(c)
		if len(c.Tags) == 0 {
			e.Untagged++
		}
		a := byName[name]
		if a == nil {
			a = &acc{g: &GroupAvailability{Name: name}, dailySum: make([]float64, n), dailyN: make([]int, n), dailyRuns: make([]runsFails, n)}
			byName[name] = a
			groups = append(groups, a)
		}
		a.g.Checks++
		m30, m90, last := ds.counts(c.Name, n-30, n), ds.counts(c.Name, 0, n), ds.counts(c.Name, n-1, n)
		a.m30, a.m90, a.last = append(a.m30, m30), append(a.m90, m90), append(a.last, last)
		if m30.runs > 0 {
			if fs, ok := firstSeen[c.Name]; ok && (!a.haveOldest || fs.Before(a.oldest)) {
				a.oldest, a.haveOldest = fs, true
			}
		}
		for d := range ds.ByCheck[c.Name] {
			if stat := &ds.ByCheck[c.Name][d]; stat.Runs > 0 && d < n {
				rf := runsFails{stat.Runs, stat.Failures}
				a.dailySum[d] += rf.availability()
				a.dailyN[d]++
				a.dailyRuns[d].runs += rf.runs
				a.dailyRuns[d].fails += rf.fails
			}
		}
		if isBusinessMetric(c) {
			mt, err := metricTrend(ctx, src, c, ds, now)
			if err != nil {
				return nil, err
			}
			e.Metrics = append(e.Metrics, mt)
		}
	}
	for _, a := range groups {
		g := a.g
		a30, ok30 := meanAvailability(a.m30)
		if ok30 {
			g.Availability30d, g.Met30d = ptr(pct(a30)), ptr(a30*100 >= t.Availability)
		}
		if av, ok := meanAvailability(a.m90); ok {
			g.Availability90d, g.Met90d = ptr(pct(av)), ptr(av*100 >= t.Availability)
		}
		a24, ok24 := meanAvailability(a.last)
		var covered time.Duration
		if ok30 && a.haveOldest {
			covered = now.Sub(a.oldest)
		} else {
			a30 = 1
		}
		if !ok24 {
			a24 = 1
		}
		g.Budget = ErrorBudget(t.Availability, BudgetWindow, covered, 1-a30, 1-a24)
		g.Daily = make([]Bucket, n)
		for d := range g.Daily {
			b := &g.Daily[d]
			b.Start = ds.DayStart(d)
			b.Runs, b.Failures = a.dailyRuns[d].runs, a.dailyRuns[d].fails
			if a.dailyN[d] > 0 {
				b.Availability = ptr(pct(a.dailySum[d] / float64(a.dailyN[d])))
			}
		}
		e.Groups = append(e.Groups, *g)
	}

	// Incidents: 13 weeks ending today, counted by the week they opened in;
	// MTTA and MTTR of the acks and resolutions of each week.
	end := ds.DayStart(n)
	weeks := (n + 6) / 7
	from := end.Add(-time.Duration(weeks) * 7 * 24 * time.Hour)
	raw, err := src.IncidentsBetween(ctx, from, end)
	if err != nil {
		return nil, err
	}
	incs := toIncidents(raw)
	for w := range weeks {
		ws := from.Add(time.Duration(w) * 7 * 24 * time.Hour)
		we := ws.Add(7 * 24 * time.Hour)
		wk := WeekIncidents{Start: ws}
		for i := range incs {
			if in := &incs[i]; !in.OpenedAt.Before(ws) && in.OpenedAt.Before(we) {
				wk.Opened.Add(in.Severity)
			}
		}
		if v, ok := MTTA(incs, ws, we); ok {
			wk.MTTASeconds = ptr(round(v.Seconds(), 0))
		}
		if v, ok := MTTR(incs, ws, we); ok {
			wk.MTTRSeconds = ptr(round(v.Seconds(), 0))
		}
		e.Weeks = append(e.Weeks, wk)
	}
	f90 := ds.DayStart(0)
	for i := range incs {
		if !incs[i].OpenedAt.Before(f90) {
			e.Opened90d.Add(incs[i].Severity)
		}
	}
	if v, ok := MTTA(incs, f90, end); ok {
		e.MTTA90d = ptr(round(v.Seconds(), 0))
	}
	if v, ok := MTTR(incs, f90, end); ok {
		e.MTTR90d = ptr(round(v.Seconds(), 0))
	}
	return e, nil
}

// metricTrend is c's last 24 hours against its baseline, as the daily
// digest computes it, and its daily means over the last 30 days of ds.
func metricTrend(ctx context.Context, src DashSource, c *config.Check, ds *DailyStats, now time.Time) (MetricTrend, error) {
	mp, err := metricPeriod(ctx, src, c, now.Add(-24*time.Hour), now, 1)
	if err != nil {
		return MetricTrend{}, err
	}
	return MetricTrend{MetricPeriod: mp, Daily: dailyMeans(ctx, src, c.Name, ds, 30)}, nil
}

// dailyMeans is check's mean value per day over the last n days of ds; nil
// entries without values (and all nil when they cannot be read).
func dailyMeans(ctx context.Context, src DashSource, check string, ds *DailyStats, n int) []*float64 {
	out := make([]*float64, n)
	first := ds.Days - n
	vs, err := src.DailyValues(ctx, check, ds.DayStart(first), ds.DayStart(ds.Days))
	if err != nil {
		return out
	}
	for _, v := range vs {
		if i := int(v.Day.Sub(ds.DayStart(first)) / (24 * time.Hour)); i >= 0 && i < n && v.Count > 0 {
			out[i] = ptr(round(v.Avg, 4))
		}
	}
	return out
}

// OpsCheck is one check on the operations dashboard.
type OpsCheck struct {
	CheckStatus
	Group      string
	ErrorRate  *float64   // percent over the 30 days
	P50Ms      []*float64 // per day of the 30, nil without runs
	P95Ms      []*float64
	P95Today   *float64
	Throughput []*float64 // daily mean value, for metric checks tagged throughput
	IsMetric   bool
}

// OpsDash is the operations dashboard.
type OpsDash struct {
	Status *Status
	Days   int // 30
	First  time.Time
	Checks []OpsCheck // worst first, as status
}

// OpsDays is the span of the operations dashboard's trends.
const OpsDays = 30

// ThroughputTag marks the metric checks whose value is a throughput.
const ThroughputTag = "throughput"

// BuildOpsDash builds the operations dashboard: every enabled check's
// state (st), its daily p50/p95 and error rate over the last OpsDays days
// of ds, and the daily throughput of the metric checks tagged throughput.
func BuildOpsDash(ctx context.Context, src DashSource, cfg *config.Config, st *Status, ds *DailyStats) (*OpsDash, error) {
	n := min(OpsDays, ds.Days)
	first := ds.Days - n
	o := &OpsDash{Status: st, Days: n, First: ds.DayStart(first)}
	byName := make(map[string]*config.Check, len(cfg.Checks))
	for i := range cfg.Checks {
		byName[cfg.Checks[i].Name] = &cfg.Checks[i]
	}
	for _, row := range st.Rows {
		c := byName[row.Name]
		if c == nil {
			continue
		}
		oc := OpsCheck{CheckStatus: row, Group: GroupOf(c), P50Ms: make([]*float64, n), P95Ms: make([]*float64, n)}
		days := ds.ByCheck[c.Name]
		var sum runsFails
		for i := range n {
			if first+i >= len(days) {
				break
			}
			d := &days[first+i]
			if d.Runs == 0 {
				continue
			}
			sum.runs += d.Runs
			sum.fails += d.Failures
			oc.P50Ms[i], oc.P95Ms[i] = ptr(ms(d.P50)), ptr(ms(d.P95))
		}
		if sum.runs > 0 {
			oc.ErrorRate = ptr(pct(float64(sum.fails) / float64(sum.runs)))
		}
		oc.P95Today = oc.P95Ms[n-1]
		if c.Type == "metric" {
			oc.IsMetric = true
			for _, tag := range c.Tags {
				if tag == ThroughputTag {
					oc.Throughput = dailyMeans(ctx, src, c.Name, ds, n)
				}
			}
		}
		o.Checks = append(o.Checks, oc)
	}
	return o, nil
}

// MetClass is the CSS class of a target's outcome: ok, crit, or none
// without data.
func MetClass(v *bool) string {
	switch {
	case v == nil:
		return "none"
	case *v:
		return "ok"
	}
	return "crit"
}

// FormatMs writes a latency in milliseconds as the digest does; "–" for nil.
func FormatMs(v *float64) string { return fmtMsP(v) }

// Formatters of the dashboards' templates: the digest's, "–" for nil.
var DashFuncs = map[string]any{
	"pct":      fmtPctP,
	"rate":     fmtRate,
	"ms":       fmtMsP,
	"seconds":  fmtSecP,
	"number":   fmtNumP,
	"minutes":  fmtMinutes,
	"change":   fmtChange,
	"metClass": MetClass,
}
