package alert_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
)

// applyPlan: P1 is pulse.example.toml's block (oncall and ops at once, a reminder
// every 30m, team after 15m), P2 goes to ops within 15m, P4 is a digest.
func applyPlan() alert.Plan {
	return alert.NewPlan(&config.Config{
		Notifiers: notifiers("oncall", "ops", "team"),
		Escalation: map[string]config.Escalation{
			"P1": specP1(),
			"P2": {Notify: []string{"ops"}, Within: config.Duration(15 * time.Minute)},
			"P3": {Notify: []string{"ops"}, Within: config.Duration(time.Hour)},
			"P4": {Digest: true},
		},
	})
}

// outcome is an Outcome reduced to what the tables compare; times are
// relative to t0.
type outcome struct {
	write    alert.Write
	report   string // "msg" when the row takes the message, "" otherwise
	sev      string
	state    checks.State
	told     string
	resolved time.Duration // -1: not resolved
	lines    []string      // "kind +offset detail"
	sups     []string      // "notifier: event,event"
	ds       []d
	next     time.Duration // -1: none
}

func reduceOutcome(o alert.Outcome) outcome {
	r := outcome{write: o.Write, sev: o.Incident.Severity, state: o.Incident.State,
		told: strings.Join(o.Incident.Told, ","), resolved: -1, next: -1, ds: reduce(o.Deliveries)}
	if o.Report {
		r.report = o.Message
	}
	if !o.Incident.ResolvedAt.IsZero() {
		r.resolved = o.Incident.ResolvedAt.Sub(t0)
	}
	if !o.Next.IsZero() {
		r.next = o.Next.Sub(t0)
	}
	for _, l := range o.Timeline {
		r.lines = append(r.lines, l.Kind+" +"+l.At.Sub(t0).String()+" "+l.Detail)
	}
	for _, s := range o.Supersede {
		r.sups = append(r.sups, s.Notifier+": "+strings.Join(s.Events, ","))
	}
	return r
}

// openP1 is a P1 incident opened and announced to oncall and ops at t0.
func openP1() alert.IncidentInfo {
	inc := alert.IncidentInfo{ID: 7, Check: "api", Severity: "P1", State: crit, OpenedAt: t0}
	inc.Record(alert.Deliveries(alert.Event{Kind: alert.Opened, Severity: "P1", State: crit, At: t0}, inc, specP1(), t0))
	return inc
}

// openP2 is a P2 incident opened at t0, due to ops at t0+15m.
func openP2() alert.IncidentInfo {
	inc := alert.IncidentInfo{ID: 8, Check: "db", Severity: "P2", State: warn, OpenedAt: t0}
	esc := config.Escalation{Notify: []string{"ops"}, Within: config.Duration(15 * time.Minute)}
	inc.Record(alert.Deliveries(alert.Event{Kind: alert.Opened, Severity: "P2", State: warn, At: t0}, inc, esc, t0))
	return inc
}

func with(inc alert.IncidentInfo, f func(*alert.IncidentInfo)) alert.IncidentInfo {
	f(&inc)
	return inc
}

const retireAll = "opened,raised,reminder,escalated,flapping"

func TestApply(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name string
		inc  alert.IncidentInfo
		ev   alert.Event
		now  time.Duration
		want outcome
	}{
		{
			name: "opened P1: inserted, told at once",
			inc:  alert.IncidentInfo{Check: "api"},
			ev:   alert.Event{Kind: alert.Opened, Severity: "P1", State: crit, Message: "status 503", At: t0},
			want: outcome{write: alert.WriteInsert, report: "status 503", sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1,
				lines: []string{"opened +0s P1 crit: status 503"},
				ds:    []d{{"oncall", "opened", "P1", 0, false}, {"ops", "opened", "P1", 0, false}}},
		},
		{
			name: "opened P2: batched within 15m",
			inc:  alert.IncidentInfo{Check: "db"},
			ev:   alert.Event{Kind: alert.Opened, Severity: "P2", State: warn, Message: "slow", At: t0},
			want: outcome{write: alert.WriteInsert, report: "slow", sev: "P2", state: warn, told: "ops", resolved: -1, next: -1,
				lines: []string{"opened +0s P2 warn: slow"},
				ds:    []d{{"ops", "opened", "P2", 15 * m, true}}},
		},
		{
			name: "opened while muted: silenced line, nobody told",
			inc:  alert.IncidentInfo{Check: "api", Muted: "silence #3"},
			ev:   alert.Event{Kind: alert.Opened, Severity: "P1", State: crit, Message: "down", At: t0},
			want: outcome{write: alert.WriteInsert, report: "down", sev: "P1", state: crit, resolved: -1, next: -1,
				lines: []string{"opened +0s P1 crit: down", "silenced +0s silence #3"}},
		},
		{
			name: "opened while flapping (suppressed): recorded, not told",
			inc:  alert.IncidentInfo{Check: "api"},
			ev:   alert.Event{Kind: alert.Opened, Severity: "P1", State: crit, Message: "down", At: t0, Suppressed: alert.SuppressedFlapping},
			want: outcome{write: alert.WriteInsert, report: "down", sev: "P1", state: crit, resolved: -1, next: -1,
				lines: []string{"opened +0s P1 crit: down"}},
		},
		{
			name: "opened at a digest severity: nobody told",
			inc:  alert.IncidentInfo{Check: "disk"},
			ev:   alert.Event{Kind: alert.Opened, Severity: "P4", State: warn, Message: "80%", At: t0},
			want: outcome{write: alert.WriteInsert, report: "80%", sev: "P4", state: warn, resolved: -1, next: -1,
				lines: []string{"opened +0s P4 warn: 80%"}},
		},
		{
			name: "raised P2 to P1: worse state, queued announcements retired",
			inc:  openP2(),
			ev:   alert.Event{Kind: alert.Raised, Severity: "P1", State: crit, Message: "down", At: t0.Add(5 * m)},
			now:  5 * m,
			want: outcome{write: alert.WriteUpdate, report: "down", sev: "P1", state: crit, told: "ops,oncall", resolved: -1, next: -1,
				lines: []string{"raised +5m0s P1 crit: down"},
				sups:  []string{"oncall: opened,raised", "ops: opened,raised"},
				ds:    []d{{"oncall", "raised", "P1", 5 * m, false}, {"ops", "raised", "P1", 5 * m, false}}},
		},
		{
			name: "raised to a better state keeps the worst",
			inc:  with(openP2(), func(i *alert.IncidentInfo) { i.State = crit }),
			ev:   alert.Event{Kind: alert.Raised, Severity: "P1", State: warn, Message: "slow", At: t0.Add(5 * m)},
			now:  5 * m,
			want: outcome{write: alert.WriteUpdate, report: "slow", sev: "P1", state: crit, told: "ops,oncall", resolved: -1, next: -1,
				lines: []string{"raised +5m0s P1 warn: slow"},
				sups:  []string{"oncall: opened,raised", "ops: opened,raised"},
				ds:    []d{{"oncall", "raised", "P1", 5 * m, false}, {"ops", "raised", "P1", 5 * m, false}}},
		},
		{
			name: "raised while muted: silenced line, nothing queued or retired",
			inc:  with(openP2(), func(i *alert.IncidentInfo) { i.Muted = "maintenance nightly" }),
			ev:   alert.Event{Kind: alert.Raised, Severity: "P1", State: crit, Message: "down", At: t0.Add(5 * m)},
			now:  5 * m,
			want: outcome{write: alert.WriteUpdate, report: "down", sev: "P1", state: crit, told: "ops", resolved: -1, next: -1,
				lines: []string{"raised +5m0s P1 crit: down", "silenced +5m0s maintenance nightly"}},
		},
		{
			name: "raised without an incident: nothing",
			inc:  alert.IncidentInfo{Check: "api"},
			ev:   alert.Event{Kind: alert.Raised, Severity: "P1", State: crit, At: t0},
			want: outcome{resolved: -1, next: -1},
		},
		{
			name: "resolved: to the told, queued rows but acks retired",
			inc:  openP1(),
			ev:   alert.Event{Kind: alert.Resolved, Severity: "P1", State: checks.OK, Message: "200 OK", At: t0.Add(20 * m)},
			now:  20 * m,
			want: outcome{write: alert.WriteUpdate, sev: "P1", state: crit, told: "oncall,ops", resolved: 20 * m, next: -1,
				lines: []string{"resolved +20m0s recovered: 200 OK"},
				sups:  []string{"oncall: " + retireAll, "ops: " + retireAll},
				ds:    []d{{"oncall", "resolved", "P1", 20 * m, false}, {"ops", "resolved", "P1", 20 * m, false}}},
		},
		{
			name: "resolved before the batch left: due with the opening, which it retires",
			inc:  openP2(),
			ev:   alert.Event{Kind: alert.Resolved, Severity: "P2", State: checks.OK, Message: "fine", At: t0.Add(2 * m)},
			now:  2 * m,
			want: outcome{write: alert.WriteUpdate, sev: "P2", state: warn, told: "ops", resolved: 2 * m, next: -1,
				lines: []string{"resolved +2m0s recovered: fine"},
				sups:  []string{"ops: " + retireAll},
				ds:    []d{{"ops", "resolved", "P2", 15 * m, true}}},
		},
		{
			name: "resolved with nobody told: recorded only",
			inc:  alert.IncidentInfo{ID: 9, Check: "api", Severity: "P1", State: crit, OpenedAt: t0, Muted: "silence #1"},
			ev:   alert.Event{Kind: alert.Resolved, Severity: "P1", State: checks.OK, Message: "ok", At: t0.Add(m)},
			now:  m,
			want: outcome{write: alert.WriteUpdate, sev: "P1", state: crit, resolved: m, next: -1,
				lines: []string{"resolved +1m0s recovered: ok"}},
		},
		{
			name: "acknowledged by hand: told, reminders retired, record saved",
			inc:  openP1(),
			ev:   alert.Event{Kind: alert.Acknowledged, Severity: "P1", At: t0.Add(3 * m), Manual: true, By: "ana", Message: "on it"},
			now:  4 * m,
			want: outcome{write: alert.WriteEscalation, sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1,
				sups: []string{"oncall: reminder", "ops: reminder"},
				ds:   []d{{"oncall", "acknowledged", "P1", 3 * m, false}, {"ops", "acknowledged", "P1", 3 * m, false}}},
		},
		{
			name: "resolved by hand: no timeline line (the CLI wrote it), everything queued retired",
			inc:  with(openP1(), func(i *alert.IncidentInfo) { i.ResolvedAt = t0.Add(6 * m) }),
			ev:   alert.Event{Kind: alert.Resolved, Severity: "P1", At: t0.Add(6 * m), Manual: true, By: "ana"},
			now:  7 * m,
			want: outcome{write: alert.WriteEscalation, sev: "P1", state: crit, told: "oncall,ops", resolved: 6 * m, next: -1,
				sups: []string{"oncall: " + retireAll, "ops: " + retireAll},
				ds:   []d{{"oncall", "resolved", "P1", 6 * m, false}, {"ops", "resolved", "P1", 6 * m, false}}},
		},
		{
			name: "flapping with an incident: timeline line, notified, no write",
			inc:  openP1(),
			ev:   alert.Event{Kind: alert.Flapping, Severity: "P1", Message: "5 changes in 1h", At: t0.Add(m)},
			now:  m,
			want: outcome{sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1,
				lines: []string{"flapping +1m0s 5 changes in 1h"},
				ds:    []d{{"oncall", "flapping", "P1", m, false}, {"ops", "flapping", "P1", m, false}}},
		},
		{
			name: "flapping without an incident: notified about the check only",
			inc:  alert.IncidentInfo{Check: "db"},
			ev:   alert.Event{Kind: alert.Flapping, Severity: "P2", Message: "5 changes in 1h", At: t0},
			want: outcome{resolved: -1, next: -1, ds: []d{{"ops", "flapping", "P2", 15 * m, true}}},
		},
		{
			name: "flapping ended: an incident held back is announced",
			inc:  alert.IncidentInfo{ID: 3, Check: "api", Severity: "P1", State: crit, OpenedAt: t0, Flapping: true},
			ev:   alert.Event{Kind: alert.FlappingEnded, At: t0.Add(30 * m)},
			now:  30 * m,
			want: outcome{write: alert.WriteUpdate, sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1,
				ds: []d{{"oncall", "opened", "P1", 30 * m, false}, {"ops", "opened", "P1", 30 * m, false}}},
		},
		{
			name: "flapping ended without an incident: nothing",
			inc:  alert.IncidentInfo{Check: "api"},
			ev:   alert.Event{Kind: alert.FlappingEnded, At: t0},
			want: outcome{resolved: -1, next: -1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reduceOutcome(alert.Apply(tt.inc, tt.ev, applyPlan(), t0.Add(tt.now)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Apply:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestApplyNotesOfManualEvents(t *testing.T) {
	ack := alert.Apply(openP1(), alert.Event{Kind: alert.Acknowledged, Severity: "P1", At: t0, Manual: true, By: "ana", Message: "on it"}, applyPlan(), t0)
	res := alert.Apply(openP1(), alert.Event{Kind: alert.Resolved, Severity: "P1", At: t0, Manual: true, By: "bo"}, applyPlan(), t0)
	bare := alert.Apply(openP1(), alert.Event{Kind: alert.Acknowledged, Severity: "P1", At: t0, Manual: true, By: "cy"}, applyPlan(), t0)
	for _, c := range []struct {
		o    alert.Outcome
		want string
	}{{ack, "acknowledged by ana: on it"}, {res, "resolved by hand by bo"}, {bare, "acknowledged by cy"}} {
		if len(c.o.Deliveries) == 0 {
			t.Fatalf("no deliveries for %q", c.want)
		}
		for _, d := range c.o.Deliveries {
			if d.Note != c.want {
				t.Errorf("note %q, want %q", d.Note, c.want)
			}
		}
	}
}

func TestTimer(t *testing.T) {
	m := time.Minute
	tests := []struct {
		name     string
		inc      alert.IncidentInfo
		muted    string
		flapping bool
		now      time.Duration
		want     outcome
	}{
		{
			name: "nothing due: no write, next is the escalation step",
			inc:  openP1(), now: 10 * m,
			want: outcome{sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: 15 * m},
		},
		{
			name: "escalation step due: team told, timeline line",
			inc:  openP1(), now: 15 * m,
			want: outcome{write: alert.WriteEscalation, sev: "P1", state: crit, told: "oncall,ops,team", resolved: -1, next: 15 * m,
				lines: []string{"escalated +15m0s step 1 → team: unacknowledged for 15m"},
				ds:    []d{{"team", "escalated", "P1", 15 * m, false}}},
		},
		{
			name: "reminder and step due together",
			inc:  openP1(), now: 30 * m,
			want: outcome{write: alert.WriteEscalation, sev: "P1", state: crit, told: "oncall,ops,team", resolved: -1, next: 15 * m,
				lines: []string{"reminded +30m0s oncall: still open, unacknowledged for 30m", "reminded +30m0s ops: still open, unacknowledged for 30m",
					"escalated +30m0s step 1 → team: unacknowledged for 15m"},
				ds: []d{{"oncall", "reminder", "P1", 30 * m, false}, {"ops", "reminder", "P1", 30 * m, false}, {"team", "escalated", "P1", 30 * m, false}}},
		},
		{
			name: "acknowledged: nothing due",
			inc:  with(openP1(), func(i *alert.IncidentInfo) { i.AckedAt = t0.Add(m) }), now: time.Hour,
			want: outcome{sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1},
		},
		{
			name: "mute begins: silenced line and the record saved, nothing due",
			inc:  openP1(), muted: "silence #4", now: 20 * m,
			want: outcome{write: alert.WriteEscalation, sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1,
				lines: []string{"silenced +20m0s silence #4"}},
		},
		{
			name: "still muted: nothing",
			inc:  with(openP1(), func(i *alert.IncidentInfo) { i.Muted = "silence #4" }), muted: "silence #4", now: time.Hour,
			want: outcome{sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1},
		},
		{
			name: "flapping: nothing due",
			inc:  openP1(), flapping: true, now: time.Hour,
			want: outcome{sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1},
		},
		{
			name: "mute ended on an incident nobody was told of: caught up",
			inc:  alert.IncidentInfo{ID: 5, Check: "api", Severity: "P1", State: crit, OpenedAt: t0, Muted: "silence #4"},
			now:  40 * m,
			want: outcome{write: alert.WriteEscalation, sev: "P1", state: crit, told: "oncall,ops", resolved: -1, next: -1,
				ds: []d{{"oncall", "opened", "P1", 40 * m, false}, {"ops", "opened", "P1", 40 * m, false}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reduceOutcome(alert.Timer(tt.inc, tt.muted, tt.flapping, applyPlan(), t0.Add(tt.now)))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Timer:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
