package report

import (
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// LocationStatus is one location of a check with locations, from the
// latest result of its copy (NAME@LOCATION) in `pulse status --json`.
type LocationStatus struct {
	Location      string     `json:"location"`
	State         string     `json:"state"` // its latest result's state; pending before any
	Fresh         bool       `json:"fresh"` // within two intervals: counted by the verdict
	Message       string     `json:"message"`
	LastRun       *time.Time `json:"last_run"`
	LastRunAgeS   *float64   `json:"last_run_age_s"`
	LastLatencyMs *float64   `json:"last_latency_ms"`
}

// locationStatuses is each location of c as its copy last ran.
func locationStatuses(c *config.Check, last map[string]*store.CheckRow, now time.Time) []LocationStatus {
	if !c.HasLocations() {
		return nil
	}
	in := make([]alert.LocationInput, len(c.Locations))
	for i, loc := range c.Locations {
		in[i].Location = loc
		if row := last[config.CopyName(c.Name, loc)]; row != nil && !row.Last.Start.IsZero() {
			in[i].Recent = []checks.Result{row.Last}
		}
	}
	out := make([]LocationStatus, 0, len(in))
	for i, l := range alert.Locations(in, alert.Period(c, now), 1, now) {
		ls := LocationStatus{Location: l.Location, State: StatePending, Fresh: l.Fresh}
		if l.Has {
			r := in[i].Recent[0]
			t := r.Start.UTC()
			ls.State, ls.Message, ls.LastRun = l.Latest.String(), r.Message, &t
			ls.LastRunAgeS = ptr(round(max(0, l.Age.Seconds()), 0))
			ls.LastLatencyMs = ptr(ms(r.Duration))
		}
		out = append(out, ls)
	}
	return out
}

// LocationsSummary is a check's locations on one line:
// "fra ok 120ms · nyc crit 2.0s · sgp stale 5m · lon no result".
func LocationsSummary(ls []LocationStatus) string {
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, ui.Safe(l.Location)+" "+LocationWords(l))
	}
	return strings.Join(parts, " · ")
}

// LocationWords is a location's state and latency ("ok 120ms"), or why
// the verdict does not count it ("stale 5m", "no result").
func LocationWords(l LocationStatus) string {
	switch {
	case l.LastRun == nil:
		return "no result"
	case !l.Fresh:
		return "stale " + ui.Approx(time.Duration(*l.LastRunAgeS)*time.Second)
	}
	return l.State + " " + fmtMsP(l.LastLatencyMs)
}

// LocationState is the state a location shows: its latest, or "stale".
func LocationState(l LocationStatus) string {
	if l.LastRun != nil && !l.Fresh {
		return "stale"
	}
	return l.State
}

// locationRow is the status table's line of one location, under its
// check's: its state, its name indented, when it last ran and its latency.
func locationRow(cols []statusCol, l LocationStatus) []cell {
	r := make([]cell, len(cols))
	for j, col := range cols {
		switch col.head {
		case "STATE":
			if st := LocationState(l); st == "stale" {
				r[j] = cell{text: ui.Symbol("unknown") + " stale", tone: faint}
			} else {
				r[j] = stateCell(st)
			}
		case "CHECK":
			r[j] = cell{text: "  @" + l.Location, tone: faint}
		case "LAST":
			switch {
			case l.LastRunAgeS == nil:
				r[j] = cell{text: "–", tone: faint}
			case *l.LastRunAgeS < 1:
				r[j] = c("now")
			default:
				r[j] = c(ui.Duration(time.Duration(*l.LastRunAgeS)*time.Second) + " ago")
			}
		case "LATENCY":
			r[j] = c(fmtMsP(l.LastLatencyMs))
		default:
			r[j] = c("")
		}
	}
	return r
}
