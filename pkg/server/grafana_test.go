package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

// TestGrafanaDashboard parses packaging/grafana/pulse.json and checks that
// every PromQL expression in it (panels and template variables) names only
// metrics the listener's /metrics really exports: a renamed metric breaks
// this test rather than a team's dashboard.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "packaging", "grafana", "pulse.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("pulse.json is not JSON: %v", err)
	}
	for _, k := range []string{"title", "uid", "panels", "templating", "schemaVersion"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("pulse.json has no %q", k)
		}
	}

	// What /metrics exports, with every kind of series present.
	f := newFixture(t, "")
	f.m.ObserveResult(result("api", checks.OK, 30*time.Millisecond), "http")
	v := result("orders", checks.Warn, 5*time.Millisecond)
	v.SetValue(17)
	f.m.ObserveResult(v, "metric")
	f.m.ObserveNotification("ops", "sent")
	exported := map[string]bool{}
	for _, line := range strings.Split(scrape(t, f), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, " ")
		name, _, _ = strings.Cut(name, "{")
		exported[name] = true
	}
	if !exported["pulse_check_up"] || !exported["pulse_check_duration_seconds_bucket"] {
		t.Fatalf("the scrape lacks the check series: %v", exported)
	}

	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition" || (k == "query" && strings.Contains(s, "("))) {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(exprs) < 10 {
		t.Fatalf("only %d expressions in pulse.json", len(exprs))
	}
	used := map[string]bool{}
	for _, e := range exprs {
		names := promqlMetrics(e)
		if len(names) == 0 {
			t.Errorf("expression %q names no metric", e)
		}
		for _, n := range names {
			used[n] = true
			if !exported[n] {
				t.Errorf("expression %q uses %q, which /metrics does not export", e, n)
			}
		}
	}
	// Every pulse_ family is on the dashboard.
	for _, fam := range []string{"pulse_check_up", "pulse_check_state", "pulse_check_runs_total", "pulse_check_duration_seconds_bucket",
		"pulse_check_value", "pulse_incidents_open", "pulse_outbox_pending", "pulse_notifications_total"} {
		if !used[fam] {
			t.Errorf("the dashboard does not use %s", fam)
		}
	}
}

var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`\$?[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "le", "check"}
)

// promqlMetrics returns the metric names of a PromQL expression (or a
// Grafana label_values() query): identifiers that are not functions,
// keywords, label names, numbers or Grafana variables.
func promqlMetrics(e string) []string {
	e = promStrings.ReplaceAllString(e, `""`)
	e = promMatchers.ReplaceAllString(e, "")
	e = promRanges.ReplaceAllString(e, "")
	e = promGrouping.ReplaceAllString(e, "")
	var out []string
	for _, m := range promIdent.FindAllString(e, -1) {
		m = strings.TrimSpace(m)
		if strings.HasSuffix(m, "(") || strings.HasPrefix(m, "$") || slices.Contains(promKeywords, m) {
			continue // a function, a Grafana variable, a keyword or label
		}
		out = append(out, m)
	}
	return out
}

func TestPromqlMetrics(t *testing.T) {
	for e, want := range map[string][]string{
		`sum by (check) (rate(pulse_check_runs_total{check=~"$check",state!="ok"}[$__rate_interval]))`: {"pulse_check_runs_total"},
		`histogram_quantile(0.95, sum by (le) (rate(pulse_check_duration_seconds_bucket[5m])))`:        {"pulse_check_duration_seconds_bucket"},
		`label_values(pulse_check_up, check)`:                                                          {"pulse_check_up"},
		`a_total / on (x) group_left b_total`:                                                          {"a_total", "b_total"},
	} {
		if got := promqlMetrics(e); !slices.Equal(got, want) {
			t.Errorf("promqlMetrics(%q) = %q, want %q", e, got, want)
		}
	}
}
