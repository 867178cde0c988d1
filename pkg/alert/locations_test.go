package alert

import (
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
)

func TestJudgeLocations(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	const interval = time.Minute
	// r is a result that started ago before now.
	r := func(ago time.Duration, s checks.State, ms int, msg string) checks.Result {
		return checks.Result{Start: now.Add(-ago), State: s, Duration: time.Duration(ms) * time.Millisecond, Message: msg}
	}
	loc := func(name string, rs ...checks.Result) LocationInput { return LocationInput{Location: name, Recent: rs} }
	ok := func(ago time.Duration, ms int) checks.Result { return r(ago, checks.OK, ms, "") }
	crit := func(ago time.Duration, msg string) checks.Result { return r(ago, checks.Crit, 5000, msg) }
	warn := func(ago time.Duration, msg string) checks.Result { return r(ago, checks.Warn, 900, msg) }

	for _, tc := range []struct {
		name      string
		in        []LocationInput
		quorum    int
		failAfter int
		state     checks.State
		msg       string
		dur       time.Duration
	}{
		{"all ok", []LocationInput{loc("fra", ok(10*time.Second, 120)), loc("nyc", ok(20*time.Second, 80)), loc("sgp", ok(5*time.Second, 200))},
			2, 1, checks.OK, "ok from fra, nyc, sgp (quorum 2 of 3)", 120 * time.Millisecond},
		{"two crit of three", []LocationInput{loc("fra", crit(10*time.Second, "refused")), loc("nyc", crit(time.Second, "timeout")), loc("sgp", ok(5*time.Second, 98))},
			2, 1, checks.Crit, "crit from fra, nyc (quorum 2 of 3): refused", 5000 * time.Millisecond},
		{"one crit dissents", []LocationInput{loc("fra", ok(10*time.Second, 120)), loc("nyc", crit(time.Second, "timeout")), loc("sgp", ok(5*time.Second, 98))},
			2, 1, checks.OK, "ok from fra, sgp (quorum 2 of 3); nyc crit: timeout", 120 * time.Millisecond},
		{"warn and crit make warn", []LocationInput{loc("fra", warn(10*time.Second, "slow")), loc("nyc", crit(time.Second, "timeout")), loc("sgp", ok(5*time.Second, 98))},
			2, 1, checks.Warn, "warn from fra, nyc (quorum 2 of 3): slow", 900 * time.Millisecond},
		{"stale crit does not count", []LocationInput{loc("fra", crit(3*time.Minute, "refused")), loc("nyc", crit(time.Second, "timeout")), loc("sgp", ok(5*time.Second, 98))},
			2, 1, checks.OK, "ok from sgp (quorum 2 of 3); nyc crit: timeout; fra stale 3m", 2549 * time.Millisecond},
		{"not enough locations", []LocationInput{loc("fra", crit(10*time.Second, "refused")), loc("nyc", ok(3*time.Minute, 80)), loc("sgp")},
			2, 1, checks.Unknown, "not enough locations: 1 of 3 fresh (quorum 2): nyc stale 3m, sgp no result", 5000 * time.Millisecond},
		{"exactly two intervals is fresh", []LocationInput{loc("fra", ok(2*interval, 100)), loc("nyc", ok(2*interval+time.Millisecond, 100))},
			1, 1, checks.OK, "ok from fra (quorum 1 of 2); nyc stale 2m", 100 * time.Millisecond},
		{"fail_after not reached at a location", []LocationInput{loc("fra", ok(70*time.Second, 100), crit(10*time.Second, "refused")), loc("nyc", crit(65*time.Second, "timeout"), crit(5*time.Second, "timeout"))},
			2, 2, checks.OK, "ok from fra (quorum 2 of 2); fra crit (not yet fail_after): refused; nyc crit: timeout", 5000 * time.Millisecond},
		{"fail_after reached at both", []LocationInput{loc("fra", crit(70*time.Second, "refused"), crit(10*time.Second, "refused")), loc("nyc", crit(65*time.Second, "timeout"), crit(5*time.Second, "timeout"))},
			2, 2, checks.Crit, "crit from fra, nyc (quorum 2 of 2): refused", 5000 * time.Millisecond},
		{"none at all", []LocationInput{loc("fra"), loc("nyc")},
			1, 1, checks.Unknown, "not enough locations: 0 of 2 fresh (quorum 1): fra no result, nyc no result", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Judge(Locations(tc.in, interval, tc.failAfter, now), tc.quorum)
			if got.State != tc.state || got.Message != tc.msg || got.Duration != tc.dur {
				t.Errorf("Judge = %v %q %v\nwant   %v %q %v", got.State, got.Message, got.Duration, tc.state, tc.msg, tc.dur)
			}
		})
	}
}

// An unknown verdict (not enough locations) opens a P3, never a P1: the
// warn severity of a check with locations defaults to P3.
func TestLocationsWarnSeverity(t *testing.T) {
	for _, tc := range []struct {
		sev, warnSev, locs, want string
	}{
		{"P1", "", "yes", "P3"},
		{"P2", "", "yes", "P3"},
		{"P4", "", "yes", "P4"},
		{"P1", "P2", "yes", "P2"}, // as set
		{"P1", "", "", "P2"},      // no locations: one below
	} {
		c := &config.Check{Severity: tc.sev, WarnSeverity: tc.warnSev}
		if tc.locs != "" {
			c.Locations = []string{"fra", "nyc"}
		}
		p := PolicyFor(c, config.Agent{})
		if got := p.SeverityOf(checks.Unknown); got != tc.want {
			t.Errorf("severity %s warn_severity %q locations %q: unknown opens %s, want %s", tc.sev, tc.warnSev, tc.locs, got, tc.want)
		}
	}
}
