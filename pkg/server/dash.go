package server

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// The dashboards: /dash/executive and /dash/operations, server-rendered
// pages with inline SVG charts and no script, behind the same token as the
// status page; and POST /api/v1/annotations, which puts deploy markers on
// their time axes. Their days are UTC days, the days of the daily rollups.

// DashStore is what the dashboards and annotations read and write besides
// Store; *store.Store implements it.
type DashStore interface {
	report.DashSource
	EachDailyRollup(ctx context.Context, from, to time.Time, fn func(r *store.Rollup) error) error
	EachDailyCount(ctx context.Context, from, to time.Time, fn func(r *store.Rollup) error) error
	Annotations(ctx context.Context, from, to time.Time) ([]store.Annotation, error)
	AddAnnotation(ctx context.Context, a store.Annotation) (int64, error)
	Silences(ctx context.Context, now time.Time) ([]store.Silence, error)
}

var _ DashStore = (*store.Store)(nil)

const (
	// maxAnnotationBody caps POST /api/v1/annotations (a 1,000-character
	// message is at most 4 kB of UTF-8, 6 kB escaped in JSON).
	maxAnnotationBody = 8 << 10
	// DeployTag is the annotation tag drawn on the operations dashboard's
	// time axes.
	DeployTag = "deploy"
	// dayDone is when a UTC day's rollups are final: an hour after its end,
	// as the status page's cache and CompactRollups count it.
	dayDone = time.Hour
	// partialTTL is how long today's daily trend point is reused: the pages
	// refresh every minute, and a day's p95 moves little within one. The
	// checks' states and the KPIs are read at each render.
	partialTTL = time.Minute
)

//go:embed dash.html.tmpl
var dashSource string

var dashTmpl = template.Must(template.New("dash").Funcs(report.DashFuncs).Parse(dashSource))

// dashState caches the dashboards' finished days and rendered pages.
type dashState struct {
	mu sync.Mutex
	// days are the finished UTC days by start (unix s), each indexed by the
	// check's index in names (shorter when checks were added later).
	days  map[int64][]report.DayStat
	names []string       // the checks of days, by index
	ids   map[string]int // index in names
	// partial are the days not finished yet (today; yesterday in its grace
	// hour) as read at partialAt, reused for partialTTL.
	partial   map[int64][]report.DayStat
	partialAt time.Time
	// edge is the hours of the 30-day Totals before its first whole day,
	// hours long finished, kept for the hour they stay the edge.
	edge      map[string]store.Rollup
	edgeFrom  time.Time
	edgeUntil time.Time
	pages     map[string]cachedPage
	values    map[valueKey]cachedValues // metric checks' finished days
}

// checkID is name's index in s.dash.names, added when new.
func (st *dashState) checkID(name string) int {
	id, ok := st.ids[name]
	if !ok {
		if st.ids == nil {
			st.ids = map[string]int{}
		}
		id = len(st.names)
		st.ids[name] = id
		st.names = append(st.names, name)
	}
	return id
}

type valueKey struct {
	check string
	from  int64
}

type cachedValues struct {
	through time.Time // first day not in vals
	vals    []store.DayValue
}

// valueSource is ds with DailyValues of finished days cached in s.dash
// (whose lock the caller holds): 30 days of a metric check every minute
// are 43,200 results to average, and only today's change.
type valueSource struct {
	DashStore
	s   *Server
	now time.Time
}

func (v valueSource) DailyValues(ctx context.Context, check string, from, to time.Time) ([]store.DayValue, error) {
	done := report.DashFirstDay(v.now.Add(-dayDone), 1) // days before it are finished
	if !from.Before(done) || to.Before(done) {
		return v.DashStore.DailyValues(ctx, check, from, to)
	}
	st := &v.s.dash
	if st.values == nil {
		st.values = map[valueKey]cachedValues{}
	}
	k := valueKey{check, from.Unix()}
	e, ok := st.values[k]
	if !ok || e.through.Before(done) {
		vals, err := v.DashStore.DailyValues(ctx, check, from, done)
		if err != nil {
			return nil, err
		}
		for old := range st.values {
			if old.check == check {
				delete(st.values, old)
			}
		}
		e = cachedValues{through: done, vals: vals}
		st.values[k] = e
	}
	rest, err := v.DashStore.DailyValues(ctx, check, e.through, to)
	if err != nil {
		return nil, err
	}
	return append(slices.Clip(e.vals), rest...), nil
}

// prefetchValues reads, on a connection of its own while the render reads
// the days, the finished days of the metric checks' trends that page will
// ask valueSource for and has not cached (every one, the first render after
// a start: 30 days of raw values each, a third of a cold render). The
// function returned waits for the reads and caches what they got; s.dash.mu
// is held throughout. A failed read is left to the render, which reads
// again and reports it.
func (s *Server) prefetchValues(ctx context.Context, ds DashStore, cfg *config.Config, page string, now time.Time) func() {
	from := report.DashFirstDay(now, report.OpsDays) // dailyMeans' 30 days (ExecDash.MetricDays, OpsDays)
	done := report.DashFirstDay(now.Add(-dayDone), 1)
	if !from.Before(done) {
		return func() {}
	}
	var want []string
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		if !c.IsEnabled() {
			continue
		}
		if page == "executive" && !report.IsBusinessMetric(c) || page != "executive" && (c.Type != "metric" || !slices.Contains(c.Tags, report.ThroughputTag)) {
			continue
		}
		if e, ok := s.dash.values[valueKey{c.Name, from.Unix()}]; ok && !e.through.Before(done) {
			continue
		}
		want = append(want, c.Name)
	}
	if len(want) == 0 {
		return func() {}
	}
	got := make([][]store.DayValue, len(want))
	ok := make([]bool, len(want))
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for i, check := range want {
			vals, err := ds.DailyValues(ctx, check, from, done)
			got[i], ok[i] = vals, err == nil
		}
	}()
	return func() {
		<-finished
		st := &s.dash
		if st.values == nil {
			st.values = map[valueKey]cachedValues{}
		}
		for i, check := range want {
			if !ok[i] {
				continue
			}
			for old := range st.values {
				if old.check == check {
					delete(st.values, old)
				}
			}
			st.values[valueKey{check, from.Unix()}] = cachedValues{through: done, vals: got[i]}
		}
	}
}

type cachedPage struct {
	body []byte
	at   time.Time
	cfg  *config.Config
}

func (s *Server) dashStore(w http.ResponseWriter) (DashStore, bool) {
	ds, ok := s.o.Store.(DashStore)
	if !ok {
		http.Error(w, "this store has no dashboards", http.StatusNotImplemented)
	}
	return ds, ok
}

// handleDash serves the dashboard name ("executive" or "operations"),
// rendered at most every pageTTL like the status page.
func (s *Server) handleDash(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ds, ok := s.dashStore(w)
		if !ok {
			return
		}
		cfg, now := s.o.Config(), s.o.Now()
		s.dash.mu.Lock()
		defer s.dash.mu.Unlock()
		p := s.dash.pages[name]
		if p.body == nil || p.cfg != cfg || now.Sub(p.at) >= pageTTL || now.Before(p.at) {
			b, err := s.renderDash(r.Context(), ds, name, cfg, now)
			if err != nil {
				s.fail(w, "render "+name+" dashboard", err)
				return
			}
			if s.dash.pages == nil {
				s.dash.pages = map[string]cachedPage{}
			}
			p = cachedPage{body: b, at: now, cfg: cfg}
			s.dash.pages[name] = p
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		w.Write(p.body)
	}
}

// renderDash builds a dashboard; s.dash.mu is held.
func (s *Server) renderDash(ctx context.Context, ds DashStore, name string, cfg *config.Config, now time.Time) ([]byte, error) {
	install := s.prefetchValues(ctx, ds, cfg, name, now)
	ds = valueSource{DashStore: ds, s: s, now: now}
	// The days are read beside BuildStatus, whose 30-day totals wait for
	// them (totalsSource.ready).
	var (
		stats    *report.DailyStats
		statsErr error
	)
	ready := make(chan struct{})
	go func() {
		defer close(ready)
		stats, statsErr = s.dailyStats(ctx, ds, now)
	}()
	st, err := report.BuildStatus(ctx, totalsSource{DashStore: ds, s: s, now: now, ready: ready}, cfg, now)
	<-ready
	install()
	if statsErr != nil {
		return nil, statsErr
	}
	if err != nil {
		return nil, err
	}
	var data any
	switch name {
	case "executive":
		e, err := report.BuildExecDash(ctx, ds, cfg, st, stats, now)
		if err != nil {
			return nil, err
		}
		data = execView(cfg, e, now)
	default:
		o, err := report.BuildOpsDash(ctx, ds, cfg, st, stats)
		if err != nil {
			return nil, err
		}
		v, err := s.opsView(ctx, ds, cfg, o, now)
		if err != nil {
			return nil, err
		}
		data = v
	}
	var buf bytes.Buffer
	if err := dashTmpl.ExecuteTemplate(&buf, name, data); err != nil {
		return nil, fmt.Errorf("%s dashboard template: %w", name, err)
	}
	return buf.Bytes(), nil
}

// dailyStats is every check's last report.DashDays UTC days. Finished days
// are read once and kept (a few MB for 1,000 checks × 90 days); the days
// from the first one not cached are read in one pass. Only the last
// report.OpsDays days carry every field; the older ones carry Runs and
// Failures, all the executive dashboard's 90 days need: reading the rest
// (latency, histograms, quantiles) of 60 more days was a third of a cold
// render.
func (s *Server) dailyStats(ctx context.Context, ds DashStore, now time.Time) (*report.DailyStats, error) {
	n := report.DashDays
	first := report.DashFirstDay(now, n)
	out := &report.DailyStats{First: first, Days: n, ByCheck: map[string][]report.DayStat{}}
	st := &s.dash
	if st.days == nil {
		st.days = map[int64][]report.DayStat{}
	}
	for k := range st.days {
		if k < first.Unix() {
			delete(st.days, k)
		}
	}
	days := make([][]report.DayStat, n)
	quantiles := n - report.OpsDays // first day with P50 and P95
	miss := n
	partialOK := !now.Before(st.partialAt) && now.Sub(st.partialAt) < partialTTL
	for i := range n {
		if m, ok := st.days[out.DayStart(i).Unix()]; ok {
			days[i] = m
		} else if m, ok := st.partial[out.DayStart(i).Unix()]; ok && partialOK {
			days[i] = m
		} else if miss == n {
			miss = i
		}
	}
	if miss < n {
		for i := miss; i < n; i++ {
			days[i] = make([]report.DayStat, len(st.names))
		}
		// The days before quantiles and the others are read at once, on
		// two connections (a cold render reads all 90): each read fills
		// its own days and takes idMu to number a check.
		var idMu sync.Mutex
		adder := func() func(r *store.Rollup) error {
			last, id := "", 0
			return func(r *store.Rollup) error {
				i := int(r.Hour.Sub(first) / (24 * time.Hour))
				if i < miss || i >= n {
					return nil
				}
				if r.Check != last || last == "" {
					idMu.Lock()
					last, id = r.Check, st.checkID(r.Check)
					idMu.Unlock()
				}
				for len(days[i]) <= id {
					days[i] = append(days[i], report.DayStat{})
				}
				if i >= quantiles {
					days[i][id] = report.DayStatOf(r)
				} else {
					days[i][id] = report.DayCountsOf(r)
				}
				return nil
			}
		}
		var countErr error
		var wg sync.WaitGroup
		if miss < quantiles {
			wg.Go(func() { countErr = ds.EachDailyCount(ctx, out.DayStart(miss), out.DayStart(quantiles), adder()) })
		}
		err := ds.EachDailyRollup(ctx, out.DayStart(max(miss, quantiles)), out.DayStart(n), adder())
		wg.Wait()
		if err == nil {
			err = countErr
		}
		if err != nil {
			return nil, err
		}
		st.partial, st.partialAt = map[int64][]report.DayStat{}, now
		for i := miss; i < n; i++ {
			if !now.Before(out.DayStart(i + 1).Add(dayDone)) {
				st.days[out.DayStart(i).Unix()] = days[i]
			} else {
				st.partial[out.DayStart(i).Unix()] = days[i]
			}
		}
	}
	// One slice of n days per check that has a day. A day cached while it
	// was among the last OpsDays keeps its latency: drop it, so that the
	// stats are the same however the days were read.
	for id, name := range st.names {
		var v []report.DayStat
		for i, m := range days {
			if id < len(m) && m[id] != (report.DayStat{}) {
				if v == nil {
					v = make([]report.DayStat, n)
					out.ByCheck[name] = v
				}
				v[i] = m[id]
				if i < quantiles {
					v[i] = report.DayStat{Runs: v[i].Runs, Failures: v[i].Failures}
				}
			}
		}
	}
	return out, nil
}

// totalsSource is ds with Totals summed from the dashboards' finished days
// (s.dash, whose lock the caller holds, after dailyStats at now): BuildStatus
// reads each check's last 30 days with it, which read alone cost a fifth of
// a render. The result is the store's Totals: the same rows summed, the
// whole days before the first unfinished one from the cache, the hours
// before the first whole day (cached while they are the edge) and from the
// first unfinished day on from the store.
type totalsSource struct {
	DashStore
	s   *Server
	now time.Time
	// ready, when not nil, is closed when dailyStats is done with s.dash:
	// the days are summed after it, the store read before.
	ready <-chan struct{}
}

func (t totalsSource) Totals(ctx context.Context, from, to time.Time) (map[string]store.Rollup, error) {
	st := &t.s.dash
	h0 := time.Unix(ceilDiv(from.Unix(), 3600)*3600, 0)
	a1 := time.Unix(ceilDiv(h0.Unix(), 86400)*86400, 0) // first whole day
	done := report.DashFirstDay(t.now.Add(-dayDone), 1) // days before it are finished
	// Only days with every field (the last OpsDays, see dailyStats) sum.
	if !to.Equal(t.now) || !a1.Before(done) || a1.Before(report.DashFirstDay(t.now, report.OpsDays)) {
		return t.DashStore.Totals(ctx, from, to)
	}
	// dailyStats does not touch the edge.
	if st.edge == nil || !st.edgeFrom.Equal(h0) || !st.edgeUntil.Equal(a1) {
		edge, err := t.DashStore.Totals(ctx, h0, a1)
		if err != nil {
			return nil, err
		}
		st.edge, st.edgeFrom, st.edgeUntil = edge, h0, a1
	}
	rest, err := t.DashStore.Totals(ctx, done, to)
	if err != nil {
		return nil, err
	}
	if t.ready != nil {
		<-t.ready
	}
	var days [][]report.DayStat
	for d := a1; d.Before(done); d = d.Add(24 * time.Hour) {
		m, ok := st.days[d.Unix()]
		if !ok { // dailyStats failed
			return t.DashStore.Totals(ctx, from, to)
		}
		days = append(days, m)
	}
	sums := make([]store.Rollup, len(st.names))
	has := make([]bool, len(st.names))
	for _, m := range days {
		for id := range m {
			if d := &m[id]; *d != (report.DayStat{}) {
				r := &sums[id]
				r.Runs += d.Runs
				r.Failures += d.Failures
				r.Warn += d.Warn
				r.Crit += d.Crit
				r.LatencySum += d.LatencySum
				r.LatencyMax = max(r.LatencyMax, d.LatencyMax)
				has[id] = true
			}
		}
	}
	out := make(map[string]store.Rollup, len(st.names))
	for id, name := range st.names {
		if has[id] {
			sums[id].Check = name
			out[name] = sums[id]
		}
	}
	for _, part := range []map[string]store.Rollup{st.edge, rest} {
		for name, p := range part {
			r, ok := out[name]
			if !ok {
				r = store.Rollup{Check: name}
			}
			r.Runs += p.Runs
			r.Failures += p.Failures
			r.Warn += p.Warn
			r.Crit += p.Crit
			r.LatencySum += p.LatencySum
			r.LatencyMax = max(r.LatencyMax, p.LatencyMax)
			out[name] = r
		}
	}
	for name, r := range out {
		r.Hour = h0
		out[name] = r
	}
	return out, nil
}

// ceilDiv is ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}

// Views: what the templates print. Charts are SVG built by pkg/report,
// which escapes every text it draws.

type kpiView struct {
	Name, Target, Day, Month string
	DayClass, MonthClass     string
}

type groupView struct {
	report.GroupAvailability
	Chart template.HTML
}

type metricView struct {
	report.MetricTrend
	Chart template.HTML
}

type execPage struct {
	Title, Updated, FirstDay, LastDay string
	Target                            float64
	KPIs                              []kpiView
	Budget                            report.Budget
	Groups                            []groupView
	Untagged                          int
	Metrics                           []metricView
	Weeks                             []weekView
	Opened                            report.SeverityCounts
	MTTA, MTTR                        *float64
	TimeChart, CountChart             template.HTML
	Checks                            report.StateCounts
}

type weekView struct {
	report.WeekIncidents
	Label string
	Total int
}

func execView(cfg *config.Config, e *report.ExecDash, now time.Time) *execPage {
	st := e.Status
	v := &execPage{Title: dashTitle(cfg, "Executive dashboard"), Updated: now.UTC().Format("2006-01-02 15:04 UTC"),
		Target: cfg.Targets.Availability, Budget: st.ErrorBudget, Untagged: e.Untagged,
		Opened: e.Opened90d, MTTA: e.MTTA90d, MTTR: e.MTTR90d, Checks: st.Checks}
	for _, k := range st.KPIs {
		v.KPIs = append(v.KPIs, kpiOf(k))
	}
	for _, g := range e.Groups {
		if len(g.Daily) > 0 {
			v.FirstDay, v.LastDay = g.Daily[0].Start.Format("2 Jan"), g.Daily[len(g.Daily)-1].Start.Format("2 Jan")
		}
		v.Groups = append(v.Groups, groupView{GroupAvailability: g,
			Chart: template.HTML(report.AvailabilityChart(g.Daily, cfg.Targets.Availability, 450, 28, "availability of "+g.Name+" by day", "Mon 2 Jan 2006"))})
	}
	for _, m := range e.Metrics {
		v.Metrics = append(v.Metrics, metricView{MetricTrend: m,
			Chart: template.HTML(report.LineChart(240, 28, "daily mean of "+m.Name, ui.Number, []report.Series{{Name: m.Name, Values: m.Daily}}, nil))})
	}
	mtta, mttr := make([]*float64, len(e.Weeks)), make([]*float64, len(e.Weeks))
	counts, titles := make([]int, len(e.Weeks)), make([]string, len(e.Weeks))
	for i, w := range e.Weeks {
		v.Weeks = append(v.Weeks, weekView{WeekIncidents: w, Label: w.Start.Format("2 Jan"), Total: w.Opened.Total()})
		mtta[i], mttr[i] = minutes(w.MTTASeconds), minutes(w.MTTRSeconds)
		counts[i] = w.Opened.Total()
		titles[i] = fmt.Sprintf("week of %s: %d opened (P1 %d, P2 %d, P3 %d, P4 %d)", w.Start.Format("2 Jan"), counts[i], w.Opened.P1, w.Opened.P2, w.Opened.P3, w.Opened.P4)
	}
	v.CountChart = template.HTML(report.CountChart(counts, titles, 380, 60, "incidents opened per week"))
	v.TimeChart = template.HTML(report.LineChart(420, 60, "MTTA and MTTR by week, minutes", func(f float64) string { return ui.Number(f) + " min" },
		[]report.Series{{Name: "MTTA", Color: report.ColP50, Values: mtta}, {Name: "MTTR", Color: report.ColP95, Values: mttr}}, nil))
	return v
}

func minutes(s *float64) *float64 {
	if s == nil {
		return nil
	}
	m := *s / 60
	return &m
}

func kpiOf(k report.KPI) kpiView {
	return kpiView{Name: strings.ReplaceAll(k.Name, "_", " "), Target: k.Format(&k.Target), Day: k.Format(k.Value24h), Month: k.Format(k.Value30d),
		DayClass: report.MetClass(k.Met24h), MonthClass: report.MetClass(k.Met30d)}
}

func dashTitle(cfg *config.Config, what string) string {
	if t := cfg.Agent.StatusPageTitle; t != "" {
		return t + " · " + what
	}
	return what
}

type opsCheckView struct {
	report.OpsCheck
	Age        string
	Chart      template.HTML
	Throughput template.HTML
	Incident   string
}

type annotationView struct {
	At, Tag, Message, Author string
	Deploy                   bool
}

type windowView struct {
	Schedule, Duration, Checks, When string
	Title                            string // of an announced window
	Active                           bool
}

type silenceView struct {
	ID                         int64
	Pattern, Until, By, Reason string
}

type incidentView struct {
	ID                             int64
	Severity, Check, Status, Since string
	For, Message                   string
}

type opsPage struct {
	Title, Updated, FirstDay, LastDay string
	Checks                            []opsCheckView
	Counts                            report.StateCounts
	Incidents                         []incidentView
	Silences                          []silenceView
	Windows                           []windowView
	Annotations                       []annotationView
	Deploys                           int
	Timeline                          template.HTML
}

func (s *Server) opsView(ctx context.Context, ds DashStore, cfg *config.Config, o *report.OpsDash, now time.Time) (*opsPage, error) {
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.UTC
	}
	const stamp = "2006-01-02 15:04 MST"
	v := &opsPage{Title: dashTitle(cfg, "Operations dashboard"), Updated: now.UTC().Format("2006-01-02 15:04 UTC"),
		FirstDay: o.First.Format("2 Jan"), LastDay: o.First.Add(time.Duration(o.Days-1) * 24 * time.Hour).Format("2 Jan"),
		Counts: o.Status.Checks}
	anns, err := ds.Annotations(ctx, o.First, now.Add(time.Minute))
	if err != nil {
		return nil, err
	}
	var markers []report.Marker
	for i := len(anns) - 1; i >= 0; i-- { // newest first
		a := &anns[i]
		av := annotationView{At: a.At.In(loc).Format(stamp), Tag: a.Tag, Message: ui.Safe(a.Message), Author: ui.Safe(a.Author), Deploy: a.Tag == DeployTag}
		v.Annotations = append(v.Annotations, av)
		if av.Deploy {
			v.Deploys++
			title := "deploy " + av.At
			if av.Message != "" {
				title += ": " + av.Message
			}
			markers = append(markers, report.Marker{Pos: float64(a.At.Sub(o.First)) / float64(24*time.Hour), Title: title})
		}
	}
	label := func(f float64) string { return report.FormatMs(&f) }
	for _, c := range o.Checks {
		cv := opsCheckView{OpsCheck: c, Age: "never"}
		cv.Message = ui.Safe(c.Message)
		if c.LastRunAgeS != nil {
			cv.Age = ui.Elapsed(time.Duration(*c.LastRunAgeS)*time.Second) + " ago"
		}
		if c.Incident != nil {
			cv.Incident = fmt.Sprintf("#%d %s", c.Incident.ID, c.Incident.Severity)
		}
		cv.Chart = template.HTML(report.LineChart(260, 32, "p50 and p95 latency of "+c.Name+" by day", label,
			[]report.Series{{Name: "p50", Color: report.ColP50, Values: c.P50Ms}, {Name: "p95", Color: report.ColP95, Values: c.P95Ms}}, markers))
		if c.Throughput != nil {
			cv.Throughput = template.HTML(report.LineChart(160, 32, "throughput of "+c.Name+" by day", ui.Number,
				[]report.Series{{Name: "throughput", Values: c.Throughput}}, markers))
		}
		v.Checks = append(v.Checks, cv)
	}
	// A timeline of the 30 days with every deploy, above the table.
	v.Timeline = template.HTML(report.LineChart(600, 24, "deploys over the last 30 days", func(float64) string { return "" },
		[]report.Series{{Values: make([]*float64, o.Days)}}, markers)) // no line: the slots place the markers

	open, err := ds.OpenIncidents(ctx)
	if err != nil {
		return nil, err
	}
	for i := range open {
		in := &open[i]
		v.Incidents = append(v.Incidents, incidentView{ID: in.ID, Severity: in.Severity, Check: in.Check, Status: in.Status,
			Since: in.OpenedAt.In(loc).Format(stamp), For: ui.Elapsed(now.Sub(in.OpenedAt)), Message: ui.Safe(in.Message)})
	}
	sls, err := ds.Silences(ctx, now)
	if err != nil {
		return nil, err
	}
	for _, sl := range sls {
		v.Silences = append(v.Silences, silenceView{ID: sl.ID, Pattern: ui.Safe(sl.Pattern), Until: sl.Until.In(loc).Format(stamp), By: ui.Safe(sl.CreatedBy), Reason: ui.Safe(sl.Reason)})
	}
	for _, m := range cfg.Maintenance {
		wv := windowView{Schedule: m.Schedule, Duration: m.Duration.String(), Checks: ui.Safe(strings.Join(m.Checks, ", ")), Title: ui.Safe(m.Title)}
		switch start, active, err := alert.WindowRun(&m, loc, now); {
		case err != nil:
			wv.When = "invalid schedule"
		case active:
			wv.Active, wv.When = true, "now, until "+start.Add(m.Duration.D()).In(loc).Format(stamp)
		case !start.IsZero():
			wv.When = "next " + start.In(loc).Format(stamp)
		}
		v.Windows = append(v.Windows, wv)
	}
	return v, nil
}

// annotationRequest is the body of POST /api/v1/annotations.
type annotationRequest struct {
	Tag     string     `json:"tag"`
	Message string     `json:"message"`
	Author  string     `json:"author"`
	At      *time.Time `json:"at"` // RFC 3339; default now
}

type annotationResponse struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Tag     string    `json:"tag"`
	Message string    `json:"message"`
	Author  string    `json:"author"`
}

// handleAddAnnotation stores an annotation. It is a write, so unlike the
// pages it needs [agent].listen_token to be set: 401 without a token, 403
// with a wrong one (or when none is configured), 400 for a body that is not
// the JSON above or fields the store refuses, 413 past maxAnnotationBody,
// 201 with the annotation stored.
func (s *Server) handleAddAnnotation(w http.ResponseWriter, r *http.Request) {
	token := s.o.Config().Agent.ListenToken.Reveal()
	if !hasCredentials(r) {
		w.Header().Add("WWW-Authenticate", `Bearer realm="pulse"`)
		http.Error(w, "unauthorized: send the listen_token as a bearer token", http.StatusUnauthorized)
		return
	}
	if token == "" {
		http.Error(w, "forbidden: set [agent].listen_token to accept annotations", http.StatusForbidden)
		return
	}
	if !tokenOK(r, token) {
		http.Error(w, "forbidden: wrong token", http.StatusForbidden)
		return
	}
	ds, ok := s.dashStore(w)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxAnnotationBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var req annotationRequest
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("body larger than %d bytes", maxAnnotationBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "bad JSON: want {\"tag\": \"deploy\", \"message\": \"...\", \"author\": \"...\", \"at\": \"RFC 3339\"}: "+err.Error(), http.StatusBadRequest)
		return
	}
	if dec.More() {
		http.Error(w, "bad JSON: one object only", http.StatusBadRequest)
		return
	}
	a := store.Annotation{At: s.o.Now(), Tag: req.Tag, Message: req.Message, Author: req.Author}
	if req.At != nil {
		a.At = *req.At
	}
	if a.Author == "" {
		a.Author = "api"
	}
	id, err := ds.AddAnnotation(r.Context(), a)
	if errors.Is(err, store.ErrInvalidAnnotation) {
		http.Error(w, strings.TrimPrefix(err.Error(), store.ErrInvalidAnnotation.Error()+": "), http.StatusBadRequest)
		return
	}
	if errors.Is(err, store.ErrReadOnly) {
		http.Error(w, "annotation not stored: the database is read-only", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		s.fail(w, "add annotation", err)
		return
	}
	// A new deploy marker shows at once, not after the page's TTL.
	s.dash.mu.Lock()
	clear(s.dash.pages)
	s.dash.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(annotationResponse{ID: id, At: a.At.UTC(), Tag: a.Tag, Message: a.Message, Author: a.Author})
}

// hasCredentials reports whether r carries a bearer token or basic auth.
func hasCredentials(r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") && strings.TrimSpace(h[7:]) != "" {
		return true
	}
	_, _, ok := r.BasicAuth()
	return ok
}
