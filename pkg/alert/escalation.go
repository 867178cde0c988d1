package alert

import (
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Delivery events: the words of a notification's event (notify.Item.Event,
// the webhook's "event" field, the outbox's event column). They are the only
// definition: pkg/notify and its integrations use these.
const (
	DeliverOpened       = "opened"
	DeliverRaised       = "raised"
	DeliverResolved     = "resolved"
	DeliverAcknowledged = "acknowledged"
	DeliverEscalated    = "escalated"
	DeliverReminder     = "reminder"
	DeliverFlapping     = "flapping"
)

// Plan is the escalation matrix: one config.Escalation per severity, with
// the README's defaults ("Incidents and notifications") to every configured
// notifier for severities the config leaves out (P1 within 0s repeat 30m, P2 within 15m, P3 within 1h, P4
// digest). A block's empty notify is kept: config.Load fills an absent one
// and "notify = []" mutes the severity.
type Plan struct {
	bySeverity map[string]config.Escalation
	all        []string
}

// NewPlan builds the matrix of cfg. config.Load has already filled every
// block; the defaults here serve configs built in code.
func NewPlan(cfg *config.Config) Plan {
	p := Plan{bySeverity: make(map[string]config.Escalation, len(config.Severities))}
	for _, n := range cfg.Notifiers {
		p.all = append(p.all, n.Name)
	}
	for _, sev := range config.Severities {
		e, ok := cfg.Escalation[sev]
		if !ok {
			e = DefaultEscalation(sev)
			if !e.Digest {
				e.Notify = p.all
			}
		}
		p.bySeverity[sev] = e
	}
	return p
}

// For returns the escalation block of severity sev. An unrecognised severity
// (the validator should have refused it) gets every notifier at once: an
// alert sent too loudly beats one lost.
func (p Plan) For(sev string) config.Escalation {
	if e, ok := p.bySeverity[sev]; ok {
		return e
	}
	return config.Escalation{Notify: p.all}
}

// DefaultEscalation is the README's default block for sev when the config has none; its
// Notify is empty, meaning every notifier.
func DefaultEscalation(sev string) config.Escalation {
	switch sev {
	case "P1":
		return config.Escalation{Repeat: config.Duration(30 * time.Minute)}
	case "P2":
		return config.Escalation{Within: config.Duration(15 * time.Minute)}
	case "P3":
		return config.Escalation{Within: config.Duration(time.Hour)}
	}
	return config.Escalation{Digest: true}
}

// IncidentInfo is what the escalation functions need to know about one
// incident. The store keeps it (as columns or JSON); the caller fills Muted
// and Flapping fresh each time, and updates the rest with Record after
// writing the outbox rows of the deliveries it was given.
type IncidentInfo struct {
	ID         int64
	Check      string
	Severity   string       // current severity (raised incidents: the raised one)
	State      checks.State // worst state seen
	OpenedAt   time.Time
	AckedAt    time.Time // zero while unacknowledged
	ResolvedAt time.Time // zero while open

	// Muted is why notifications are held right now (Suppressor.Reason):
	// a silence, a maintenance window or a crit dependency; "" when none.
	Muted string
	// Flapping is the check's CheckState.Flapping, now.
	Flapping bool

	// Told lists the notifiers given the incident (opened, raised or an
	// escalation step): the ones a resolve or an ack goes to. A notifier
	// whose row is still queued counts as told; the dispatcher renders the
	// incident as it is when the row goes out.
	Told []string
	// AnnouncedSeverity is the severity of the latest opened/raised
	// notification, "" while nobody was told.
	AnnouncedSeverity string
	// AnnouncedAt is when that notification was due: repeats and escalation
	// steps count from it, so that a muted incident announced late does not
	// escalate the moment it is first heard of.
	AnnouncedAt time.Time
	// LastNotifiedAt is when the latest opened, raised or reminder
	// notification was due; the next reminder is due Repeat after it.
	LastNotifiedAt time.Time
	// Escalated lists the escalation steps already notified (1-based
	// indexes into Escalation.Escalate), since the latest announcement.
	Escalated []int
}

// open reports whether the incident is neither resolved nor acknowledged,
// i.e. whether reminders and escalation apply to it.
func (inc *IncidentInfo) open() bool { return inc.ResolvedAt.IsZero() && inc.AckedAt.IsZero() }

// Delivery is one notification to create: one outbox row.
type Delivery struct {
	Notifier string
	Event    string    // one of the Deliver* constants
	Severity string    // the incident's severity the message announces
	DueAt    time.Time // deadline: send no later than this
	// Batchable says the row may travel with others due for the same
	// notifier (the severity's within is > 0); a 0s within sends each
	// incident alone and at once.
	Batchable bool
	Step      int    // for DeliverEscalated: the 1-based escalation step
	Note      string // a line for the message, e.g. "unacknowledged for 15m"
}

// Deliveries returns the notifications an incident event calls for; esc is
// the block of ev.Severity (Plan.For). Rules:
//
//   - Opened, Raised: to esc.Notify, due ev.At + within. None when the event
//     is Suppressed (flapping), the incident is Muted, or the severity is a
//     digest one (it is listed in the daily digest instead). A held opening
//     is announced later by Catchup.
//   - Resolved, Acknowledged: to every notifier in inc.Told, and nowhere if
//     nobody was told. Even while muted or flapping: a PagerDuty incident
//     that was triggered must be resolved. Due at once, but never before
//     inc.AnnouncedAt, so that an incident resolved before its batch left
//     travels in that batch and is rendered once, as resolved.
//   - Flapping: to esc.Notify, due ev.At + within, unless muted or digest.
//   - FlappingEnded: what Catchup returns for inc (an incident opened while
//     the check flapped is announced now).
//
// Pass the IncidentInfo of the event's incident; for Opened (and Flapping
// without an incident) only Muted and Flapping matter.
func Deliveries(ev Event, inc IncidentInfo, esc config.Escalation, now time.Time) []Delivery {
	batchable := esc.Within > 0
	switch ev.Kind {
	case Opened, Raised:
		if ev.Suppressed != "" || inc.Muted != "" || esc.Digest {
			return nil
		}
		event := DeliverOpened
		if ev.Kind == Raised {
			event = DeliverRaised
		}
		return fanout(nil, esc.Notify, Delivery{Event: event, Severity: ev.Severity,
			DueAt: ev.At.Add(esc.Within.D()), Batchable: batchable})
	case Resolved, Acknowledged:
		event := DeliverResolved
		if ev.Kind == Acknowledged {
			event = DeliverAcknowledged
		}
		sev := ev.Severity
		if sev == "" {
			sev = inc.Severity
		}
		return fanout(nil, inc.Told, Delivery{Event: event, Severity: sev,
			DueAt: latest(ev.At, inc.AnnouncedAt), Batchable: batchable})
	case Flapping:
		if inc.Muted != "" || esc.Digest {
			return nil
		}
		return fanout(nil, esc.Notify, Delivery{Event: DeliverFlapping, Severity: ev.Severity,
			DueAt: ev.At.Add(esc.Within.D()), Batchable: batchable, Note: ev.Message})
	case FlappingEnded:
		return Catchup(inc, esc, now)
	}
	return nil
}

// Catchup announces an open, unacknowledged incident whose notifications
// were held (opened or raised while muted or flapping) once nothing holds
// them any more: "opened" when nobody was told, "raised" when the severity
// rose since the last announcement; nothing otherwise. esc is the block of
// inc.Severity. Deliveries are due at once, but not before OpenedAt + within.
// The caller runs it for open incidents when a mute may have ended (each
// tick is fine: after Record it returns nothing). An IncidentInfo without
// OpenedAt stands for "no incident" and gets nothing.
func Catchup(inc IncidentInfo, esc config.Escalation, now time.Time) []Delivery {
	if inc.OpenedAt.IsZero() || !inc.open() || inc.Muted != "" || inc.Flapping || esc.Digest {
		return nil
	}
	event := DeliverOpened
	switch {
	case inc.AnnouncedSeverity == "":
	case MoreSevere(inc.Severity, inc.AnnouncedSeverity):
		event = DeliverRaised
	default:
		return nil
	}
	return fanout(nil, esc.Notify, Delivery{Event: event, Severity: inc.Severity,
		DueAt: latest(now, inc.OpenedAt.Add(esc.Within.D())), Batchable: esc.Within > 0,
		Note: "held back earlier"})
}

// Due returns the reminders and escalation steps due at now for an incident;
// esc is the block of inc.Severity. A reminder goes to every told notifier
// each Repeat after the latest notification; each escalation step notifies
// its notifiers once, when the incident stayed unacknowledged for After since
// it was announced. Nothing is due for an incident that is acknowledged,
// resolved, muted, flapping, of a digest severity, or not announced yet.
// Deliveries are due now.
func Due(inc IncidentInfo, esc config.Escalation, now time.Time) []Delivery {
	if !inc.remindable(esc) {
		return nil
	}
	var out []Delivery
	batchable := esc.Within > 0
	if esc.Repeat > 0 && !now.Before(inc.lastNotified().Add(esc.Repeat.D())) {
		out = fanout(out, inc.Told, Delivery{Event: DeliverReminder, Severity: inc.Severity, DueAt: now,
			Batchable: batchable, Note: "still open, unacknowledged for " + ui.Setting(now.Sub(inc.OpenedAt).Truncate(time.Minute))})
	}
	for i, step := range esc.Escalate {
		if containsInt(inc.Escalated, i+1) || now.Before(inc.AnnouncedAt.Add(step.After.D())) {
			continue
		}
		out = fanout(out, step.Notify, Delivery{Event: DeliverEscalated, Severity: inc.Severity, DueAt: now,
			Batchable: batchable, Step: i + 1, Note: "unacknowledged for " + ui.Setting(step.After.D())})
	}
	return out
}

// NextDue returns when Due will next have something for inc (a time not
// after now means at once), or the zero time when nothing will come unless
// the incident changes. The dispatcher sleeps until the earliest of these.
func NextDue(inc IncidentInfo, esc config.Escalation) time.Time {
	if !inc.remindable(esc) {
		return time.Time{}
	}
	var next time.Time
	if esc.Repeat > 0 {
		next = inc.lastNotified().Add(esc.Repeat.D())
	}
	for i, step := range esc.Escalate {
		if containsInt(inc.Escalated, i+1) {
			continue
		}
		if t := inc.AnnouncedAt.Add(step.After.D()); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

func (inc *IncidentInfo) remindable(esc config.Escalation) bool {
	return inc.open() && inc.Muted == "" && !inc.Flapping && !esc.Digest && !inc.AnnouncedAt.IsZero()
}

func (inc *IncidentInfo) lastNotified() time.Time { return latest(inc.AnnouncedAt, inc.LastNotifiedAt) }

// Record updates inc after the caller queued ds (from Deliveries, Catchup
// or Due): who was told, what was announced when, which steps fired, when
// the last reminder went. Without it Catchup and Due would return the same
// deliveries again. A raise starts a new escalation ladder: the steps of the
// new severity count from the raise.
func (inc *IncidentInfo) Record(ds []Delivery) {
	for _, d := range ds {
		switch d.Event {
		case DeliverOpened, DeliverRaised:
			if d.Severity != inc.AnnouncedSeverity {
				inc.AnnouncedSeverity = d.Severity
				inc.AnnouncedAt = d.DueAt
				inc.Escalated = nil
			}
			inc.LastNotifiedAt = latest(inc.LastNotifiedAt, d.DueAt)
			inc.addTold(d.Notifier)
		case DeliverEscalated:
			if !containsInt(inc.Escalated, d.Step) {
				inc.Escalated = append(inc.Escalated, d.Step)
			}
			inc.addTold(d.Notifier)
		case DeliverReminder:
			inc.LastNotifiedAt = latest(inc.LastNotifiedAt, d.DueAt)
		}
	}
}

func (inc *IncidentInfo) addTold(n string) {
	if !contains(inc.Told, n) {
		inc.Told = append(inc.Told, n)
	}
}

// fanout appends one copy of d per notifier, skipping repeats.
func fanout(out []Delivery, notifiers []string, d Delivery) []Delivery {
	for i, n := range notifiers {
		if contains(notifiers[:i], n) {
			continue
		}
		d.Notifier = n
		out = append(out, d)
	}
	return out
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
