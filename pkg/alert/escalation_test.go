package alert_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
)

func notifiers(names ...string) []config.Notifier {
	out := make([]config.Notifier, len(names))
	for i, n := range names {
		out[i] = config.Notifier{Name: n, Type: "webhook"}
	}
	return out
}

// defaultPlan has three notifiers and no [escalation] blocks: the defaults.
func defaultPlan() alert.Plan {
	return alert.NewPlan(&config.Config{Notifiers: notifiers("oncall", "ops", "team")})
}

// specP1 is the [escalation.P1] block of pulse.example.toml.
func specP1() config.Escalation {
	return config.Escalation{
		Notify: []string{"oncall", "ops"},
		Repeat: config.Duration(30 * time.Minute),
		Escalate: []config.EscalationStep{
			{After: config.Duration(15 * time.Minute), Notify: []string{"team"}},
		},
	}
}

// d is a delivery reduced to what the tables compare: due is relative to t0.
type d struct {
	notifier, event, sev string
	due                  time.Duration
	batchable            bool
}

func reduce(ds []alert.Delivery) []d {
	var out []d
	for _, x := range ds {
		out = append(out, d{x.Notifier, x.Event, x.Severity, x.DueAt.Sub(t0), x.Batchable})
	}
	return out
}

func TestPlan(t *testing.T) {
	p := defaultPlan()
	all := []string{"oncall", "ops", "team"}
	tests := []struct {
		sev            string
		within, repeat time.Duration
		digest         bool
		notify         []string
	}{
		{"P1", 0, 30 * time.Minute, false, all},
		{"P2", 15 * time.Minute, 0, false, all},
		{"P3", time.Hour, 0, false, all},
		{"P4", 0, 0, true, nil},
		{"P9", 0, 0, false, all}, // unknown: loud rather than lost
	}
	for _, tt := range tests {
		t.Run(tt.sev, func(t *testing.T) {
			e := p.For(tt.sev)
			if e.Within.D() != tt.within || e.Repeat.D() != tt.repeat || e.Digest != tt.digest || !slices.Equal(e.Notify, tt.notify) {
				t.Errorf("For(%s) = %+v", tt.sev, e)
			}
		})
	}
	t.Run("configured blocks are kept, notify = [] mutes", func(t *testing.T) {
		p := alert.NewPlan(&config.Config{Notifiers: notifiers("oncall", "ops", "team"),
			Escalation: map[string]config.Escalation{"P1": specP1(), "P3": {Within: config.Duration(time.Hour), Notify: []string{}}}})
		if e := p.For("P1"); !slices.Equal(e.Notify, []string{"oncall", "ops"}) || len(e.Escalate) != 1 {
			t.Errorf("P1 = %+v", e)
		}
		if e := p.For("P3"); len(e.Notify) != 0 {
			t.Errorf("P3 = %+v, want muted", e)
		}
		if e := p.For("P2"); e.Within.D() != 15*time.Minute || len(e.Notify) != 3 {
			t.Errorf("P2 (absent) = %+v, want the default", e)
		}
	})
}

func TestDeliveriesForEvents(t *testing.T) {
	p := defaultPlan()
	opened := func(sev string) alert.Event {
		return alert.Event{Kind: alert.Opened, Severity: sev, State: crit, At: t0}
	}
	tests := []struct {
		name string
		ev   alert.Event
		inc  alert.IncidentInfo
		esc  config.Escalation // zero: p.For(ev.Severity)
		want []d
	}{
		{"P1 at once, each alone", opened("P1"), alert.IncidentInfo{}, config.Escalation{}, []d{
			{"oncall", "opened", "P1", 0, false}, {"ops", "opened", "P1", 0, false}, {"team", "opened", "P1", 0, false}}},
		{"P2 within 15m, batchable", opened("P2"), alert.IncidentInfo{}, config.Escalation{}, []d{
			{"oncall", "opened", "P2", 15 * time.Minute, true}, {"ops", "opened", "P2", 15 * time.Minute, true}, {"team", "opened", "P2", 15 * time.Minute, true}}},
		{"P3 within 1h", opened("P3"), alert.IncidentInfo{}, config.Escalation{}, []d{
			{"oncall", "opened", "P3", time.Hour, true}, {"ops", "opened", "P3", time.Hour, true}, {"team", "opened", "P3", time.Hour, true}}},
		{"P4 never alone: digest", opened("P4"), alert.IncidentInfo{}, config.Escalation{}, nil},
		{"configured notify list, duplicates once", opened("P1"), alert.IncidentInfo{},
			config.Escalation{Notify: []string{"oncall", "ops", "oncall"}}, []d{{"oncall", "opened", "P1", 0, false}, {"ops", "opened", "P1", 0, false}}},
		{"muted severity (notify = [])", opened("P2"), alert.IncidentInfo{}, config.Escalation{Notify: []string{}, Within: config.Duration(time.Minute)}, nil},
		{"suppressed by flapping", alert.Event{Kind: alert.Opened, Severity: "P1", At: t0, Suppressed: alert.SuppressedFlapping},
			alert.IncidentInfo{}, config.Escalation{}, nil},
		{"held by maintenance", opened("P1"), alert.IncidentInfo{Muted: "maintenance"}, config.Escalation{}, nil},
		{"raised to P1 at once", alert.Event{Kind: alert.Raised, Severity: "P1", At: t0.Add(10 * time.Minute)},
			alert.IncidentInfo{Severity: "P1", Told: []string{"ops"}}, specP1(), []d{
				{"oncall", "raised", "P1", 10 * time.Minute, false}, {"ops", "raised", "P1", 10 * time.Minute, false}}},
		{"raise while dependency down", alert.Event{Kind: alert.Raised, Severity: "P1", At: t0},
			alert.IncidentInfo{Muted: "dependency db is crit"}, config.Escalation{}, nil},
		{"resolve to exactly the told notifiers", alert.Event{Kind: alert.Resolved, Severity: "P1", At: t0.Add(time.Hour)},
			alert.IncidentInfo{Told: []string{"ops", "team"}, AnnouncedAt: t0}, specP1(), []d{
				{"ops", "resolved", "P1", time.Hour, false}, {"team", "resolved", "P1", time.Hour, false}}},
		{"resolve before the batch left rides with it", alert.Event{Kind: alert.Resolved, Severity: "P2", At: t0.Add(5 * time.Minute)},
			alert.IncidentInfo{Told: []string{"ops"}, AnnouncedAt: t0.Add(15 * time.Minute)}, config.Escalation{}, []d{
				{"ops", "resolved", "P2", 15 * time.Minute, true}}},
		{"resolve of an incident nobody heard of", alert.Event{Kind: alert.Resolved, Severity: "P1", At: t0},
			alert.IncidentInfo{}, config.Escalation{}, nil},
		{"resolve goes out even while muted or flapping", alert.Event{Kind: alert.Resolved, Severity: "P1", At: t0, Suppressed: alert.SuppressedFlapping},
			alert.IncidentInfo{Told: []string{"oncall"}, Muted: "silence #1", Flapping: true}, config.Escalation{}, []d{{"oncall", "resolved", "P1", 0, false}}},
		{"ack to the told notifiers, severity from the incident", alert.Event{Kind: alert.Acknowledged, At: t0.Add(3 * time.Minute)},
			alert.IncidentInfo{Severity: "P1", Told: []string{"oncall", "ops", "team"}}, config.Escalation{}, []d{
				{"oncall", "acknowledged", "P1", 3 * time.Minute, false}, {"ops", "acknowledged", "P1", 3 * time.Minute, false},
				{"team", "acknowledged", "P1", 3 * time.Minute, false}}},
		{"one flapping notice", alert.Event{Kind: alert.Flapping, Severity: "P2", At: t0, Message: "changed state 5 times within 1h"},
			alert.IncidentInfo{}, config.Escalation{}, []d{
				{"oncall", "flapping", "P2", 15 * time.Minute, true}, {"ops", "flapping", "P2", 15 * time.Minute, true}, {"team", "flapping", "P2", 15 * time.Minute, true}}},
		{"flapping notice of a silenced check", alert.Event{Kind: alert.Flapping, Severity: "P1", At: t0},
			alert.IncidentInfo{Muted: "silence #2"}, config.Escalation{}, nil},
		{"flapping of a digest check", alert.Event{Kind: alert.Flapping, Severity: "P4", At: t0}, alert.IncidentInfo{}, config.Escalation{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			esc := tt.esc
			if esc.Notify == nil && esc.Within == 0 && esc.Repeat == 0 {
				esc = p.For(tt.ev.Severity)
				if tt.ev.Kind == alert.Acknowledged {
					esc = p.For(tt.inc.Severity)
				}
			}
			got := reduce(alert.Deliveries(tt.ev, tt.inc, esc, t0))
			if !slices.Equal(got, tt.want) {
				t.Errorf("deliveries:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// timeline drives an incident the way the dispatcher does: sleep until
// NextDue, take what Due returns, Record it; ack at ackAt (if set).
func timeline(t *testing.T, inc *alert.IncidentInfo, esc config.Escalation, ackAt, until time.Duration) []string {
	t.Helper()
	var got []string
	for i := 0; i < 100; i++ {
		next := alert.NextDue(*inc, esc)
		if ackAt > 0 && inc.AckedAt.IsZero() && (next.IsZero() || !next.Before(t0.Add(ackAt))) {
			inc.AckedAt = t0.Add(ackAt)
			continue
		}
		if next.IsZero() || next.After(t0.Add(until)) {
			return got
		}
		if early := alert.Due(*inc, esc, next.Add(-time.Second)); early != nil {
			t.Fatalf("Due a second before NextDue %v returned %+v", next, early)
		}
		ds := alert.Due(*inc, esc, next)
		if len(ds) == 0 {
			t.Fatalf("NextDue said %v but Due returned nothing", next)
		}
		for _, x := range ds {
			got = append(got, fmt.Sprintf("%s %s %s", x.DueAt.Sub(t0), x.Event, x.Notifier))
		}
		inc.Record(ds)
	}
	t.Fatal("timeline did not settle")
	return nil
}

func announcedP1(t *testing.T, esc config.Escalation) alert.IncidentInfo {
	t.Helper()
	inc := alert.IncidentInfo{ID: 1, Check: "api", Severity: "P1", State: crit, OpenedAt: t0}
	ds := alert.Deliveries(alert.Event{Kind: alert.Opened, Severity: "P1", State: crit, At: t0}, inc, esc, t0)
	inc.Record(ds)
	if !slices.Equal(inc.Told, []string{"oncall", "ops"}) || !inc.AnnouncedAt.Equal(t0) || inc.AnnouncedSeverity != "P1" {
		t.Fatalf("after Record: %+v", inc)
	}
	return inc
}

func TestRemindersAndEscalation(t *testing.T) {
	tests := []struct {
		name  string
		ackAt time.Duration
		want  []string
	}{
		{"repeat every 30m, escalate once after 15m", 0, []string{
			"15m0s escalated team",
			"30m0s reminder oncall", "30m0s reminder ops", "30m0s reminder team",
			"1h0m0s reminder oncall", "1h0m0s reminder ops", "1h0m0s reminder team",
			"1h30m0s reminder oncall", "1h30m0s reminder ops", "1h30m0s reminder team",
		}},
		{"ack after the escalation stops the reminders", 20 * time.Minute, []string{"15m0s escalated team"}},
		{"ack before 15m stops both", 10 * time.Minute, nil},
		{"ack after the first reminder", 45 * time.Minute, []string{
			"15m0s escalated team", "30m0s reminder oncall", "30m0s reminder ops", "30m0s reminder team"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			esc := specP1()
			inc := announcedP1(t, esc)
			got := timeline(t, &inc, esc, tt.ackAt, 100*time.Minute)
			if !slices.Equal(got, tt.want) {
				t.Errorf("timeline:\n got %q\nwant %q", got, tt.want)
			}
			if tt.ackAt > 0 {
				if n := alert.NextDue(inc, esc); !n.IsZero() {
					t.Errorf("NextDue after ack = %v, want none", n)
				}
				if ds := alert.Due(inc, esc, t0.Add(10*time.Hour)); ds != nil {
					t.Errorf("Due after ack = %+v", ds)
				}
				ack := alert.Deliveries(alert.Event{Kind: alert.Acknowledged, At: inc.AckedAt}, inc, esc, inc.AckedAt)
				wantTold := len(inc.Told)
				if len(ack) != wantTold {
					t.Errorf("ack deliveries %+v, want one per told notifier %v", ack, inc.Told)
				}
			}
		})
	}
}

func TestDueHolds(t *testing.T) {
	esc := specP1()
	late := t0.Add(3 * time.Hour)
	tests := []struct {
		name   string
		modify func(*alert.IncidentInfo)
		esc    config.Escalation
	}{
		{"resolved", func(i *alert.IncidentInfo) { i.ResolvedAt = t0.Add(time.Minute) }, esc},
		{"acknowledged", func(i *alert.IncidentInfo) { i.AckedAt = t0.Add(time.Minute) }, esc},
		{"in maintenance", func(i *alert.IncidentInfo) { i.Muted = "maintenance" }, esc},
		{"flapping", func(i *alert.IncidentInfo) { i.Flapping = true }, esc},
		{"never announced", func(i *alert.IncidentInfo) { *i = alert.IncidentInfo{Severity: "P1", OpenedAt: t0} }, esc},
		{"digest severity", func(*alert.IncidentInfo) {}, config.Escalation{Digest: true, Repeat: config.Duration(time.Minute)}},
		{"no repeat, no steps (P2 default)", func(*alert.IncidentInfo) {}, alert.DefaultEscalation("P2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := announcedP1(t, esc)
			tt.modify(&inc)
			if ds := alert.Due(inc, tt.esc, late); ds != nil {
				t.Errorf("Due = %+v, want nothing", ds)
			}
			if n := alert.NextDue(inc, tt.esc); !n.IsZero() {
				t.Errorf("NextDue = %v, want zero", n)
			}
		})
	}
}

func TestDueAfterDowntimeSendsOneReminder(t *testing.T) {
	esc := specP1()
	esc.Escalate = nil
	inc := announcedP1(t, esc)
	now := t0.Add(3*time.Hour + 7*time.Minute) // the agent was down for hours
	ds := alert.Due(inc, esc, now)
	if len(ds) != 2 || !ds[0].DueAt.Equal(now) {
		t.Fatalf("Due = %+v, want one reminder per told notifier, due now", ds)
	}
	inc.Record(ds)
	if again := alert.Due(inc, esc, now.Add(time.Minute)); again != nil {
		t.Errorf("Due right after = %+v, want nothing", again)
	}
	if n := alert.NextDue(inc, esc); !n.Equal(now.Add(30 * time.Minute)) {
		t.Errorf("NextDue = %v, want %v", n, now.Add(30*time.Minute))
	}
}

func TestCatchup(t *testing.T) {
	p := alert.NewPlan(&config.Config{Notifiers: notifiers("oncall", "ops", "team"),
		Escalation: map[string]config.Escalation{"P1": specP1()}})
	tests := []struct {
		name string
		inc  alert.IncidentInfo
		now  time.Duration
		want []d
	}{
		{"opened during maintenance, window over", alert.IncidentInfo{Severity: "P1", OpenedAt: t0}, time.Hour, []d{
			{"oncall", "opened", "P1", time.Hour, false}, {"ops", "opened", "P1", time.Hour, false}}},
		{"P2 held 5m still waits for its deadline", alert.IncidentInfo{Severity: "P2", OpenedAt: t0}, 5 * time.Minute, []d{
			{"oncall", "opened", "P2", 15 * time.Minute, true}, {"ops", "opened", "P2", 15 * time.Minute, true}, {"team", "opened", "P2", 15 * time.Minute, true}}},
		{"raised while muted", alert.IncidentInfo{Severity: "P1", OpenedAt: t0, AnnouncedSeverity: "P2", Told: []string{"ops"}, AnnouncedAt: t0}, time.Hour, []d{
			{"oncall", "raised", "P1", time.Hour, false}, {"ops", "raised", "P1", time.Hour, false}}},
		{"already announced", alert.IncidentInfo{Severity: "P1", OpenedAt: t0, AnnouncedSeverity: "P1", Told: []string{"ops"}}, time.Hour, nil},
		{"still muted", alert.IncidentInfo{Severity: "P1", OpenedAt: t0, Muted: "maintenance"}, time.Hour, nil},
		{"still flapping", alert.IncidentInfo{Severity: "P1", OpenedAt: t0, Flapping: true}, time.Hour, nil},
		{"acknowledged meanwhile", alert.IncidentInfo{Severity: "P1", OpenedAt: t0, AckedAt: t0}, time.Hour, nil},
		{"resolved meanwhile", alert.IncidentInfo{Severity: "P1", OpenedAt: t0, ResolvedAt: t0}, time.Hour, nil},
		{"digest", alert.IncidentInfo{Severity: "P4", OpenedAt: t0}, time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(tt.now)
			ds := alert.Catchup(tt.inc, p.For(tt.inc.Severity), now)
			if got := reduce(ds); !slices.Equal(got, tt.want) {
				t.Fatalf("Catchup:\n got %+v\nwant %+v", got, tt.want)
			}
			inc := tt.inc
			inc.Record(ds)
			if again := alert.Catchup(inc, p.For(inc.Severity), now.Add(time.Minute)); again != nil {
				t.Errorf("Catchup after Record = %+v, want nothing", again)
			}
		})
	}

	t.Run("escalation counts from the late announcement", func(t *testing.T) {
		inc := alert.IncidentInfo{Severity: "P1", OpenedAt: t0}
		esc := p.For("P1")
		if ds := alert.Deliveries(alert.Event{Kind: alert.Opened, Severity: "P1", At: t0}, alert.IncidentInfo{Muted: "maintenance"}, esc, t0); ds != nil {
			t.Fatalf("muted opening delivered: %+v", ds)
		}
		inc.Record(alert.Catchup(inc, esc, t0.Add(time.Hour)))
		got := timeline(t, &inc, esc, 0, 100*time.Minute)
		want := []string{"1h15m0s escalated team", "1h30m0s reminder oncall", "1h30m0s reminder ops", "1h30m0s reminder team"}
		if !slices.Equal(got, want) {
			t.Errorf("timeline:\n got %q\nwant %q", got, want)
		}
	})

	t.Run("FlappingEnded announces the incident opened while flapping", func(t *testing.T) {
		inc := alert.IncidentInfo{Severity: "P1", OpenedAt: t0}
		ev := alert.Event{Kind: alert.FlappingEnded, Severity: "P1", At: t0.Add(2 * time.Hour)}
		got := reduce(alert.Deliveries(ev, inc, p.For("P1"), ev.At))
		want := []d{{"oncall", "opened", "P1", 2 * time.Hour, false}, {"ops", "opened", "P1", 2 * time.Hour, false}}
		if !slices.Equal(got, want) {
			t.Errorf("deliveries:\n got %+v\nwant %+v", got, want)
		}
		if ds := alert.Deliveries(ev, alert.IncidentInfo{}, p.For("P1"), ev.At); ds != nil {
			t.Errorf("FlappingEnded without an incident: %+v, want nothing", ds)
		}
	})
}

func TestRecordRaiseStartsNewLadder(t *testing.T) {
	p2 := config.Escalation{Notify: []string{"ops"}, Within: config.Duration(15 * time.Minute),
		Escalate: []config.EscalationStep{{After: config.Duration(time.Hour), Notify: []string{"lead"}}}}
	p1 := specP1()
	inc := alert.IncidentInfo{Severity: "P2", OpenedAt: t0}
	inc.Record(alert.Deliveries(alert.Event{Kind: alert.Opened, Severity: "P2", At: t0}, inc, p2, t0))
	if !inc.AnnouncedAt.Equal(t0.Add(15*time.Minute)) || !alert.NextDue(inc, p2).Equal(t0.Add(75*time.Minute)) {
		t.Fatalf("P2 announced %v, next %v", inc.AnnouncedAt, alert.NextDue(inc, p2))
	}
	inc.Record(alert.Due(inc, p2, t0.Add(75*time.Minute)))
	if !slices.Equal(inc.Escalated, []int{1}) || !slices.Contains(inc.Told, "lead") {
		t.Fatalf("after the P2 step: %+v", inc)
	}
	inc.Severity = "P1"
	raise := alert.Deliveries(alert.Event{Kind: alert.Raised, Severity: "P1", At: t0.Add(80 * time.Minute)}, inc, p1, t0.Add(80*time.Minute))
	inc.Record(raise)
	if inc.Escalated != nil || inc.AnnouncedSeverity != "P1" || !inc.AnnouncedAt.Equal(t0.Add(80*time.Minute)) {
		t.Fatalf("after raise: %+v", inc)
	}
	if n := alert.NextDue(inc, p1); !n.Equal(t0.Add(95 * time.Minute)) {
		t.Errorf("NextDue after raise = %v, want the P1 step 15m after the raise", n)
	}
	want := []string{"ops", "lead", "oncall"}
	if !slices.Equal(inc.Told, want) {
		t.Errorf("Told = %v, want %v", inc.Told, want)
	}
}

// The Deliver* words travel in every webhook's "event" field and in the
// outbox: they must not change.
func TestDeliveryEventWords(t *testing.T) {
	pairs := [][2]string{
		{alert.DeliverOpened, "opened"}, {alert.DeliverRaised, "raised"},
		{alert.DeliverResolved, "resolved"}, {alert.DeliverAcknowledged, "acknowledged"},
		{alert.DeliverEscalated, "escalated"}, {alert.DeliverReminder, "reminder"},
		{alert.DeliverFlapping, "flapping"},
	}
	for _, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("delivery event %q, want %q", p[0], p[1])
		}
	}
}
