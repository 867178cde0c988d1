package alert_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const (
	ok   = checks.OK
	warn = checks.Warn
	unk  = checks.Unknown
	crit = checks.Crit
)

// step is one result fed to Evaluate, at t0+at.
type step struct {
	at time.Duration
	st checks.State
}

// every builds steps one interval apart starting at t0.
func every(interval time.Duration, states ...checks.State) []step {
	out := make([]step, len(states))
	for i, s := range states {
		out[i] = step{at: time.Duration(i) * interval, st: s}
	}
	return out
}

// seen is an event reduced to what the tables compare, with the index of
// the step that produced it.
type seen struct {
	step       int
	kind       alert.EventKind
	sev        string
	st         checks.State
	suppressed string
}

func feed(t *testing.T, p alert.Policy, steps []step) (alert.CheckState, []seen) {
	t.Helper()
	var s alert.CheckState
	var got []seen
	for i, sp := range steps {
		now := t0.Add(sp.at)
		next, evs := alert.Evaluate(s, checks.Result{Check: "api", State: sp.st, Message: "msg " + sp.st.String()}, p, now)
		for _, e := range evs {
			if !e.At.Equal(now) {
				t.Errorf("step %d: event %s At = %v, want %v", i, e.Kind, e.At, now)
			}
			got = append(got, seen{i, e.Kind, e.Severity, e.State, e.Suppressed})
		}
		s = next
	}
	return s, got
}

func policy(sev, warnSev string, failAfter, recoverAfter int) alert.Policy {
	return alert.Policy{Severity: sev, WarnSeverity: warnSev, FailAfter: failAfter, RecoverAfter: recoverAfter,
		FlapChanges: 5, FlapWindow: time.Hour}
}

func TestEvaluateIncidents(t *testing.T) {
	tests := []struct {
		name  string
		p     alert.Policy
		steps []step
		want  []seen
	}{
		{
			name:  "opens after fail_after consecutive non-ok",
			p:     policy("P1", "P2", 2, 2),
			steps: every(time.Minute, ok, crit, crit, crit),
			want:  []seen{{2, alert.Opened, "P1", crit, ""}},
		},
		{
			name:  "an ok breaks the streak",
			p:     policy("P1", "P2", 2, 2),
			steps: every(time.Minute, crit, ok, crit, ok, crit),
			want:  nil,
		},
		{
			name:  "opens with the worst state of the streak",
			p:     policy("P1", "P2", 3, 2),
			steps: every(time.Minute, crit, ok, warn, crit, warn),
			want:  []seen{{4, alert.Opened, "P1", crit, ""}},
		},
		{
			name:  "warn opens one level lower",
			p:     policy("P1", "P2", 2, 2),
			steps: every(time.Minute, warn, warn),
			want:  []seen{{1, alert.Opened, "P2", warn, ""}},
		},
		{
			name:  "warn incident turning crit is raised once",
			p:     policy("P1", "P2", 2, 2),
			steps: every(time.Minute, warn, warn, warn, crit, warn, crit, crit),
			want:  []seen{{1, alert.Opened, "P2", warn, ""}, {3, alert.Raised, "P1", crit, ""}},
		},
		{
			name:  "raised after a partial recovery too",
			p:     policy("P2", "P3", 2, 3),
			steps: every(time.Minute, warn, warn, ok, ok, crit),
			want:  []seen{{1, alert.Opened, "P3", warn, ""}, {4, alert.Raised, "P2", crit, ""}},
		},
		{
			name:  "unknown counts as warn",
			p:     policy("P1", "P2", 2, 2),
			steps: every(time.Minute, unk, unk, warn, unk, crit),
			want:  []seen{{1, alert.Opened, "P2", unk, ""}, {4, alert.Raised, "P1", crit, ""}},
		},
		{
			name:  "unknown and warn mix into one streak",
			p:     policy("P1", "P2", 2, 2),
			steps: every(time.Minute, warn, unk),
			want:  []seen{{1, alert.Opened, "P2", unk, ""}},
		},
		{
			name:  "no raise when warn_severity equals severity",
			p:     policy("P2", "P2", 2, 2),
			steps: every(time.Minute, warn, warn, crit, crit),
			want:  []seen{{1, alert.Opened, "P2", warn, ""}},
		},
		{
			name:  "resolves after recover_after consecutive ok",
			p:     policy("P1", "P2", 2, 2),
			steps: every(time.Minute, crit, crit, ok, crit, ok, ok, ok),
			want:  []seen{{1, alert.Opened, "P1", crit, ""}, {5, alert.Resolved, "P1", ok, ""}},
		},
		{
			name:  "fail_after and recover_after of 1",
			p:     policy("P3", "P4", 1, 1),
			steps: every(time.Minute, ok, warn, ok, crit, ok),
			want: []seen{
				{1, alert.Opened, "P4", warn, ""}, {2, alert.Resolved, "P4", ok, ""},
				{3, alert.Opened, "P3", crit, ""}, {4, alert.Resolved, "P3", ok, ""},
			},
		},
		{
			name:  "zero thresholds behave as 1",
			p:     alert.Policy{Severity: "P1", WarnSeverity: "P2"},
			steps: every(time.Minute, crit, ok),
			want:  []seen{{0, alert.Opened, "P1", crit, ""}, {1, alert.Resolved, "P1", ok, ""}},
		},
		{
			name:  "a first crit result counts toward fail_after",
			p:     policy("P1", "P2", 1, 1),
			steps: every(time.Minute, crit),
			want:  []seen{{0, alert.Opened, "P1", crit, ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := feed(t, tt.p, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEvaluateFlapping(t *testing.T) {
	p := policy("P1", "P2", 1, 1)
	tests := []struct {
		name  string
		p     alert.Policy
		steps []step
		want  []seen
		flap  bool // flapping at the end
	}{
		{
			name:  "five changes within the hour: one flapping event, later incidents suppressed",
			p:     p,
			steps: every(time.Minute, ok, crit, ok, crit, ok, crit, ok, crit, ok, crit, ok),
			want: []seen{
				{1, alert.Opened, "P1", crit, ""}, {2, alert.Resolved, "P1", ok, ""},
				{3, alert.Opened, "P1", crit, ""}, {4, alert.Resolved, "P1", ok, ""},
				{5, alert.Flapping, "P1", crit, ""}, {5, alert.Opened, "P1", crit, "flapping"},
				{6, alert.Resolved, "P1", ok, "flapping"},
				{7, alert.Opened, "P1", crit, "flapping"}, {8, alert.Resolved, "P1", ok, "flapping"},
				{9, alert.Opened, "P1", crit, "flapping"}, {10, alert.Resolved, "P1", ok, "flapping"},
			},
			flap: true,
		},
		{
			name:  "five changes spread over more than the window are not flapping",
			p:     p,
			steps: every(20*time.Minute, ok, crit, ok, crit, ok, crit),
			want: []seen{
				{1, alert.Opened, "P1", crit, ""}, {2, alert.Resolved, "P1", ok, ""},
				{3, alert.Opened, "P1", crit, ""}, {4, alert.Resolved, "P1", ok, ""},
				{5, alert.Opened, "P1", crit, ""},
			},
		},
		{
			name:  "warn-crit wobble is not a change",
			p:     policy("P1", "P2", 1, 1),
			steps: every(time.Minute, ok, warn, crit, warn, crit, unk, crit, warn),
			want:  []seen{{1, alert.Opened, "P2", warn, ""}, {2, alert.Raised, "P1", crit, ""}},
		},
		{
			name: "ends after a stable window, then incidents notify again",
			p:    p,
			steps: append(every(time.Minute, ok, crit, ok, crit, ok, crit, ok),
				step{65*time.Minute + 30*time.Second, ok}, // 60.5m after flapping began, 59.5m after the last change: still flapping
				step{66 * time.Minute, ok},                // stable 60m since the change at 6m: ends
				step{67 * time.Minute, crit},              // notified again
				step{68 * time.Minute, crit},              // nothing
				step{69 * time.Minute, checks.OK},         // resolves, notified
				step{70 * time.Minute, checks.Unknown},    // 3rd change since the end: not flapping
			),
			want: []seen{
				{1, alert.Opened, "P1", crit, ""}, {2, alert.Resolved, "P1", ok, ""},
				{3, alert.Opened, "P1", crit, ""}, {4, alert.Resolved, "P1", ok, ""},
				{5, alert.Flapping, "P1", crit, ""}, {5, alert.Opened, "P1", crit, "flapping"},
				{6, alert.Resolved, "P1", ok, "flapping"},
				{8, alert.FlappingEnded, "P1", ok, ""},
				{9, alert.Opened, "P1", crit, ""}, {11, alert.Resolved, "P1", ok, ""},
				{12, alert.Opened, "P2", unk, ""},
			},
		},
		{
			name: "a flip after a stable window ends flapping and counts afresh",
			p:    p,
			steps: append(every(time.Minute, ok, crit, ok, crit, ok, crit),
				step{5*time.Minute + time.Hour, ok},
			),
			want: []seen{
				{1, alert.Opened, "P1", crit, ""}, {2, alert.Resolved, "P1", ok, ""},
				{3, alert.Opened, "P1", crit, ""}, {4, alert.Resolved, "P1", ok, ""},
				{5, alert.Flapping, "P1", crit, ""}, {5, alert.Opened, "P1", crit, "flapping"},
				{6, alert.FlappingEnded, "P1", ok, ""}, {6, alert.Resolved, "P1", ok, ""},
			},
		},
		{
			name:  "configurable: three changes in ten minutes",
			p:     alert.Policy{Severity: "P2", WarnSeverity: "P3", FailAfter: 1, RecoverAfter: 1, FlapChanges: 3, FlapWindow: 10 * time.Minute},
			steps: every(4*time.Minute, ok, warn, ok, warn),
			want: []seen{
				{1, alert.Opened, "P3", warn, ""}, {2, alert.Resolved, "P3", ok, ""},
				{3, alert.Flapping, "P2", warn, ""}, {3, alert.Opened, "P3", warn, "flapping"},
			},
			flap: true,
		},
		{
			name:  "zero FlapChanges disables detection",
			p:     alert.Policy{Severity: "P2", WarnSeverity: "P3", FailAfter: 1, RecoverAfter: 1},
			steps: every(time.Second, ok, crit, ok, crit, ok, crit, ok),
			want: []seen{
				{1, alert.Opened, "P2", crit, ""}, {2, alert.Resolved, "P2", ok, ""},
				{3, alert.Opened, "P2", crit, ""}, {4, alert.Resolved, "P2", ok, ""},
				{5, alert.Opened, "P2", crit, ""}, {6, alert.Resolved, "P2", ok, ""},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, got := feed(t, tt.p, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("events:\n got %+v\nwant %+v", got, tt.want)
			}
			if s.Flapping != tt.flap {
				t.Errorf("Flapping = %v, want %v", s.Flapping, tt.flap)
			}
			if bound := max(tt.p.FlapChanges, 0); len(s.Changes) > bound {
				t.Errorf("kept %d changes, bound is %d", len(s.Changes), bound)
			}
		})
	}
}

func TestEvaluateFlappingStateFields(t *testing.T) {
	s, _ := feed(t, policy("P1", "P2", 1, 1), every(time.Minute, ok, crit, ok, crit, ok, crit, ok, crit))
	if !s.Flapping || !s.FlappingSince.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("Flapping = %v since %v, want true since %v", s.Flapping, s.FlappingSince, t0.Add(5*time.Minute))
	}
	want := []time.Time{t0.Add(3 * time.Minute), t0.Add(4 * time.Minute), t0.Add(5 * time.Minute), t0.Add(6 * time.Minute), t0.Add(7 * time.Minute)}
	if !slices.EqualFunc(s.Changes, want, time.Time.Equal) {
		t.Errorf("Changes = %v, want the last five %v", s.Changes, want)
	}
}

func TestEvaluateDoesNotWriteIntoPrev(t *testing.T) {
	p := policy("P1", "P2", 1, 1)
	base, _ := feed(t, p, every(time.Minute, ok, crit, ok)) // two changes recorded
	base.Changes = slices.Grow(base.Changes, 10)            // spare capacity an append could reuse
	before := slices.Clone(base.Changes)
	a, _ := alert.Evaluate(base, checks.Result{State: crit}, p, t0.Add(10*time.Minute))
	b, _ := alert.Evaluate(base, checks.Result{State: crit}, p, t0.Add(20*time.Minute))
	if !slices.Equal(base.Changes, before) {
		t.Errorf("prev.Changes changed: %v, was %v", base.Changes, before)
	}
	if a.Changes[len(a.Changes)-1].Equal(b.Changes[len(b.Changes)-1]) {
		t.Errorf("two successors share their change history: %v / %v", a.Changes, b.Changes)
	}
}

func TestEvaluateIncidentIDHandOff(t *testing.T) {
	p := policy("P1", "P2", 1, 1)
	s, evs := alert.Evaluate(alert.CheckState{}, checks.Result{State: warn}, p, t0)
	if len(evs) != 1 || evs[0].Kind != alert.Opened || evs[0].IncidentID != 0 {
		t.Fatalf("events = %+v, want one Opened with pending id 0", evs)
	}
	if !s.IncidentOpen || s.IncidentID != 0 {
		t.Fatalf("state: open %v id %d, want open pending", s.IncidentOpen, s.IncidentID)
	}
	s.SetIncident(42)
	s, evs = alert.Evaluate(s, checks.Result{State: crit}, p, t0.Add(time.Minute))
	if len(evs) != 1 || evs[0].Kind != alert.Raised || evs[0].IncidentID != 42 {
		t.Fatalf("events = %+v, want Raised of #42", evs)
	}
	s, evs = alert.Evaluate(s, checks.Result{State: ok, Message: "200 OK"}, p, t0.Add(2*time.Minute))
	if len(evs) != 1 || evs[0].Kind != alert.Resolved || evs[0].IncidentID != 42 || evs[0].Message != "200 OK" {
		t.Fatalf("events = %+v, want Resolved of #42 with the result's message", evs)
	}
	if s.IncidentOpen || s.IncidentID != 0 || s.IncidentSeverity != "" {
		t.Errorf("after resolve: %+v", s)
	}
	s.SetIncident(7) // no incident open: ignored
	if s.IncidentID != 0 {
		t.Errorf("SetIncident without an open incident set id %d", s.IncidentID)
	}
}

// A check still failing after a manual resolve opens a new incident with
// its next failing result (issue 14, item 2): not fail_after results later.
func TestClearIncidentKeepsStreak(t *testing.T) {
	p := policy("P1", "P2", 2, 2)
	s, _ := feed(t, p, every(time.Minute, crit, crit, crit))
	s.SetIncident(9)
	s.ClearIncident() // `pulse resolve 9` while the check still fails
	_, evs := alert.Evaluate(s, checks.Result{State: crit}, p, t0.Add(5*time.Minute))
	if len(evs) != 1 || evs[0].Kind != alert.Opened {
		t.Fatalf("first crit after a manual resolve: %+v, want a new Opened", evs)
	}
}

func TestEvaluateCountsAndLastChange(t *testing.T) {
	s, _ := feed(t, policy("P1", "P2", 5, 5), every(time.Minute, ok, ok, warn, crit, crit))
	if s.State != crit || s.NonOK != 3 || s.OK != 0 || s.Worst != crit || !s.LastChange.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("state = %+v", s)
	}
	s, _ = feed(t, policy("P1", "P2", 5, 5), every(time.Minute, ok, ok))
	if s.NonOK != 0 || s.OK != 2 || s.Worst != ok || !s.LastChange.Equal(t0) {
		t.Errorf("state = %+v", s)
	}
}

func fullPolicy(sev, warnSev string, failAfter, recoverAfter, flapChanges int, flapWindow time.Duration) alert.Policy {
	return alert.Policy{Severity: sev, WarnSeverity: warnSev, FailAfter: failAfter, RecoverAfter: recoverAfter,
		FlapChanges: flapChanges, FlapWindow: flapWindow}
}

func TestPolicyFor(t *testing.T) {
	agent := config.Agent{FlapChanges: 7, FlapWindow: config.Duration(2 * time.Hour)}
	tests := []struct {
		name  string
		check config.Check
		agent config.Agent
		want  alert.Policy
	}{
		{"warn one level lower", config.Check{Severity: "P1", FailAfter: 2, RecoverAfter: 3}, agent,
			fullPolicy("P1", "P2", 2, 3, 7, 2*time.Hour)},
		{"warn_severity wins", config.Check{Severity: "P1", WarnSeverity: "P4", FailAfter: 1, RecoverAfter: 1}, agent,
			fullPolicy("P1", "P4", 1, 1, 7, 2*time.Hour)},
		{"P4 stays P4", config.Check{Severity: "P4", FailAfter: 2, RecoverAfter: 2}, agent,
			fullPolicy("P4", "P4", 2, 2, 7, 2*time.Hour)},
		{"P3 warns at P4", config.Check{Severity: "P3", FailAfter: 2, RecoverAfter: 2}, agent,
			fullPolicy("P3", "P4", 2, 2, 7, 2*time.Hour)},
		{"defaults for a code-built config", config.Check{}, config.Agent{},
			fullPolicy("P2", "P3", 1, 1, 5, time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := alert.PolicyFor(&tt.check, tt.agent); got != tt.want {
				t.Errorf("PolicyFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSeverityHelpers(t *testing.T) {
	for _, tt := range []struct{ in, lower string }{{"P1", "P2"}, {"P2", "P3"}, {"P3", "P4"}, {"P4", "P4"}, {"X", "X"}} {
		if got := alert.LowerSeverity(tt.in); got != tt.lower {
			t.Errorf("LowerSeverity(%q) = %q, want %q", tt.in, got, tt.lower)
		}
	}
	if !alert.MoreSevere("P1", "P2") || alert.MoreSevere("P2", "P2") || alert.MoreSevere("P4", "P3") || !alert.MoreSevere("P4", "X") {
		t.Error("MoreSevere orders P1 > P2 > P3 > P4 > unknown")
	}
}

func TestCheckStateJSONRoundTrip(t *testing.T) {
	full := alert.CheckState{
		State: crit, LastChange: t0, NonOK: 4, OK: 0, Worst: crit,
		IncidentOpen: true, IncidentID: 42, IncidentSeverity: "P1", IncidentState: unk,
		Changes:  []time.Time{t0.Add(-time.Minute), t0},
		Flapping: true, FlappingSince: t0.Add(time.Second),
	}
	// Every field must be set, so a field added later without JSON support fails here.
	v := reflect.ValueOf(full)
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).IsZero() && v.Type().Field(i).Name != "OK" {
			t.Fatalf("test state leaves %s zero", v.Type().Field(i).Name)
		}
	}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	var back alert.CheckState
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, full) {
		t.Errorf("round trip:\n got %+v\nwant %+v\njson %s", back, full, b)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["state"] != "crit" || raw["incident_state"] != "unknown" {
		t.Errorf("states not stored as words: %s", b)
	}

	var zero alert.CheckState
	b, _ = json.Marshal(zero)
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, zero) {
		t.Errorf("zero round trip: %+v, %v (json %s)", back, err, b)
	}
	if err := json.Unmarshal([]byte(`{"state":"broken"}`), &back); err == nil {
		t.Error("a bad state decoded without error")
	}
}

func TestEvaluateNoChangeDoesNotAllocate(t *testing.T) {
	p := policy("P1", "P2", 2, 2)
	for _, tt := range []struct {
		name string
		seq  []checks.State
		next checks.State
	}{
		{"steady ok", []checks.State{ok, ok}, ok},
		{"steady crit with an open incident", []checks.State{crit, crit, crit}, crit},
		{"flapping, no flip", []checks.State{ok, crit, ok, crit, ok, crit, ok}, ok},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := feed(t, policy("P1", "P2", 2, 2), every(time.Second, tt.seq...))
			now := t0.Add(time.Minute)
			res := checks.Result{Check: "api", State: tt.next, Message: "fine"}
			allocs := testing.AllocsPerRun(100, func() {
				_, evs := alert.Evaluate(s, res, p, now)
				if evs != nil {
					t.Fatalf("unexpected events %+v", evs)
				}
			})
			if allocs != 0 {
				t.Errorf("Evaluate allocated %.0f times on the no-change path", allocs)
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p := policy("P1", "P2", 2, 2)
	for _, bc := range []struct {
		name string
		st   checks.State
		prev alert.CheckState
	}{
		{"steady-ok", ok, alert.CheckState{State: ok, OK: 100, LastChange: t0}},
		{"steady-crit-open", crit, alert.CheckState{State: crit, NonOK: 100, Worst: crit, LastChange: t0,
			IncidentOpen: true, IncidentID: 1, IncidentSeverity: "P1", IncidentState: crit}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			res := checks.Result{Check: "api", State: bc.st, Message: "fine"}
			s := bc.prev
			now := t0
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(time.Second)
				s, _ = alert.Evaluate(s, res, p, now)
			}
		})
	}
	b.Run("flip-every-run", func(b *testing.B) {
		states := [2]checks.State{ok, crit}
		s := alert.CheckState{}
		now := t0
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			now = now.Add(time.Second)
			s, _ = alert.Evaluate(s, checks.Result{State: states[i&1]}, p, now)
			i++
		}
	})
}
