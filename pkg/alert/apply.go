package alert

import (
	"strconv"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

// Timeline line kinds besides the EventKinds (whose values are timeline
// words too); pkg/store's timeline kinds are these words.
const (
	LineSilenced  = "silenced"
	LineEscalated = "escalated"
	LineReminded  = "reminded"
)

// Write is the write of the incident's row an Outcome needs.
type Write int

const (
	// WriteNone: the row stays as it is.
	WriteNone Write = iota
	// WriteInsert: a new incident (Outcome.Incident, whose ID the store
	// assigns), then its escalation record.
	WriteInsert
	// WriteUpdate: the row's columns (see Report, and a resolve:
	// Incident.ResolvedAt set makes the row resolved) and the escalation
	// record.
	WriteUpdate
	// WriteEscalation: only the escalation record (Outcome.Incident).
	WriteEscalation
)

// Line is one line to append to the incident's timeline.
type Line struct {
	Kind   string // an EventKind's word or a Line* constant
	At     time.Time
	Detail string
}

// Supersede asks to retire the queued, never attempted rows of the incident
// to Notifier whose event is one of Events (Deliver* constants).
type Supersede struct {
	Notifier string
	Events   []string
}

// Outcome is what an incident event or the timer calls for. The caller
// executes it in one transaction, in this order: the insert (WriteInsert),
// the timeline lines, the supersedes, one outbox row per delivery (each
// item dated At), then the row's write.
type Outcome struct {
	Write Write
	// Incident is the incident after the event, the deliveries recorded:
	// the escalation record to save and the columns of WriteUpdate.
	Incident IncidentInfo
	// Report says the row takes Incident's severity and state, Message
	// and the result's value (Opened, Raised).
	Report     bool
	Message    string
	Timeline   []Line
	Supersede  []Supersede
	Deliveries []Delivery
	// At is when the notifications say things happened: the event's time,
	// or now for the timer.
	At time.Time
	// Next is, for Timer, when the next reminder or escalation step is due
	// (NextDue before this tick's deliveries); zero when none will be.
	Next time.Time
}

// retiredBy lists the queued events a later one of kind says everything
// of: a raise retires the announcements still queued (a resolve then
// travels alone, at the opening's deadline, as "resolved after ..."), a
// resolve everything but acknowledgements, an acknowledgement the reminders.
func retiredBy(kind EventKind) []string {
	switch kind {
	case Raised:
		return []string{DeliverOpened, DeliverRaised}
	case Resolved:
		return []string{DeliverOpened, DeliverRaised, DeliverReminder, DeliverEscalated, DeliverFlapping}
	case Acknowledged:
		return []string{DeliverReminder}
	}
	return nil
}

// Apply decides what an incident event means for the incident: the row to
// write, the timeline lines, the queued notifications it retires and the
// ones to queue. inc is the event's incident as stored, with Muted and
// Flapping filled fresh, or, when the check has no unresolved incident (and
// for Opened), an IncidentInfo with only Check, Muted and Flapping.
//
// Events Evaluate produces: Opened creates the incident; Raised, Resolved
// and FlappingEnded concern an open one (nothing without); Flapping is
// notified with or without one. Events with Manual set (Acknowledged, and
// Resolved) announce an acknowledgement or a resolve someone made with the
// CLI, already written to the row: inc is then the stored record as it is
// (Muted and Flapping as last saved).
func Apply(inc IncidentInfo, ev Event, plan Plan, now time.Time) Outcome {
	if ev.Manual {
		return manual(inc, ev, plan, now)
	}
	out := Outcome{At: ev.At}
	switch ev.Kind {
	case Opened:
		info := IncidentInfo{Check: inc.Check, Severity: ev.Severity, State: ev.State, OpenedAt: ev.At,
			Muted: inc.Muted, Flapping: inc.Flapping || ev.Suppressed != ""}
		out.Write, out.Report, out.Message = WriteInsert, true, ev.Message
		out.Timeline = append(out.Timeline, Line{Kind: string(Opened), At: ev.At, Detail: headline(ev)})
		return deliver(out, info, ev, plan, now, nil)
	case Raised, Resolved:
		if inc.ID == 0 {
			return Outcome{}
		}
		out.Write = WriteUpdate
		if ev.Kind == Raised {
			inc.Severity, inc.State = ev.Severity, checks.Worse(inc.State, ev.State)
			out.Report, out.Message = true, ev.Message
			out.Timeline = append(out.Timeline, Line{Kind: string(Raised), At: ev.At, Detail: headline(ev)})
			return deliver(out, inc, ev, plan, now, retiredBy(Raised))
		}
		inc.ResolvedAt = ev.At
		out.Timeline = append(out.Timeline, Line{Kind: string(Resolved), At: ev.At, Detail: "recovered: " + ev.Message})
		return deliver(out, inc, ev, plan, now, retiredBy(Resolved))
	case Flapping:
		inc.Flapping = true
		if inc.ID != 0 {
			out.Timeline = append(out.Timeline, Line{Kind: string(Flapping), At: ev.At, Detail: ev.Message})
		}
		out.Incident = inc
		out.Deliveries = Deliveries(ev, inc, plan.For(ev.Severity), now)
		out.Timeline = append(out.Timeline, deliveryLines(inc.ID, out.Deliveries, ev.At)...)
		return out
	case FlappingEnded:
		if inc.ID == 0 {
			return Outcome{}
		}
		inc.Flapping = false
		out.Write = WriteUpdate
		return deliver(out, inc, Event{Kind: FlappingEnded, Severity: inc.Severity, At: ev.At}, plan, now, nil)
	}
	return Outcome{}
}

// deliver adds to out the notifications of ev for inc, after retiring the
// queued ones of the events in retire, and records them in out.Incident.
func deliver(out Outcome, inc IncidentInfo, ev Event, plan Plan, now time.Time, retire []string) Outcome {
	sev := ev.Severity
	if sev == "" {
		sev = inc.Severity
	}
	if inc.Muted != "" && (ev.Kind == Opened || ev.Kind == Raised) {
		out.Timeline = append(out.Timeline, Line{Kind: LineSilenced, At: ev.At, Detail: inc.Muted})
	}
	ds := Deliveries(ev, inc, plan.For(sev), now)
	out.Supersede = supersedes(ds, retire)
	out.Deliveries = ds
	out.Timeline = append(out.Timeline, deliveryLines(inc.ID, ds, ev.At)...)
	inc.Record(ds)
	out.Incident = inc
	return out
}

// manual is Apply for an acknowledgement or a resolve made by hand: it tells
// the notifiers told of the incident, retiring what the ack or resolve
// makes moot, and saves the escalation record.
func manual(inc IncidentInfo, ev Event, plan Plan, now time.Time) Outcome {
	var note string
	switch ev.Kind {
	case Acknowledged:
		note = "acknowledged by " + ev.By
		if ev.Message != "" {
			note += ": " + ev.Message
		}
	case Resolved:
		note = "resolved by hand by " + ev.By
	default:
		return Outcome{}
	}
	ds := Deliveries(ev, inc, plan.For(inc.Severity), now)
	for i := range ds {
		ds[i].Note = note
	}
	return Outcome{Write: WriteEscalation, Incident: inc, At: ev.At, Deliveries: ds,
		Supersede: supersedes(ds, retiredBy(ev.Kind)), Timeline: deliveryLines(inc.ID, ds, ev.At)}
}

// Timer decides what the timer does for an open incident: announce it if a
// mute or flapping that held it ended (Catchup), send the reminders and
// escalation steps due (Due), note a mute that began. inc is the incident as
// stored; muted and flapping are what holds it now (Suppressor.Reason, the
// check's CheckState.Flapping). Write is WriteNone when there is nothing to
// do; Next says when there will be.
func Timer(inc IncidentInfo, muted string, flapping bool, plan Plan, now time.Time) Outcome {
	stored := inc.Muted
	inc.Muted, inc.Flapping = muted, flapping
	esc := plan.For(inc.Severity)
	out := Outcome{At: now, Next: NextDue(inc, esc)}
	if muted != stored && muted != "" {
		out.Timeline = append(out.Timeline, Line{Kind: LineSilenced, At: now, Detail: muted})
	}
	ds := Catchup(inc, esc, now)
	inc.Record(ds)
	due := Due(inc, esc, now)
	inc.Record(due)
	ds = append(ds, due...)
	if len(ds) == 0 && muted == stored {
		return Outcome{Next: out.Next, Incident: inc}
	}
	out.Write, out.Incident, out.Deliveries = WriteEscalation, inc, ds
	out.Timeline = append(out.Timeline, deliveryLines(inc.ID, ds, now)...)
	return out
}

// headline is the timeline line of an opening or a raise.
func headline(ev Event) string {
	return ev.Severity + " " + ev.State.String() + ": " + ev.Message
}

// supersedes asks, for each notifier of ds, to retire its queued rows of
// the events in retire.
func supersedes(ds []Delivery, retire []string) []Supersede {
	if retire == nil {
		return nil
	}
	out := make([]Supersede, 0, len(ds))
	for _, d := range ds {
		out = append(out, Supersede{Notifier: d.Notifier, Events: retire})
	}
	return out
}

// deliveryLines are the timeline lines of escalation steps and reminders
// among ds, none for no incident (id 0).
func deliveryLines(id int64, ds []Delivery, at time.Time) []Line {
	if id == 0 {
		return nil
	}
	var out []Line
	for _, d := range ds {
		switch d.Event {
		case DeliverEscalated:
			out = append(out, Line{Kind: LineEscalated, At: at, Detail: "step " + strconv.Itoa(d.Step) + " → " + d.Notifier + ": " + d.Note})
		case DeliverReminder:
			out = append(out, Line{Kind: LineReminded, At: at, Detail: d.Notifier + ": " + d.Note})
		}
	}
	return out
}
