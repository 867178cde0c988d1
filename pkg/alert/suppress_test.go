package alert_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("time zone %s not available: %v", name, err)
	}
	return loc
}

func TestMaintenanceWindows(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	cfg := &config.Config{
		Agent: config.Agent{Location: berlin},
		Maintenance: []config.Maintenance{
			{Checks: []string{"api-*"}, Schedule: "0 3 * * SUN", Duration: config.Duration(time.Hour)},
			{Checks: []string{"tag:db"}, Schedule: "30 0 22 * * *", Duration: config.Duration(30 * time.Minute)}, // 6 fields: 22:00:30
			{Checks: []string{"tag:infra*", "batch"}, Schedule: "@daily", Duration: config.Duration(15 * time.Minute)},
			{Checks: []string{"dst-job"}, Schedule: "30 2 * * *", Duration: config.Duration(time.Hour)},
		},
	}
	sup, err := alert.NewSuppressor(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	api := &config.Check{Name: "api-health", Tags: []string{"api"}}
	webAPI := &config.Check{Name: "web-api"}
	pg := &config.Check{Name: "postgres", Tags: []string{"db", "core"}}
	node := &config.Check{Name: "node-disk", Tags: []string{"infrastructure"}}
	batch := &config.Check{Name: "batch"}
	dstJob := &config.Check{Name: "dst-job"}

	sunday := func(h, m, s int, loc *time.Location) time.Time { return time.Date(2026, 11, 29, h, m, s, 0, loc) }
	tests := []struct {
		name  string
		check *config.Check
		at    time.Time
		muted bool
		why   string // substring of the reason
	}{
		{"at the start (Berlin 03:00 = 02:00 UTC)", api, sunday(2, 0, 0, time.UTC), true, `maintenance "0 3 * * SUN" since 2026-11-29 03:00 CET for 1h`},
		{"inside", api, sunday(3, 59, 59, berlin), true, "maintenance"},
		{"at the end: excluded", api, sunday(4, 0, 0, berlin), false, ""},
		{"a second before the start", api, sunday(2, 59, 59, berlin), false, ""},
		{"03:30 UTC is 04:30 in Berlin: outside", api, sunday(3, 30, 0, time.UTC), false, ""},
		{"Saturday at 03:30: not the schedule's day", api, time.Date(2026, 11, 28, 3, 30, 0, 0, berlin), false, ""},
		{"summer time: 03:30 CEST = 01:30 UTC", api, time.Date(2026, 7, 5, 1, 30, 0, 0, time.UTC), true, "CEST"},
		{"glob does not match another name", webAPI, sunday(3, 30, 0, berlin), false, ""},
		{"tag match, six-field schedule", pg, time.Date(2026, 11, 25, 22, 10, 0, 0, berlin), true, `"30 0 22 * * *"`},
		{"tag match, before the 30th second", pg, time.Date(2026, 11, 25, 22, 0, 29, 0, berlin), false, ""},
		{"tag glob with descriptor @daily", node, time.Date(2026, 11, 25, 0, 14, 0, 0, berlin), true, "@daily"},
		{"name in a list with a tag pattern", batch, time.Date(2026, 11, 25, 0, 5, 0, 0, berlin), true, "@daily"},
		{"descriptor window over", node, time.Date(2026, 11, 25, 0, 15, 0, 0, berlin), false, ""},
		// 02:30 does not exist on 2026-03-29 in Berlin: the window starts when the gap ends.
		{"window in a spring-forward gap opens at its end", dstJob, time.Date(2026, 3, 29, 3, 15, 0, 0, berlin), true, "maintenance"},
		{"window in a spring-forward gap lasts its duration", dstJob, time.Date(2026, 3, 29, 4, 5, 0, 0, berlin), false, ""},
		{"window on an ordinary day", dstJob, time.Date(2026, 3, 30, 3, 15, 0, 0, berlin), true, "maintenance"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, muted := sup.Muted(tt.check, tt.at)
			if muted != tt.muted {
				t.Fatalf("Muted(%s, %v) = %v (%q), want %v", tt.check.Name, tt.at, muted, why, tt.muted)
			}
			if !strings.Contains(why, tt.why) || (!muted && why != "") {
				t.Errorf("reason %q, want it to contain %q", why, tt.why)
			}
		})
	}
}

func TestNewSuppressorErrors(t *testing.T) {
	tests := []struct {
		name string
		m    config.Maintenance
		want string
	}{
		{"bad cron", config.Maintenance{Checks: []string{"a"}, Schedule: "61 * * * *", Duration: config.Duration(time.Hour), Line: 12}, `maintenance at line 12: schedule "61 * * * *"`},
		{"@every has no start", config.Maintenance{Checks: []string{"a"}, Schedule: "@every 1h", Duration: config.Duration(time.Hour)}, "maintenance 1: schedule \"@every 1h\": @every has no start time"},
		{"zero duration", config.Maintenance{Checks: []string{"a"}, Schedule: "@daily"}, "duration must be positive"},
		{"bad glob", config.Maintenance{Checks: []string{"api-["}, Schedule: "@daily", Duration: config.Duration(time.Hour)}, `invalid pattern "api-["`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := alert.NewSuppressor(&config.Config{Maintenance: []config.Maintenance{tt.m}}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSilences(t *testing.T) {
	sup, err := alert.NewSuppressor(&config.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	until := t0.Add(2 * time.Hour)
	withS := sup.WithSilences([]alert.Silence{
		{ID: 3, Pattern: "api-*", Until: until, Reason: "deploy"},
		{ID: 4, Pattern: "tag:db", Until: t0.Add(30 * time.Minute)},
		{ID: 5, Pattern: "old", Until: t0.Add(-time.Minute)},
	})
	api := &config.Check{Name: "api-health"}
	pg := &config.Check{Name: "pg", Tags: []string{"db"}}
	tests := []struct {
		name  string
		check *config.Check
		at    time.Time
		want  string // "" = not muted
	}{
		{"name glob", api, t0, "silence #3 until 2026-11-25 12:00 UTC: deploy"},
		{"a second before it ends", api, until.Add(-time.Second), "silence #3"},
		{"expired at until", api, until, ""},
		{"tag, no reason", pg, t0.Add(29 * time.Minute), "silence #4 until 2026-11-25 10:30 UTC"},
		{"tag silence expired", pg, t0.Add(30 * time.Minute), ""},
		{"already expired when loaded", &config.Check{Name: "old"}, t0, ""},
		{"unmatched", &config.Check{Name: "web"}, t0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, muted := withS.Muted(tt.check, tt.at)
			if muted != (tt.want != "") || !strings.HasPrefix(why, tt.want) {
				t.Errorf("Muted = %v %q, want %q", muted, why, tt.want)
			}
		})
	}
	if _, muted := sup.Muted(api, t0); muted {
		t.Error("WithSilences changed the original Suppressor")
	}
}

func TestMatchCheckAndValidPattern(t *testing.T) {
	c := &config.Check{Name: "api-[v2", Tags: []string{"infrastructure", "eu"}}
	tests := []struct {
		pattern string
		match   bool
		valid   bool
	}{
		{"api-*", true, true},
		{"api-?v2", true, true},
		{"*", true, true},
		{"web-*", false, true},
		{"tag:eu", true, true},
		{"tag:infra*", true, true},
		{"tag:us", false, true},
		{"api-[v2", true, false}, // malformed glob: only the identical name
		{"api-[v", false, false},
		{"tag:", false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			if got := alert.MatchCheck(tt.pattern, c); got != tt.match {
				t.Errorf("MatchCheck = %v, want %v", got, tt.match)
			}
			if err := alert.ValidPattern(tt.pattern); (err == nil) != tt.valid {
				t.Errorf("ValidPattern = %v, want valid %v", err, tt.valid)
			}
		})
	}
}

func TestDependencyDown(t *testing.T) {
	cfg := &config.Config{Checks: []config.Check{
		{Name: "app", DependsOn: []string{"api", "cache"}},
		{Name: "api", DependsOn: []string{"edge"}},
		{Name: "edge", DependsOn: []string{"app"}}, // a cycle must not hang
		{Name: "cache"},
		{Name: "lonely"},
	}}
	sup, err := alert.NewSuppressor(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	app := &cfg.Checks[0]
	st := func(pairs ...any) map[string]alert.CheckState {
		m := map[string]alert.CheckState{}
		for i := 0; i < len(pairs); i += 2 {
			m[pairs[i].(string)] = alert.CheckState{State: pairs[i+1].(checks.State)}
		}
		return m
	}
	tests := []struct {
		name   string
		check  *config.Check
		states map[string]alert.CheckState
		dep    string
	}{
		{"direct dependency crit", app, st("cache", crit, "api", ok), "cache"},
		{"direct dependency only warn", app, st("cache", warn, "api", unk), ""},
		{"transitive: edge crit behind api", app, st("api", ok, "cache", ok, "edge", crit), "edge"},
		{"the check itself crit is not a dependency", app, st("app", crit, "api", ok, "edge", ok, "cache", ok), ""},
		{"unknown states are not down", app, st(), ""},
		{"no depends_on", &cfg.Checks[4], st("cache", crit), ""},
		{"a check not in the config uses its own depends_on", &config.Check{Name: "new", DependsOn: []string{"api"}}, st("edge", crit), "edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dep, down := sup.DependencyDown(tt.check, tt.states)
			if dep != tt.dep || down != (tt.dep != "") {
				t.Errorf("DependencyDown = %q %v, want %q", dep, down, tt.dep)
			}
		})
	}

	t.Run("Reason combines silence, maintenance and dependency", func(t *testing.T) {
		if r := sup.Reason(app, st("cache", crit), t0); r != "dependency cache is crit" {
			t.Errorf("Reason = %q", r)
		}
		s2 := sup.WithSilences([]alert.Silence{{ID: 1, Pattern: "app", Until: t0.Add(time.Hour)}})
		if r := s2.Reason(app, st("cache", crit), t0); !strings.HasPrefix(r, "silence #1") {
			t.Errorf("Reason = %q, want the silence first", r)
		}
		if r := sup.Reason(app, st("cache", ok), t0); r != "" {
			t.Errorf("Reason = %q, want none", r)
		}
	})
}

func TestDependencyDownDoesNotAllocate(t *testing.T) {
	cfg := &config.Config{Checks: []config.Check{
		{Name: "app", DependsOn: []string{"api"}}, {Name: "api", DependsOn: []string{"db"}}, {Name: "db"},
	}}
	sup, err := alert.NewSuppressor(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]alert.CheckState{"app": {}, "api": {}, "db": {}}
	if n := testing.AllocsPerRun(100, func() { sup.DependencyDown(&cfg.Checks[0], states) }); n != 0 {
		t.Errorf("DependencyDown allocated %.0f times", n)
	}
}
