package report

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/pulse-monitor/pulse/pkg/ui"
)

// statusNow is the end of the fixture's day, 22:00Z, ten minutes after the
// last results.
var statusNow = fixDay1

func TestStatusNumbers(t *testing.T) {
	f := newFixture(t)
	s, err := BuildStatus(context.Background(), f.st, f.cfg, statusNow)
	if err != nil {
		t.Fatal(err)
	}
	if s.Checks != (StateCounts{Total: 4, OK: 3, Pending: 1}) {
		t.Errorf("counts = %+v", s.Checks)
	}
	if s.OpenIncidents != (SeverityCounts{P3: 1}) {
		t.Errorf("open incidents = %+v", s.OpenIncidents)
	}
	names := []string{}
	for _, r := range s.Rows {
		names = append(names, r.Name+":"+r.State)
	}
	if got := strings.Join(names, " "); got != "api:ok db:ok orders:ok never-ran:pending" {
		t.Errorf("rows = %s", got)
	}
	row := func(name string) *CheckStatus {
		for i := range s.Rows {
			if s.Rows[i].Name == name {
				return &s.Rows[i]
			}
		}
		t.Fatalf("no row %s", name)
		return nil
	}
	api, db, never := row("api"), row("db"), row("never-ran")
	// 24 hourly rollups, the current (empty) one included: 23:00Z the day
	// before to 22:00Z, 23 of them with 6 runs of api.
	apiRuns := int64(23 * 6)
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"api runs 24h", float64(api.Runs24h), float64(apiRuns)},
		{"api failures 24h", float64(api.Failures24h), 3},
		{"api uptime 24h", val(api.Uptime24h), round(float64(apiRuns-3)/float64(apiRuns)*100, 4)},
		{"api uptime 30d", val(api.Uptime30d), round((282.0-3)/282*100, 4)},
		{"api last latency", val(api.LastLatencyMs), 120},
		{"api last run age", val(api.LastRunAgeS), 600},
		{"api sparkline hours", float64(len(api.LatencyHourly)), SparkHours},
		{"db uptime 24h", val(db.Uptime24h), round(71.0/72*100, 4)},
		{"db incident", float64(db.Incident.ID), 3},
		{"db incident age", db.Incident.AgeS, 7200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !near(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if never.LastRun != nil || never.Uptime24h != nil || never.Incident != nil {
		t.Errorf("never-ran = %+v", never)
	}
	if val(api.LatencyHourly[0]) != 120 || api.LatencyHourly[SparkHours-1] != nil {
		t.Errorf("api sparkline = %v", api.LatencyHourly)
	}
	k := map[string]KPI{}
	for _, x := range s.KPIs {
		k[x.Name] = x
	}
	if v := k["sql_latency"]; val(v.Value24h) != round((71*20.0+150)/72, 3) || v.Met24h == nil || !*v.Met24h || v.Target != 100 {
		t.Errorf("sql latency KPI = %+v", v)
	}
	if v := k["availability"]; v.Met24h == nil || *v.Met24h || v.Met30d == nil || *v.Met30d {
		t.Errorf("availability KPI = %+v; both windows miss 99.9", v)
	}
	if v := k["http_latency"]; val(v.Value30d) <= 100 || !*v.Met30d {
		t.Errorf("http latency KPI = %+v", v)
	}
	if s.ErrorBudget.LeftMinutes >= s.ErrorBudget.AllowedMinutes || s.ErrorBudget.BurnRate24h == nil || *s.ErrorBudget.BurnRate24h < 1 {
		t.Errorf("error budget = %+v", s.ErrorBudget)
	}
}

func TestStatusGolden(t *testing.T) {
	f := newFixture(t)
	s, err := BuildStatus(context.Background(), f.st, f.cfg, statusNow)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	golden(t, "status.json", b.String())
	golden(t, "status.txt", s.Text(ui.NewStyles(false), StatusTextOptions{}))
	golden(t, "status-80.txt", s.Text(ui.NewStyles(false), StatusTextOptions{Width: 80}))
	golden(t, "status-by-tag.txt", s.Text(ui.NewStyles(false), StatusTextOptions{Width: 80, ByTag: true}))

	d, err := BuildCheckDetail(context.Background(), f.st, s, "db", 5, statusNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Results) != 5 || len(d.Incidents) != 1 || d.Results[0].Start.After(statusNow) {
		t.Errorf("detail: %d results, %d incidents", len(d.Results), len(d.Incidents))
	}
	golden(t, "status-check.txt", d.Text(ui.NewStyles(false), f.cfg.Agent.Location))
	if _, err := BuildCheckDetail(context.Background(), f.st, s, "nope", 5, statusNow); err == nil {
		t.Error("no error for an unknown check")
	}
}

func TestStatusFitsWidth(t *testing.T) {
	f := newFixture(t)
	s, err := BuildStatus(context.Background(), f.st, f.cfg, statusNow)
	if err != nil {
		t.Fatal(err)
	}
	full := s.Text(ui.NewStyles(false), StatusTextOptions{})
	if maxWidth(full) <= 80 {
		t.Fatalf("the unlimited table is only %d wide; the test needs one wider than 80", maxWidth(full))
	}
	for _, w := range []int{120, 100, 80} {
		for _, color := range []bool{false, true} {
			out := s.Text(ui.NewStyles(color), StatusTextOptions{Width: w})
			if got := maxWidth(out); got > w {
				t.Errorf("width %d (colour %v): a line is %d wide:\n%s", w, color, got, out)
			}
			if !strings.Contains(out, "never-ran") || !strings.Contains(out, "pending") {
				t.Errorf("width %d dropped the name or state column", w)
			}
		}
	}
}

func maxWidth(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		n = max(n, lipgloss.Width(l))
	}
	return n
}
