package server

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

const (
	// PageDays is how many days of uptime bars the status page shows.
	PageDays = 90
	// perCheckBarsMax is the number of public checks up to which each check
	// gets its own bars; past it only tag groups do, to keep the page light
	// on a phone.
	perCheckBarsMax = 50
	barWidth        = 4 // SVG units; bars are barWidth+1 apart
	// pastIncidentsMax is how many past incidents of the checks shown the
	// page lists (newest first).
	pastIncidentsMax = 500
)

//go:embed page.html.tmpl
var pageSource string

var pageTmpl = template.Must(template.New("page").Parse(pageSource))

// pageData is what the status page template renders.
type pageData struct {
	Title        string
	Overall      string
	OverallClass string
	Updated      string
	FirstDay     string
	SVGWidth     int
	Groups       []pageGroup
	Flat         bool // no tags: checks without group headers
	Incidents    []pageIncident
	Maintenance  []pageMaintenance
	Past         []pagePast // resolved in the last PageDays days, newest first
	PastMore     int        // past incidents beyond pastIncidentsMax, not shown
	Subscribe    bool       // the email subscription form (subscribe.go)
}

// pageUpdate is one public update of an incident, its message rendered
// from markdown by report.Markdown (safe HTML).
type pageUpdate struct {
	ID     int64
	Status string
	At     string
	HTML   template.HTML
}

// pageMaintenance is an announced run of a [[maintenance]] window, in
// progress or ahead (alert.Announcements).
type pageMaintenance struct {
	Title      string
	When       string
	InProgress bool
	HTML       template.HTML // the message, markdown rendered safely
}

// pagePast is a resolved incident of the history, with its public updates
// and its public postmortem.
type pagePast struct {
	ID           int64
	Severity     string
	Check        string
	Opened       string
	Lasted       string
	Updates      []pageUpdate
	Postmortem   template.HTML // "" when none is public
	PostmortemAt string
}

type pageGroup struct {
	Name   string
	Class  string
	Words  string
	Uptime string
	Bars   []bar
	Checks []pageCheck
}

type pageCheck struct {
	Name        string
	Description string
	Class       string
	Words       string
	Uptime      string
	Bars        []bar // nil when only groups have bars
	Locations   []pageLocation
}

// pageLocation is one location of a check with locations.
type pageLocation struct {
	Name  string
	Class string // a state; stale shows as pending
	Words string // "ok 120ms", "stale 5m", "no result"
}

type pageIncident struct {
	ID       int64
	Severity string
	Check    string
	Status   string
	Since    string
	For      string
	Updates  []pageUpdate // public ones, newest first
}

type bar struct {
	X     int
	Class string
	Title string
}

// mdCache keeps what report.Markdown made of the sources the last page
// showed: updates and postmortems rarely change, and rendering hundreds of
// them is most of a page's cost. A source not shown by a render is dropped
// at its end (done), so the cache holds one page's worth.
type mdCache struct {
	mu        sync.Mutex
	cur, next map[string]template.HTML
}

func (c *mdCache) render(src string) template.HTML {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		c.next = map[string]template.HTML{}
	}
	h, ok := c.cur[src]
	if !ok {
		h = report.Markdown(src)
	}
	c.next[src] = h
	return h
}

// done ends a render: what it did not use is forgotten.
func (c *mdCache) done() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cur, c.next = c.next, nil
}

// dayKey identifies one calendar day of one time zone.
type dayKey struct {
	loc   string
	start int64
}

// dayCache keeps the per-check totals of finished days: the status page
// sums 90 days of rollups, of which only today changes.
type dayCache struct {
	mu      sync.Mutex
	entries map[dayKey]map[string]store.Rollup
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	cfg := s.o.Config()
	now := s.o.Now()
	s.pageMu.Lock()
	defer s.pageMu.Unlock()
	if s.page == nil || s.pageFrom != cfg || now.Sub(s.pageAt) >= pageTTL || now.Before(s.pageAt) {
		b, err := s.renderPage(r.Context(), cfg, now)
		if err != nil {
			s.fail(w, "render status page", err)
			return
		}
		s.page, s.pageAt, s.pageFrom = b, now, cfg
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	// Everything is inline: forbid any other source, scripts included.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.Write(s.page)
}

// renderPage builds the status page of cfg's public checks.
func (s *Server) renderPage(ctx context.Context, cfg *config.Config, now time.Time) ([]byte, error) {
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.UTC
	}
	st, err := s.buildStatus(ctx, cfg)
	if err != nil {
		return nil, err
	}
	rows := make(map[string]*report.CheckStatus, len(st.Rows))
	for i := range st.Rows {
		rows[st.Rows[i].Name] = &st.Rows[i]
	}
	days, err := s.lastDays(ctx, loc, now)
	if err != nil {
		return nil, err
	}
	target := cfg.Targets.Availability

	var public []*config.Check
	tagged := false
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		if c.OnStatusPage() {
			public = append(public, c)
			tagged = tagged || len(c.Tags) > 0
		}
	}
	perCheck := len(public) <= perCheckBarsMax
	d := pageData{
		Title:     cfg.Agent.StatusPageTitle,
		Updated:   now.In(loc).Format("2006-01-02 15:04:05 MST"),
		FirstDay:  days[0].label,
		SVGWidth:  PageDays*(barWidth+1) - 1,
		Flat:      !tagged,
		Subscribe: emailSignup(cfg),
	}
	if d.Title == "" {
		d.Title = "Status"
	}
	groupIdx := map[string]int{}
	var groupSums [][]store.Rollup
	states := make([]string, 0, len(public))
	for _, c := range public {
		g := "Other"
		if len(c.Tags) > 0 {
			g = c.Tags[0]
		}
		if !tagged {
			g = ""
		}
		gi, ok := groupIdx[g]
		if !ok {
			gi = len(d.Groups)
			groupIdx[g] = gi
			d.Groups = append(d.Groups, pageGroup{Name: g, Class: "pending"})
			groupSums = append(groupSums, make([]store.Rollup, PageDays))
		}
		state := report.StatePending
		var locs []pageLocation
		if row := rows[c.Name]; row != nil {
			state = row.State
			locs = pageLocations(row.Locations)
		}
		states = append(states, state)
		var sum store.Rollup
		var cbars []bar
		if perCheck {
			cbars = make([]bar, PageDays)
		}
		for i := range days {
			r := days[i].totals[c.Name]
			sum.Merge(&r)
			groupSums[gi][i].Merge(&r)
			if perCheck {
				cbars[i] = dayBar(i, days[i].label, &r, target)
			}
		}
		grp := &d.Groups[gi]
		if report.StateRank(state) < report.StateRank(grp.Class) {
			grp.Class = state
		}
		grp.Checks = append(grp.Checks, pageCheck{
			Name: c.Name, Description: c.Description, Class: state, Words: stateWords(state),
			Uptime: report.UptimeText(&sum), Bars: cbars, Locations: locs,
		})
	}
	for gi := range d.Groups {
		grp := &d.Groups[gi]
		grp.Words = stateWords(grp.Class)
		var sum store.Rollup
		grp.Bars = make([]bar, PageDays)
		for i := range days {
			sum.Merge(&groupSums[gi][i])
			grp.Bars[i] = dayBar(i, days[i].label, &groupSums[gi][i], target)
		}
		grp.Uptime = report.UptimeText(&sum)
	}
	d.Overall, d.OverallClass = report.OverallState(states)

	open, err := s.o.Store.OpenIncidents(ctx)
	if err != nil {
		return nil, err
	}
	shown := make(map[string]bool, len(public))
	for _, c := range public {
		shown[c.Name] = true
	}
	var openIDs []int64
	for i := range open {
		if shown[open[i].Check] {
			openIDs = append(openIDs, open[i].ID)
		}
	}
	openUps, err := s.o.Store.UpdatesOf(ctx, openIDs, true)
	if err != nil {
		return nil, err
	}
	for i := range open {
		in := &open[i]
		if !shown[in.Check] {
			continue
		}
		d.Incidents = append(d.Incidents, pageIncident{
			ID: in.ID, Severity: in.Severity, Check: in.Check, Status: in.Status,
			Since:   in.OpenedAt.In(loc).Format("2006-01-02 15:04 MST"),
			For:     ui.Elapsed(now.Sub(in.OpenedAt)),
			Updates: s.pageUpdates(openUps[in.ID], loc),
		})
	}
	for _, an := range alert.Announcements(cfg, now) {
		d.Maintenance = append(d.Maintenance, pageMaintenance{Title: an.Title, When: an.When(loc),
			InProgress: !now.Before(an.Start), HTML: s.md.render(an.Message)})
	}
	past, more, err := s.o.Store.PastIncidents(ctx, now.AddDate(0, 0, -PageDays), pastIncidentsMax, func(check string) bool { return shown[check] })
	if err != nil {
		return nil, err
	}
	d.PastMore = more
	for i := range past {
		p := &past[i]
		pp := pagePast{ID: p.ID, Severity: p.Severity, Check: p.Check,
			Opened:  p.OpenedAt.In(loc).Format("2006-01-02 15:04 MST"),
			Lasted:  ui.Elapsed(p.ResolvedAt.Sub(p.OpenedAt)),
			Updates: s.pageUpdates(p.Updates, loc)}
		if p.Postmortem != nil {
			pp.Postmortem = s.md.render(p.Postmortem.Body)
			pp.PostmortemAt = p.Postmortem.WrittenAt.In(loc).Format("2006-01-02")
		}
		d.Past = append(d.Past, pp)
	}
	s.md.done()
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, d); err != nil {
		return nil, fmt.Errorf("status page template: %w", err)
	}
	return buf.Bytes(), nil
}

// pageUpdates are the page's view of ups (oldest first), newest first.
func (s *Server) pageUpdates(ups []store.Update, loc *time.Location) []pageUpdate {
	out := make([]pageUpdate, len(ups))
	for i, u := range ups {
		out[len(ups)-1-i] = pageUpdate{ID: u.ID, Status: statusWords(u.Status),
			At: u.At.In(loc).Format("2006-01-02 15:04 MST"), HTML: s.md.render(u.Message)}
	}
	return out
}

// day is one calendar day of the bars.
type day struct {
	label  string
	totals map[string]store.Rollup
}

// lastDays returns the PageDays days up to today in loc, oldest first, with
// each check's totals. Finished days come from the cache after their first
// read; a day counts as finished an hour after its end, when late results of
// its last checks have surely been rolled up.
func (s *Server) lastDays(ctx context.Context, loc *time.Location, now time.Time) ([]day, error) {
	y, m, dd := now.In(loc).Date()
	first := time.Date(y, m, dd-(PageDays-1), 0, 0, 0, 0, loc)
	out := make([]day, PageDays)
	s.days.mu.Lock()
	defer s.days.mu.Unlock()
	for k := range s.days.entries {
		if k.loc != loc.String() || k.start < first.Unix() {
			delete(s.days.entries, k)
		}
	}
	for i := range out {
		start := time.Date(y, m, dd-(PageDays-1)+i, 0, 0, 0, 0, loc)
		end := time.Date(y, m, dd-(PageDays-1)+i+1, 0, 0, 0, 0, loc)
		out[i].label = start.Format("Mon 2 Jan 2006")
		key := dayKey{loc: loc.String(), start: start.Unix()}
		if t, ok := s.days.entries[key]; ok {
			out[i].totals = t
			continue
		}
		t, err := s.o.Store.Totals(ctx, start, end)
		if err != nil {
			return nil, err
		}
		out[i].totals = t
		if !now.Before(end.Add(time.Hour)) {
			s.days.entries[key] = t
		}
	}
	return out, nil
}

// dayBar is the bar of day i: its colour says how the day's availability
// compares with the target; its tooltip gives the numbers.
func dayBar(i int, label string, r *store.Rollup, target float64) bar {
	b := bar{X: i * (barWidth + 1)}
	b.Class = report.UptimeState(r, target)
	if b.Class == report.UptimeNoData {
		b.Title = label + ": no data"
		return b
	}
	b.Title = fmt.Sprintf("%s: %s up · %d of %d runs ok", label, report.UptimePercent(r.Availability()*100), r.Runs-r.Failures, r.Runs)
	if r.Failures > 0 {
		b.Title += fmt.Sprintf(" (%d warn, %d crit, %d unknown)", r.Warn, r.Crit, r.Failures-r.Warn-r.Crit)
	}
	b.Title += fmt.Sprintf(" · avg %s, max %s", ui.Latency(r.Mean()), ui.Latency(r.LatencyMax))
	return b
}

func pageLocations(ls []report.LocationStatus) []pageLocation {
	out := make([]pageLocation, 0, len(ls))
	for _, l := range ls {
		class := report.LocationState(l)
		if class == "stale" {
			class = report.StatePending
		}
		out = append(out, pageLocation{Name: l.Location, Class: class, Words: report.LocationWords(l)})
	}
	return out
}
