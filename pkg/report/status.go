package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// SparkHours is how many hourly latency means a check's status carries (the
// current hour last).
const SparkHours = 24

// StatePending is the state of a configured check with no result yet.
const StatePending = "pending"

// Status is the document of `pulse status --json` and of the listener's
// /api/v1/status. Its field names are a public contract (README, "pulse
// status --json fields"): add fields, never rename them.
type Status struct {
	GeneratedAt   time.Time      `json:"generated_at"`
	Agent         string         `json:"agent"`
	Checks        StateCounts    `json:"checks"`
	OpenIncidents SeverityCounts `json:"open_incidents"`
	KPIs          []KPI          `json:"kpis"`
	ErrorBudget   Budget         `json:"error_budget"`
	Rows          []CheckStatus  `json:"check_status"`
}

// StateCounts counts checks by state.
type StateCounts struct {
	Total   int `json:"total"`
	OK      int `json:"ok"`
	Warn    int `json:"warn"`
	Crit    int `json:"crit"`
	Unknown int `json:"unknown"`
	Pending int `json:"pending"`
}

// KPI is one [targets] key measured over 24 hours and 30 days. Values are
// null without data, and so is met.
type KPI struct {
	Name     string   `json:"name"` // availability | error_rate | http_latency | sql_latency
	Unit     string   `json:"unit"` // percent | ms
	Target   float64  `json:"target"`
	Value24h *float64 `json:"value_24h"`
	Met24h   *bool    `json:"met_24h"`
	Value30d *float64 `json:"value_30d"`
	Met30d   *bool    `json:"met_30d"`
}

// Format writes a value of the KPI (its target, a window's value) in its
// unit; "–" for nil.
func (k KPI) Format(v *float64) string {
	switch {
	case k.Unit == "ms":
		return fmtMsP(v)
	case k.Name == "error_rate":
		return fmtRate(v)
	}
	return fmtPctP(v)
}

// CheckStatus is one check's row.
type CheckStatus struct {
	Name          string       `json:"name"`
	Kind          string       `json:"kind"`
	Tags          []string     `json:"tags"`
	State         string       `json:"state"` // ok | warn | crit | unknown | pending
	Message       string       `json:"message"`
	LastRun       *time.Time   `json:"last_run"`
	LastRunAgeS   *float64     `json:"last_run_age_s"`
	LastLatencyMs *float64     `json:"last_latency_ms"`
	Value         *float64     `json:"value"`
	P95Ms24h      *float64     `json:"p95_ms_24h"`
	Runs24h       int64        `json:"runs_24h"`
	Failures24h   int64        `json:"failures_24h"`
	Uptime24h     *float64     `json:"uptime_24h"` // percent
	Uptime30d     *float64     `json:"uptime_30d"`
	LatencyHourly []*float64   `json:"latency_hourly_ms"` // SparkHours means, oldest first; null: no run that hour
	Incident      *IncidentRef `json:"incident"`          // the open incident, if any
	// Locations are a check with locations' own: each location's latest
	// result (locations.go); absent for other checks.
	Locations []LocationStatus `json:"locations,omitempty"`
}

// IncidentRef is the open incident a status row shows.
type IncidentRef struct {
	ID       int64     `json:"id"`
	Severity string    `json:"severity"`
	Status   string    `json:"status"`
	OpenedAt time.Time `json:"opened_at"`
	AgeS     float64   `json:"age_s"`
}

// StateRank orders states worst first: crit, unknown, warn, ok, then
// anything else (pending).
func StateRank(s string) int {
	switch s {
	case "crit":
		return 0
	case "unknown":
		return 1
	case "warn":
		return 2
	case "ok":
		return 3
	}
	return 4 // pending
}

// BuildStatus reads the state of every enabled check of cfg from src. It
// reads the latest results, the hourly rollups of the last 24 hours and the
// 30-day totals summed in SQL: never raw results beyond the latest.
func BuildStatus(ctx context.Context, src StatusSource, cfg *config.Config, now time.Time) (*Status, error) {
	rows, err := src.Checks(ctx)
	if err != nil {
		return nil, err
	}
	h0 := now.Truncate(time.Hour).Add(-(SparkHours - 1) * time.Hour)
	// The last 24 hours, summed per check as they are read (the rollups
	// come by check, so d is looked up once per check).
	day := map[string]*store.Rollup{}
	spark := map[string][]*float64{}
	var d *store.Rollup
	err = src.EachRollup(ctx, h0, now, func(r *store.Rollup) error {
		if d == nil || d.Check != r.Check {
			if d = day[r.Check]; d == nil {
				d = &store.Rollup{Check: r.Check, Hour: h0}
				day[r.Check] = d
				spark[r.Check] = make([]*float64, SparkHours)
			}
		}
		d.Merge(r)
		if idx := int(r.Hour.Sub(h0) / time.Hour); idx >= 0 && idx < SparkHours && r.Runs > 0 {
			spark[r.Check][idx] = ptr(ms(r.Mean()))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m0 := now.Truncate(time.Hour).Add(-BudgetWindow + time.Hour)
	month, err := src.Totals(ctx, m0, now)
	if err != nil {
		return nil, err
	}
	rawOpen, err := src.OpenIncidents(ctx)
	if err != nil {
		return nil, err
	}
	open := toIncidents(rawOpen)

	last := make(map[string]*store.CheckRow, len(rows))
	for i := range rows {
		last[rows[i].Name] = &rows[i]
	}
	incByCheck := map[string]*Incident{}
	st := &Status{GeneratedAt: now.UTC(), Agent: cfg.Agent.Name}
	for i := range open {
		in := &open[i]
		st.OpenIncidents.Add(in.Severity)
		if cur := incByCheck[in.Check]; cur == nil || alert.SeverityRank(in.Severity) < alert.SeverityRank(cur.Severity) ||
			(in.Severity == cur.Severity && in.OpenedAt.After(cur.OpenedAt)) {
			incByCheck[in.Check] = in
		}
	}

	var (
		days, months         []*store.Rollup
		httpDay, httpMonth   []*store.Rollup
		sqlDay, sqlMonth     []*store.Rollup
		firstSeen            time.Time
		sinceFirst, haveData bool
	)
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		if !c.IsEnabled() {
			continue
		}
		cs := CheckStatus{Name: c.Name, Kind: c.Type, Tags: c.Tags, State: StatePending, LatencyHourly: make([]*float64, SparkHours)}
		if cs.Tags == nil {
			cs.Tags = []string{}
		}
		if row := last[c.Name]; row != nil {
			if !sinceFirst || row.FirstSeen.Before(firstSeen) {
				firstSeen, sinceFirst = row.FirstSeen, true
			}
			if !row.Last.Start.IsZero() {
				r := row.Last
				cs.State = r.State.String()
				cs.Message = r.Message
				t := r.Start.UTC()
				cs.LastRun = &t
				cs.LastRunAgeS = ptr(round(max(0, now.Sub(r.Start).Seconds()), 0))
				cs.LastLatencyMs = ptr(ms(r.Duration))
				if r.HasValue {
					cs.Value = ptr(r.Value)
				}
			}
		}
		if d := day[c.Name]; d != nil && d.Runs > 0 {
			cs.Runs24h, cs.Failures24h = d.Runs, d.Failures
			cs.Uptime24h = ptr(pct(d.Availability()))
			cs.P95Ms24h = ptr(ms(d.P(0.95)))
			cs.LatencyHourly = spark[c.Name]
			days = append(days, d)
			switch c.Type {
			case "http":
				httpDay = append(httpDay, d)
			case "sql":
				sqlDay = append(sqlDay, d)
			}
		}
		if m, ok := month[c.Name]; ok && m.Runs > 0 {
			cs.Uptime30d = ptr(pct(m.Availability()))
			months = append(months, &m)
			haveData = true
			switch c.Type {
			case "http":
				httpMonth = append(httpMonth, &m)
			case "sql":
				sqlMonth = append(sqlMonth, &m)
			}
		}
		cs.Locations = locationStatuses(c, last, now)
		if in := incByCheck[c.Name]; in != nil {
			cs.Incident = &IncidentRef{ID: in.ID, Severity: in.Severity, Status: in.Status, OpenedAt: in.OpenedAt.UTC(),
				AgeS: round(max(0, now.Sub(in.OpenedAt).Seconds()), 0)}
		}
		st.Checks.Total++
		switch cs.State {
		case "ok":
			st.Checks.OK++
		case "warn":
			st.Checks.Warn++
		case "crit":
			st.Checks.Crit++
		case "unknown":
			st.Checks.Unknown++
		default:
			st.Checks.Pending++
		}
		st.Rows = append(st.Rows, cs)
	}
	SortWorstFirst(st.Rows)

	t := cfg.Targets
	st.KPIs = []KPI{
		availabilityKPI(t.Availability, days, months),
		errorRateKPI(t.ErrorRate, days, months),
		latencyKPI("http_latency", t.HTTPLatency.D(), httpDay, httpMonth),
		latencyKPI("sql_latency", t.SQLLatency.D(), sqlDay, sqlMonth),
	}
	var covered time.Duration
	if haveData && sinceFirst {
		covered = now.Sub(firstSeen) // ErrorBudget caps it at the window
	}
	a30, _ := MeanAvailability(months)
	a24, ok24 := MeanAvailability(days)
	if !ok24 {
		a24 = 1
	}
	if !haveData {
		a30 = 1
	}
	st.ErrorBudget = ErrorBudget(t.Availability, BudgetWindow, covered, 1-a30, 1-a24)
	return st, nil
}

// SortWorstFirst orders rows crit, unknown, warn, ok, pending, then by name.
func SortWorstFirst(rows []CheckStatus) {
	slices.SortStableFunc(rows, func(a, b CheckStatus) int {
		if c := cmp.Compare(StateRank(a.State), StateRank(b.State)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
}

func availabilityKPI(target float64, day, month []*store.Rollup) KPI {
	k := KPI{Name: "availability", Unit: "percent", Target: target}
	if a, ok := MeanAvailability(day); ok {
		k.Value24h, k.Met24h = ptr(pct(a)), ptr(a*100 >= target)
	}
	if a, ok := MeanAvailability(month); ok {
		k.Value30d, k.Met30d = ptr(pct(a)), ptr(a*100 >= target)
	}
	return k
}

func errorRateKPI(target float64, day, month []*store.Rollup) KPI {
	k := KPI{Name: "error_rate", Unit: "percent", Target: target}
	if s := Overall(day); s.Runs > 0 {
		e := ErrorRate(&s) * 100
		k.Value24h, k.Met24h = ptr(round(e, 4)), ptr(e <= target)
	}
	if s := Overall(month); s.Runs > 0 {
		e := ErrorRate(&s) * 100
		k.Value30d, k.Met30d = ptr(round(e, 4)), ptr(e <= target)
	}
	return k
}

func latencyKPI(name string, target time.Duration, day, month []*store.Rollup) KPI {
	k := KPI{Name: name, Unit: "ms", Target: ms(target)}
	if s := Overall(day); s.Runs > 0 {
		k.Value24h, k.Met24h = ptr(ms(s.Mean())), ptr(s.Mean() <= target)
	}
	if s := Overall(month); s.Runs > 0 {
		k.Value30d, k.Met30d = ptr(ms(s.Mean())), ptr(s.Mean() <= target)
	}
	return k
}

// CheckDetail is `pulse status --check NAME`: one check's row, its recent
// results and its incidents of the last 30 days.
type CheckDetail struct {
	Check     CheckStatus `json:"check"`
	Results   []ResultRow `json:"results"`
	Incidents []Incident  `json:"incidents"`
}

// ResultRow is one stored result.
type ResultRow struct {
	Start     time.Time `json:"start"`
	LatencyMs float64   `json:"latency_ms"`
	State     string    `json:"state"`
	Message   string    `json:"message"`
	Value     *float64  `json:"value"`
}

// BuildCheckDetail reads check's row (from st), its limit latest results of
// the last 24 hours and its incidents of the last 30 days, newest first.
func BuildCheckDetail(ctx context.Context, src Source, st *Status, check string, limit int, now time.Time) (*CheckDetail, error) {
	d := &CheckDetail{Results: []ResultRow{}, Incidents: []Incident{}}
	found := false
	for _, r := range st.Rows {
		if r.Name == check {
			d.Check, found = r, true
		}
	}
	if !found {
		return nil, fmt.Errorf("no enabled check named %q in the config", check)
	}
	res, err := src.Results(ctx, check, now.Add(-24*time.Hour), now.Add(time.Second), limit)
	if err != nil {
		return nil, err
	}
	for i := len(res) - 1; i >= 0; i-- {
		d.Results = append(d.Results, resultRow(&res[i]))
	}
	incs, err := src.IncidentsBetween(ctx, now.Add(-BudgetWindow), now.Add(time.Second))
	if err != nil {
		return nil, err
	}
	for _, in := range toIncidents(incs) {
		if in.Check == check {
			d.Incidents = append(d.Incidents, in)
		}
	}
	slices.SortFunc(d.Incidents, func(a, b Incident) int { return b.OpenedAt.Compare(a.OpenedAt) })
	return d, nil
}

func resultRow(r *checks.Result) ResultRow {
	row := ResultRow{Start: r.Start.UTC(), LatencyMs: ms(r.Duration), State: r.State.String(), Message: r.Message}
	if r.HasValue {
		row.Value = ptr(r.Value)
	}
	return row
}
