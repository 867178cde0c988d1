package report

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// Digest kinds.
const (
	Daily  = "daily"
	Weekly = "weekly"
)

// slowestN is how many checks the "slowest checks" list shows.
const slowestN = 5

// Digest is the daily or weekly report: a value that renders to text,
// markdown, html and json. Percentages are percent, latencies milliseconds,
// MTTA/MTTR seconds.
type Digest struct {
	Kind        string    `json:"kind"` // daily | weekly
	Title       string    `json:"title"`
	Date        string    `json:"date"`     // first day, YYYY-MM-DD
	EndDate     string    `json:"end_date"` // last day (== date for a daily digest)
	Timezone    string    `json:"timezone"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Hours       int       `json:"hours"` // 23 or 25 on a daylight-saving day
	Agent       string    `json:"agent"`
	GeneratedAt time.Time `json:"generated_at"`

	Summary    Executive            `json:"summary"`
	Checks     []CheckPeriod        `json:"checks"`
	Operations Operations           `json:"operations"`
	Metrics    []MetricPeriod       `json:"business_metrics"`
	P4         []Incident           `json:"p4_incidents"`
	Incidents  []Incident           `json:"incidents"` // every incident active in the period
	Changes    []Change             `json:"changes"`
	Failed     []FailedNotification `json:"failed_notifications"`
	// Postmortems are those written in the period (pulse incidents
	// postmortem), oldest first.
	Postmortems []DigestPostmortem `json:"postmortems"`
}

// DigestPostmortem is a postmortem written in the digest's period.
type DigestPostmortem struct {
	IncidentID int64     `json:"incident_id"`
	Check      string    `json:"check"`
	Severity   string    `json:"severity"`
	Title      string    `json:"title"` // its first line, without markdown heading marks
	Author     string    `json:"author"`
	WrittenAt  time.Time `json:"written_at"`
	Public     bool      `json:"public"`
	// URL is where the status page shows it: public ones with
	// [agent].public_url only.
	URL string `json:"url,omitempty"`
}

// maxPostmortemTitle bounds a postmortem's title in the digest.
const maxPostmortemTitle = 100

// PostmortemTitle is the first non-empty line of a markdown body without
// heading marks and emphasis, at most maxPostmortemTitle characters.
func PostmortemTitle(body string) string {
	for line := range strings.Lines(body) {
		t := strings.Trim(strings.TrimSpace(line), "#*_ \t")
		if t == "" {
			continue
		}
		if r := []rune(t); len(r) > maxPostmortemTitle {
			t = string(r[:maxPostmortemTitle-1]) + "…"
		}
		return t
	}
	return "(untitled)"
}

func toPostmortems(pms []store.WrittenPostmortem, publicURL string) []DigestPostmortem {
	base := strings.TrimRight(publicURL, "/")
	out := make([]DigestPostmortem, len(pms))
	for i, p := range pms {
		out[i] = DigestPostmortem{IncidentID: p.IncidentID, Check: p.Check, Severity: p.Severity, Title: PostmortemTitle(p.Body),
			Author: p.Author, WrittenAt: p.WrittenAt.UTC(), Public: p.Public}
		if p.Public && base != "" {
			out[i].URL = fmt.Sprintf("%s/#incident-%d", base, p.IncidentID)
		}
	}
	return out
}

// Executive is the digest's executive summary.
type Executive struct {
	Availability       *float64       `json:"availability"` // mean over checks with runs
	AvailabilityTarget float64        `json:"availability_target"`
	AvailabilityMet    *bool          `json:"availability_met"`
	ErrorRate          *float64       `json:"error_rate"`
	ErrorRateTarget    float64        `json:"error_rate_target"`
	ErrorRateMet       *bool          `json:"error_rate_met"`
	Runs               int64          `json:"runs"`
	Failures           int64          `json:"failures"`
	ChecksMissed       int            `json:"checks_missed"` // checks below the availability target
	ErrorBudget        Budget         `json:"error_budget"`  // the 30 days ending with the period
	Opened             SeverityCounts `json:"incidents_opened"`
	Resolved           int            `json:"incidents_resolved"`
	OpenAtEnd          int            `json:"incidents_open_at_end"`
	MTTASeconds        *float64       `json:"mtta_s"`
	MTTRSeconds        *float64       `json:"mttr_s"`
}

// CheckPeriod is one check over the digest's period.
type CheckPeriod struct {
	Name            string   `json:"name"`
	Kind            string   `json:"kind"`
	Runs            int64    `json:"runs"`
	Failures        int64    `json:"failures"`
	Warn            int64    `json:"warn"`
	Crit            int64    `json:"crit"`
	Availability    *float64 `json:"availability"`
	AvailabilityMet *bool    `json:"availability_met"`
	ErrorRate       *float64 `json:"error_rate"`
	MeanMs          *float64 `json:"mean_ms"`
	P50Ms           *float64 `json:"p50_ms"`
	P95Ms           *float64 `json:"p95_ms"`
	MaxMs           *float64 `json:"max_ms"`
	LatencyTargetMs *float64 `json:"latency_target_ms"` // expect.latency, else [targets] by kind
	LatencyMet      *bool    `json:"latency_met"`       // mean within the target
	// Hourly has one bucket per hour of the period (23, 24, 25 or 168).
	Hourly []Bucket `json:"hourly"`
	// Locations are a check with locations' copies over the period, one
	// per location (Name is the location, no Hourly); absent otherwise.
	Locations []CheckPeriod `json:"locations,omitempty"`
}

// Bucket is one hour of one check.
type Bucket struct {
	Start        time.Time `json:"start"`
	Runs         int64     `json:"runs"`
	Failures     int64     `json:"failures"`
	Availability *float64  `json:"availability"`
	MeanMs       *float64  `json:"mean_ms"`
}

// Operations is the technical section.
type Operations struct {
	Slowest    []string `json:"slowest"`     // names, by p95, slowest first
	ErrorRates []string `json:"error_rates"` // names of checks with failures, worst first
	SQL        []string `json:"sql"`         // names of sql checks, slowest first
	SQLTarget  float64  `json:"sql_target_ms"`
	HTTPTarget float64  `json:"http_target_ms"`
}

// MetricPeriod is a business metric over the period and against its baseline.
type MetricPeriod struct {
	Name     string    `json:"name"`
	Samples  int       `json:"samples"`
	Min      *float64  `json:"min"`
	Avg      *float64  `json:"avg"`
	Max      *float64  `json:"max"`
	Last     *float64  `json:"last"`
	Compare  string    `json:"compare"`      // how far back the baseline is ("1d", "7d")
	Baseline *float64  `json:"baseline_avg"` // average over the period that far back
	Change   *float64  `json:"change_pct"`   // avg against baseline, percent
	Values   []float64 `json:"-"`            // for the sparkline
}

// Change is one thing that differs from the period before.
type Change struct {
	Check  string `json:"check"`
	What   string `json:"what"` // new_failures | recovered | new_check | no_data | slower | faster
	Before string `json:"before"`
	After  string `json:"after"`
}

// DigestOptions choose the digest's period.
type DigestOptions struct {
	Kind string // Daily (default) or Weekly
	// Date is the day of a daily digest, the last day of a weekly one;
	// default yesterday in [agent].timezone.
	Date string
	Now  time.Time
}

// BuildDigest reads the digest of a day or week from src. Hourly rollups
// cover everything but business metrics, which read their raw values.
func BuildDigest(ctx context.Context, src Source, cfg *config.Config, o DigestOptions) (*Digest, error) {
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.UTC
	}
	kind, days := Daily, 1
	if o.Kind == Weekly {
		kind, days = Weekly, 7
	} else if o.Kind != "" && o.Kind != Daily {
		return nil, fmt.Errorf("unknown digest kind %q", o.Kind)
	}
	end := o.Date
	if end == "" {
		end = Yesterday(o.Now, loc)
	}
	first, err := AddDays(end, -(days - 1))
	if err != nil {
		return nil, err
	}
	from, to, err := Days(first, days, loc)
	if err != nil {
		return nil, err
	}
	prevFirst, _ := AddDays(first, -days)
	prevFrom, _, _ := Days(prevFirst, days, loc)

	d := &Digest{
		Kind: kind, Date: first, EndDate: end, Timezone: loc.String(),
		From: from.UTC(), To: to.UTC(), Hours: int(to.Sub(from) / time.Hour),
		Agent: cfg.Agent.Name, GeneratedAt: o.Now.UTC(),
		Checks: []CheckPeriod{}, Metrics: []MetricPeriod{}, P4: []Incident{}, Incidents: []Incident{},
		Changes: []Change{}, Failed: []FailedNotification{},
	}
	d.Title = "pulse digest " + first
	if kind == Weekly {
		d.Title = "pulse weekly digest " + first + " to " + end
	}

	budgetFrom := to.Add(-BudgetWindow)
	month, err := src.Totals(ctx, budgetFrom, to)
	if err != nil {
		return nil, err
	}
	rows, err := src.Checks(ctx)
	if err != nil {
		return nil, err
	}
	rawIncs, err := src.IncidentsBetween(ctx, from, to)
	if err != nil {
		return nil, err
	}
	incs := toIncidents(rawIncs)
	failed, err := src.NotificationFailures(ctx, from, to)
	if err != nil {
		return nil, err
	}
	d.Failed = append(d.Failed, toFailures(failed)...)
	pms, err := src.PostmortemsWritten(ctx, from, to)
	if err != nil {
		return nil, err
	}
	d.Postmortems = toPostmortems(pms, cfg.Agent.PublicURL)

	type acc struct{ cur, prev, last24 store.Rollup }
	per := map[string]*acc{}
	hourly := map[string][]Bucket{}
	last24 := to.Add(-24 * time.Hour)
	err = src.EachRollup(ctx, prevFrom, to, func(r *store.Rollup) error {
		a := per[r.Check]
		if a == nil {
			a = &acc{}
			per[r.Check] = a
		}
		// On a 23-hour day the last 24 hours start in the day before.
		if !r.Hour.Before(last24) {
			a.last24.Merge(r)
		}
		if r.Hour.Before(from) {
			a.prev.Merge(r)
			return nil
		}
		a.cur.Merge(r)
		b := hourly[r.Check]
		if b == nil {
			b = make([]Bucket, d.Hours)
			for h := range b {
				b[h].Start = from.Add(time.Duration(h) * time.Hour).UTC()
			}
			hourly[r.Check] = b
		}
		if h := int(r.Hour.Sub(from) / time.Hour); h >= 0 && h < len(b) {
			b[h].Runs += r.Runs
			b[h].Failures += r.Failures
			if r.Runs > 0 {
				b[h].Availability = ptr(pct(r.Availability()))
				b[h].MeanMs = ptr(ms(r.Mean()))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	firstSeen := map[string]time.Time{}
	for _, r := range rows {
		firstSeen[r.Name] = r.FirstSeen
	}

	t := cfg.Targets
	var curs, lasts, months []*store.Rollup
	var oldest time.Time
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		a := per[c.Name]
		if a == nil {
			a = &acc{}
		}
		if !c.IsEnabled() && a.cur.Runs == 0 {
			continue
		}
		cp := checkPeriod(c, &a.cur, t)
		cp.Hourly = hourly[c.Name]
		if cp.Hourly == nil {
			cp.Hourly = make([]Bucket, d.Hours)
			for h := range cp.Hourly {
				cp.Hourly[h].Start = from.Add(time.Duration(h) * time.Hour).UTC()
			}
		}
		for _, loc := range c.Locations {
			la := per[config.CopyName(c.Name, loc)]
			if la == nil {
				la = &acc{}
			}
			lp := checkPeriod(c, &la.cur, t)
			lp.Name, lp.Hourly = loc, nil
			cp.Locations = append(cp.Locations, lp)
		}
		d.Checks = append(d.Checks, cp)
		if a.cur.Runs > 0 {
			curs = append(curs, &a.cur)
			if cp.AvailabilityMet != nil && !*cp.AvailabilityMet {
				d.Summary.ChecksMissed++
			}
		}
		if a.last24.Runs > 0 {
			lasts = append(lasts, &a.last24)
		}
		if m, ok := month[c.Name]; ok && m.Runs > 0 {
			months = append(months, &m)
			if fs := firstSeen[c.Name]; oldest.IsZero() || fs.Before(oldest) {
				oldest = fs
			}
		}
		d.Changes = append(d.Changes, changes(c.Name, &a.prev, &a.cur)...)
		if isBusinessMetric(c) {
			mp, err := metricPeriod(ctx, src, c, from, to, days)
			if err != nil {
				return nil, err
			}
			d.Metrics = append(d.Metrics, mp)
		}
	}

	s := &d.Summary
	s.AvailabilityTarget, s.ErrorRateTarget = t.Availability, t.ErrorRate
	if av, ok := MeanAvailability(curs); ok {
		s.Availability, s.AvailabilityMet = ptr(pct(av)), ptr(av*100 >= t.Availability)
	}
	all := Overall(curs)
	s.Runs, s.Failures = all.Runs, all.Failures
	if all.Runs > 0 {
		e := ErrorRate(&all) * 100
		s.ErrorRate, s.ErrorRateMet = ptr(round(e, 4)), ptr(e <= t.ErrorRate)
	}
	a30, ok30 := MeanAvailability(months)
	a24, ok24 := MeanAvailability(lasts)
	var covered time.Duration
	if ok30 {
		covered = to.Sub(oldest)
	} else {
		a30 = 1
	}
	if !ok24 {
		a24 = 1
	}
	s.ErrorBudget = ErrorBudget(t.Availability, BudgetWindow, covered, 1-a30, 1-a24)

	for _, in := range incs {
		if !in.Active(from, to) {
			continue
		}
		d.Incidents = append(d.Incidents, in)
		if !in.OpenedAt.Before(from) {
			s.Opened.Add(in.Severity)
		}
		if !in.ResolvedAt.IsZero() && !in.ResolvedAt.Before(from) && in.ResolvedAt.Before(to) {
			s.Resolved++
		}
		if in.ResolvedAt.IsZero() || !in.ResolvedAt.Before(to) {
			s.OpenAtEnd++
		}
		if in.Severity == "P4" {
			d.P4 = append(d.P4, in)
		}
	}
	slices.SortFunc(d.Incidents, func(a, b Incident) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(d.P4, func(a, b Incident) int { return cmp.Compare(a.ID, b.ID) })
	if v, ok := MTTA(incs, from, to); ok {
		s.MTTASeconds = ptr(round(v.Seconds(), 0))
	}
	if v, ok := MTTR(incs, from, to); ok {
		s.MTTRSeconds = ptr(round(v.Seconds(), 0))
	}

	d.Operations = operations(d.Checks, t)
	return d, nil
}

func checkPeriod(c *config.Check, r *store.Rollup, t config.Targets) CheckPeriod {
	cp := CheckPeriod{Name: c.Name, Kind: c.Type, Runs: r.Runs, Failures: r.Failures, Warn: r.Warn, Crit: r.Crit}
	if lt := latencyTarget(c, t); lt > 0 {
		cp.LatencyTargetMs = ptr(ms(lt))
		if r.Runs > 0 {
			cp.LatencyMet = ptr(r.Mean() <= lt)
		}
	}
	if r.Runs == 0 {
		return cp
	}
	av := r.Availability()
	cp.Availability, cp.AvailabilityMet = ptr(pct(av)), ptr(av*100 >= t.Availability)
	cp.ErrorRate = ptr(pct(ErrorRate(r)))
	cp.MeanMs, cp.P50Ms, cp.P95Ms, cp.MaxMs = ptr(ms(r.Mean())), ptr(ms(r.P(0.5))), ptr(ms(r.P(0.95))), ptr(ms(r.LatencyMax))
	return cp
}

// latencyTarget is the check's own expect.latency, else the [targets] key
// of its kind; 0 when there is none.
func latencyTarget(c *config.Check, t config.Targets) time.Duration {
	if lat := c.Expected().Latency; lat > 0 {
		return lat.D()
	}
	switch {
	case c.Type == "http", c.Type == "metric" && c.Source == "http":
		return t.HTTPLatency.D()
	case c.Type == "sql", c.Type == "metric" && c.Source == "sql":
		return t.SQLLatency.D()
	}
	return 0
}

// IsBusinessMetric reports whether c is a business metric: the digest's
// metrics section, the executive dashboard's trends.
func IsBusinessMetric(c *config.Check) bool { return isBusinessMetric(c) }

// isBusinessMetric: metric checks, and sql checks with thresholds (a number
// the business watches, like failed payments).
func isBusinessMetric(c *config.Check) bool {
	return c.Type == "metric" || (c.Type == "sql" && (c.WarnIf.IsSet() || c.CritIf.IsSet()))
}

func metricPeriod(ctx context.Context, src Source, c *config.Check, from, to time.Time, days int) (MetricPeriod, error) {
	back := c.Compare.D()
	if back <= 0 {
		back = time.Duration(days) * 24 * time.Hour
	}
	mp := MetricPeriod{Name: c.Name, Compare: config.Duration(back).String()}
	res, err := src.Results(ctx, c.Name, from, to, 0)
	if err != nil {
		return mp, err
	}
	var sum float64
	for i := range res {
		r := &res[i]
		if !r.HasValue {
			continue
		}
		mp.Values = append(mp.Values, r.Value)
		if mp.Samples == 0 || r.Value < *mp.Min {
			mp.Min = ptr(r.Value)
		}
		if mp.Samples == 0 || r.Value > *mp.Max {
			mp.Max = ptr(r.Value)
		}
		mp.Last = ptr(r.Value)
		sum += r.Value
		mp.Samples++
	}
	if mp.Samples == 0 {
		return mp, nil
	}
	mp.Avg = ptr(round(sum/float64(mp.Samples), 4))
	// The baseline is the same span of wall-clock time back, so a 23-hour
	// DST day compares with the 23 hours before it shifted by a day.
	base, err := src.Results(ctx, c.Name, from.Add(-back), to.Add(-back), 0)
	if err != nil {
		return mp, err
	}
	var bsum float64
	bn := 0
	for i := range base {
		if base[i].HasValue {
			bsum += base[i].Value
			bn++
		}
	}
	if bn > 0 {
		b := bsum / float64(bn)
		mp.Baseline = ptr(round(b, 4))
		if b != 0 {
			mp.Change = ptr(round((sum/float64(mp.Samples)-b)/math.Abs(b)*100, 2))
		}
	}
	return mp, nil
}

// changes lists what differs for one check between the period before and
// this one.
func changes(name string, prev, cur *store.Rollup) []Change {
	var out []Change
	switch {
	case prev.Runs == 0 && cur.Runs > 0:
		return []Change{{Check: name, What: "new_check", Before: "no runs", After: fmt.Sprintf("%d runs", cur.Runs)}}
	case prev.Runs > 0 && cur.Runs == 0:
		return []Change{{Check: name, What: "no_data", Before: fmt.Sprintf("%d runs", prev.Runs), After: "no runs"}}
	case cur.Runs == 0:
		return nil
	}
	switch {
	case prev.Failures == 0 && cur.Failures > 0:
		out = append(out, Change{Check: name, What: "new_failures", Before: "0 failures", After: fmt.Sprintf("%d failures (%s)", cur.Failures, fmtPct(pct(cur.Availability())))})
	case prev.Failures > 0 && cur.Failures == 0:
		out = append(out, Change{Check: name, What: "recovered", Before: fmt.Sprintf("%d failures (%s)", prev.Failures, fmtPct(pct(prev.Availability()))), After: "0 failures"})
	}
	// Latency moves worth a line: p95 up by half or down by a third, and by
	// more than a millisecond (sub-millisecond jitter is noise).
	p, c := prev.P(0.95), cur.P(0.95)
	if p > 0 && c-p > time.Millisecond && float64(c) >= 1.5*float64(p) {
		out = append(out, Change{Check: name, What: "slower", Before: "p95 " + fmtMs(ms(p)), After: "p95 " + fmtMs(ms(c))})
	} else if c > 0 && p-c > time.Millisecond && float64(c) <= float64(p)/1.5 {
		out = append(out, Change{Check: name, What: "faster", Before: "p95 " + fmtMs(ms(p)), After: "p95 " + fmtMs(ms(c))})
	}
	return out
}

func operations(cs []CheckPeriod, t config.Targets) Operations {
	o := Operations{Slowest: []string{}, ErrorRates: []string{}, SQL: []string{},
		SQLTarget: ms(t.SQLLatency.D()), HTTPTarget: ms(t.HTTPLatency.D())}
	idx := make([]int, 0, len(cs))
	for i := range cs {
		if cs[i].Runs > 0 {
			idx = append(idx, i)
		}
	}
	byP95 := slices.Clone(idx)
	slices.SortStableFunc(byP95, func(a, b int) int { return cmp.Compare(*cs[b].P95Ms, *cs[a].P95Ms) })
	for _, i := range byP95[:min(slowestN, len(byP95))] {
		o.Slowest = append(o.Slowest, cs[i].Name)
	}
	for _, i := range byP95 {
		if cs[i].Kind == "sql" {
			o.SQL = append(o.SQL, cs[i].Name)
		}
	}
	byErr := slices.Clone(idx)
	slices.SortStableFunc(byErr, func(a, b int) int { return cmp.Compare(*cs[b].ErrorRate, *cs[a].ErrorRate) })
	for _, i := range byErr {
		if cs[i].Failures > 0 {
			o.ErrorRates = append(o.ErrorRates, cs[i].Name)
		}
	}
	return o
}

// Check returns the digest's row of the check name.
func (d *Digest) Check(name string) *CheckPeriod {
	for i := range d.Checks {
		if d.Checks[i].Name == name {
			return &d.Checks[i]
		}
	}
	return nil
}
