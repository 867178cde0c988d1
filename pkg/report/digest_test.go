package report

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/ui"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-3 }

func val(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func TestDigestNumbers(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC) // 10:00 in Berlin
	d, err := BuildDigest(context.Background(), f.st, f.cfg, DigestOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if d.Date != "2026-03-29" || d.Hours != 23 || !d.From.Equal(fixDay0) || !d.To.Equal(fixDay1) {
		t.Fatalf("period = %s %dh %s..%s; want 2026-03-29 23h %s..%s", d.Date, d.Hours, d.From, d.To, fixDay0, fixDay1)
	}
	api, db, orders, never := d.Check("api"), d.Check("db"), d.Check("orders"), d.Check("never-ran")
	if api == nil || db == nil || orders == nil || never == nil {
		t.Fatalf("checks = %+v", d.Checks)
	}
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"api runs (23 hours × 6)", float64(api.Runs), 138},
		{"api failures", float64(api.Failures), 3},
		{"api availability", val(api.Availability), round(135.0/138*100, 4)},
		{"api error rate", val(api.ErrorRate), round(3.0/138*100, 4)},
		{"api max latency", val(api.MaxMs), 2000},
		{"api hourly buckets", float64(len(api.Hourly)), 23},
		{"api hour 08Z runs", float64(api.Hourly[9].Runs), 6},
		{"api hour 08Z failures", float64(api.Hourly[9].Failures), 3},
		{"db (added mid-day) runs", float64(db.Runs), 72},
		{"db availability", val(db.Availability), round(71.0/72*100, 4)},
		{"db mean latency", val(db.MeanMs), round((71*20.0+150)/72, 3)},
		{"db latency target (sql_latency)", val(db.LatencyTargetMs), 100},
		{"db hours before it was added are empty", float64(db.Hourly[10].Runs), 0},
		{"orders runs", float64(orders.Runs), 23},
		{"never-ran runs", float64(never.Runs), 0},
		{"overall availability (mean of checks)", val(d.Summary.Availability), round((135.0/138+71.0/72+1)/3*100, 4)},
		{"overall error rate (of runs)", val(d.Summary.ErrorRate), round(4.0/(138+72+23)*100, 4)},
		{"checks below target", float64(d.Summary.ChecksMissed), 2},
		{"opened P1", float64(d.Summary.Opened.P1), 1},
		{"opened P3", float64(d.Summary.Opened.P3), 1},
		{"opened P4 (opened the day before)", float64(d.Summary.Opened.P4), 0},
		{"resolved (incl. the one spanning midnight)", float64(d.Summary.Resolved), 2},
		{"open at end", float64(d.Summary.OpenAtEnd), 1},
		{"MTTA", val(d.Summary.MTTASeconds), 300},
		{"MTTR (45m and 60m)", val(d.Summary.MTTRSeconds), 52*60 + 30},
		{"budget allowed", d.Summary.ErrorBudget.AllowedMinutes, 43.2},
		{"budget used (47 h covered)", d.Summary.ErrorBudget.UsedMinutes, round((1-((282.0-3)/282+71.0/72+1)/3)*47*60, 2)},
		{"burn rate 24h", val(d.Summary.ErrorBudget.BurnRate24h), round((1-(141.0/144+71.0/72+1)/3)/0.001, 2)},
		{"orders min", val(d.Metrics[0].Min), 40},
		{"orders avg", val(d.Metrics[0].Avg), round((22*80.0+40)/23, 4)},
		{"orders max", val(d.Metrics[0].Max), 80},
		{"orders last", val(d.Metrics[0].Last), 80},
		{"orders baseline (1d ago)", val(d.Metrics[0].Baseline), 100},
		{"orders change", val(d.Metrics[0].Change), round(((22*80.0+40)/23-100)/100*100, 2)},
		{"P4 incidents", float64(len(d.P4)), 1},
		{"incidents active", float64(len(d.Incidents)), 3},
		{"failed notifications", float64(len(d.Failed)), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !near(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	wantChanges := map[string]string{"api": "new_failures", "db": "new_check"}
	if len(d.Changes) != len(wantChanges) {
		t.Errorf("changes = %+v; want %v", d.Changes, wantChanges)
	}
	for _, c := range d.Changes {
		if wantChanges[c.Check] != c.What {
			t.Errorf("change %+v; want %v", c, wantChanges)
		}
	}
	if got := d.Operations.Slowest; len(got) != 3 || got[0] != "api" {
		t.Errorf("slowest = %v; want api first of 3", got)
	}
	if got := d.Operations.ErrorRates; len(got) != 2 || got[0] != "api" || got[1] != "db" {
		t.Errorf("error rates = %v; want [api db]", got)
	}
	if f := d.Failed[0]; f.Notifier != "team" || f.Status != "failed" || f.Error != "receiver answered 404" || f.IncidentID != d.Incidents[1].ID {
		t.Errorf("failed notification = %+v", f)
	}
}

func TestDigestDays(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)
	t.Run("empty day", func(t *testing.T) {
		d, err := BuildDigest(ctx, f.st, f.cfg, DigestOptions{Date: "2026-01-10", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if d.Hours != 24 || d.Summary.Availability != nil || d.Summary.ErrorRate != nil || d.Summary.Runs != 0 {
			t.Errorf("empty day summary = %+v", d.Summary)
		}
		if d.Summary.ErrorBudget.LeftMinutes != 43.2 || len(d.Incidents) != 0 || len(d.Changes) != 0 {
			t.Errorf("empty day: budget %+v, incidents %d, changes %+v", d.Summary.ErrorBudget, len(d.Incidents), d.Changes)
		}
		for _, c := range d.Checks {
			if c.Availability != nil || len(c.Hourly) != 24 {
				t.Errorf("empty day check %+v", c)
			}
		}
		for _, format := range Formats {
			var b bytes.Buffer
			if err := RenderDigest(&b, d, format, ui.NewStyles(false)); err != nil || b.Len() == 0 {
				t.Errorf("render %s of an empty day: %v", format, err)
			}
		}
	})
	t.Run("the day before (24 hours, api ok, P4 opens)", func(t *testing.T) {
		d, err := BuildDigest(ctx, f.st, f.cfg, DigestOptions{Date: "2026-03-28", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		api := d.Check("api")
		if d.Hours != 24 || api.Runs != 144 || api.Failures != 0 || d.Summary.Opened.P4 != 1 || d.Summary.Resolved != 0 || d.Summary.OpenAtEnd != 1 {
			t.Errorf("hours %d, api %d runs %d failures, summary %+v", d.Hours, api.Runs, api.Failures, d.Summary)
		}
		if d.Summary.MTTRSeconds != nil {
			t.Errorf("MTTR = %v; the only incident resolves the next day", *d.Summary.MTTRSeconds)
		}
	})
	t.Run("weekly", func(t *testing.T) {
		d, err := BuildDigest(ctx, f.st, f.cfg, DigestOptions{Kind: Weekly, Date: "2026-03-29", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if d.Date != "2026-03-23" || d.EndDate != "2026-03-29" || d.Hours != 7*24-1 {
			t.Errorf("week = %s..%s, %d hours; want 2026-03-23..2026-03-29, 167", d.Date, d.EndDate, d.Hours)
		}
		if api := d.Check("api"); api.Runs != 144+138 || len(api.Hourly) != 167 {
			t.Errorf("api over the week: %d runs, %d buckets", api.Runs, len(api.Hourly))
		}
	})
	t.Run("bad date", func(t *testing.T) {
		if _, err := BuildDigest(ctx, f.st, f.cfg, DigestOptions{Date: "2026-13-01", Now: now}); err == nil {
			t.Error("no error for month 13")
		}
	})
}

func TestDigestGolden(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)
	d, err := BuildDigest(context.Background(), f.st, f.cfg, DigestOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ format, file string }{
		{"text", "digest.txt"}, {"markdown", "digest.md"}, {"html", "digest.html"}, {"json", "digest.json"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := RenderDigest(&b, d, tc.format, ui.NewStyles(false)); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "\x1b[") {
				t.Error("colourless rendering has ANSI escapes")
			}
			golden(t, tc.file, b.String())
		})
	}
	t.Run("text in colour", func(t *testing.T) {
		if s := d.Text(ui.NewStyles(true)); !strings.Contains(s, "\x1b[") {
			t.Error("coloured text rendering has no ANSI escapes")
		}
	})
	t.Run("json round-trips", func(t *testing.T) {
		var b bytes.Buffer
		if err := RenderDigest(&b, d, "json", ui.NewStyles(false)); err != nil {
			t.Fatal(err)
		}
		var back Digest
		if err := json.Unmarshal(b.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if back.Summary.Opened != d.Summary.Opened || len(back.Checks) != len(d.Checks) || val(back.Summary.Availability) != val(d.Summary.Availability) {
			t.Errorf("json lost data: %+v", back.Summary)
		}
	})
}

func TestDigestHTMLSelfContained(t *testing.T) {
	f := newFixture(t)
	d, err := BuildDigest(context.Background(), f.st, f.cfg, DigestOptions{Now: time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	// A message with markup in it must come out escaped.
	d.Incidents[0].Message = `<script>alert(1)</script>`
	h := strings.ToLower(d.HTML())
	// The postmortem's link is text (loads nothing, for people to copy).
	if !strings.Contains(h, ">https://status.example.com/#incident-2</span>") {
		t.Error("html digest lacks the public postmortem's link")
	}
	h = strings.ReplaceAll(h, ">https://status.example.com/#incident-2</span>", "></span>")
	for _, bad := range []string{"http://", "https://", "<script", "src=", "url(", "<link", "@import", "javascript:", "<img", "<iframe"} {
		if strings.Contains(h, bad) {
			t.Errorf("html digest contains %q", bad)
		}
	}
	for _, want := range []string{"<svg", "<rect", "<polyline", "<!doctype html>", "&lt;script&gt;alert(1)",
		"postmortems written", "api outage: a bad &lt;b&gt;deploy&lt;/b&gt;"} {
		if !strings.Contains(h, want) {
			t.Errorf("html digest lacks %q", want)
		}
	}
	if strings.Contains(h, "<style") {
		t.Error("html digest has a <style> block; mail clients drop them, style inline")
	}
}

func TestMessage(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)
	d, err := BuildDigest(context.Background(), f.st, f.cfg, DigestOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	m := Message(d, "test-agent", "host1", now)
	g := m.Digest
	if g == nil || g.Title != "digest 2026-03-29" || g.Date != "2026-03-29" || m.Agent != "test-agent" || m.Source != "host1" || !m.SentAt.Equal(now) {
		t.Fatalf("message = %+v, digest %+v", m, g)
	}
	if strings.Contains(g.Text, "\x1b[") || !strings.HasPrefix(g.HTML, "<!DOCTYPE html>") || !strings.HasPrefix(g.Markdown, "# pulse digest 2026-03-29") {
		t.Error("renderings are not the plain text, html and markdown digests")
	}
	for _, want := range []string{"availability 98.81%", "incidents opened 2 (P1 1, P2 0, P3 1, P4 0)", "MTTA 5m00s", "MTTR 52m30s", "1 notifications failed"} {
		if !strings.Contains(g.Summary, want) {
			t.Errorf("summary %q lacks %q", g.Summary, want)
		}
	}
}

func TestDigestPostmortems(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 30, 8, 0, 0, 0, time.UTC)
	daily, err := BuildDigest(ctx, f.st, f.cfg, DigestOptions{Kind: Daily, Date: "2026-03-29", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(daily.Postmortems) != 2 || daily.Postmortems[0].IncidentID != 2 || daily.Postmortems[0].URL != "https://status.example.com/#incident-2" ||
		daily.Postmortems[1].IncidentID != 1 || daily.Postmortems[1].URL != "" || daily.Postmortems[1].Public {
		t.Errorf("daily postmortems = %+v", daily.Postmortems)
	}
	if !strings.Contains(daily.SummaryLine(), "; 2 postmortems written.") {
		t.Errorf("summary line: %s", daily.SummaryLine())
	}
	before, err := BuildDigest(ctx, f.st, f.cfg, DigestOptions{Kind: Daily, Date: "2026-03-28", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Postmortems) != 0 || strings.Contains(before.SummaryLine(), "postmortem") { // #1's draft was rewritten on the 29th
		t.Errorf("the day before: %+v", before.Postmortems)
	}
	weekly, err := BuildDigest(ctx, f.st, f.cfg, DigestOptions{Kind: Weekly, Date: "2026-03-29", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(weekly.Postmortems) != 2 || !strings.Contains(weekly.Markdown(), "### Postmortems written") {
		t.Errorf("weekly postmortems = %+v", weekly.Postmortems)
	}
}

func TestPostmortemTitle(t *testing.T) {
	for in, want := range map[string]string{
		"# Root cause\n\nbody":       "Root cause",
		"\n\n  ## **Disk full**  \n": "Disk full",
		"plain first line\nsecond":   "plain first line",
		"":                           "(untitled)",
		"  \n\t\n":                   "(untitled)",
		strings.Repeat("é", 150):     strings.Repeat("é", 99) + "…",
	} {
		if got := PostmortemTitle(in); got != want {
			t.Errorf("PostmortemTitle(%q) = %q, want %q", in, got, want)
		}
	}
}
