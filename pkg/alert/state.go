// Package alert is pulse's incident engine: pure functions over values that
// turn check results into incident events (Evaluate), decide whether those
// events may be notified (Suppressor), to whom and by when (Plan, Deliveries,
// Catchup, Due) and how due notifications are merged per channel (Batch).
//
// Nothing here touches the clock, the network or the database: every function
// takes the current time as an argument, so the caller (the agent) decides
// when things happen and tests run without sleeping.
//
// The agent's loop, per result:
//
//	next, events := alert.Evaluate(prev, res, policy, now)
//	// in one transaction: store the result and next (JSON), then for each event:
//	//   read the event's incident (none for Opened), fill its Muted
//	//   (sup.Reason) and Flapping, out := alert.Apply(inc, ev, plan, now),
//	//   and execute out: insert or update the incident, add its timeline
//	//   lines, supersede queued rows, insert one outbox row per delivery.
//
// and, on a timer (Outcome.Next tells when), for every open incident:
// alert.Timer (Catchup announces incidents whose mute or flapping ended,
// Due the reminders and escalation steps), executed the same way. An
// acknowledgement or a resolve made with the CLI is an Event with Manual set.
package alert

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Defaults for flapping detection when [agent] leaves them out (README,
// "Incidents and notifications").
const (
	DefaultFlapChanges = 5
	DefaultFlapWindow  = time.Hour
)

// SuppressedFlapping is Event.Suppressed for incident events of a flapping check.
const SuppressedFlapping = "flapping"

// EventKind names what happened to a check's incident. The values are the
// words the store uses in an incident's timeline.
type EventKind string

// The kinds of Event. Evaluate produces all but Acknowledged, which the
// caller builds when someone runs `pulse ack` (to ask Deliveries for the
// acknowledge notifications); a manual `pulse resolve` is a Resolved the
// caller builds the same way.
const (
	Opened        EventKind = "opened"
	Raised        EventKind = "raised"
	Resolved      EventKind = "resolved"
	Acknowledged  EventKind = "acknowledged"
	Flapping      EventKind = "flapping"
	FlappingEnded EventKind = "flapping_ended"
)

// Event is one thing that happened to a check's incident (or, for Flapping
// and FlappingEnded, to the check itself).
type Event struct {
	Kind     EventKind
	Severity string       // the incident's severity after the event (Flapping: the check's crit severity)
	State    checks.State // the state behind it: the worst of the streak for Opened, ok for Resolved
	Message  string       // the result's message, or why (Flapping)
	At       time.Time
	// IncidentID is the incident the event is about. It is 0 for Opened (the
	// store assigns the id; see CheckState.SetIncident) and for Flapping /
	// FlappingEnded when no incident is open.
	IncidentID int64
	// Suppressed, when not empty, says why this event must be recorded but
	// not notified. Evaluate sets SuppressedFlapping on Opened, Raised and
	// Resolved while the check is flapping; Deliveries honours it.
	Suppressed string
	// Manual marks an Acknowledged or Resolved the caller builds from a
	// `pulse ack` or `pulse resolve` already written to the incident; By is
	// who made it and Message the acknowledgement's note.
	Manual bool
	By     string
}

// Policy is how one check's results become incidents. Build it with
// PolicyFor; the zero FlapChanges disables flapping detection.
type Policy struct {
	Severity     string // severity of a crit incident
	WarnSeverity string // severity of a warn or unknown incident
	FailAfter    int    // consecutive non-ok results that open an incident (< 1 means 1)
	RecoverAfter int    // consecutive ok results that resolve it (< 1 means 1)
	FlapChanges  int    // ok↔non-ok changes within FlapWindow that mark the check flapping
	FlapWindow   time.Duration
}

// PolicyFor returns the policy of check c under [agent] settings a. The
// warn severity is one level below the crit severity unless warn_severity is
// set (P4 stays P4); a missing severity is P2, the documented default.
func PolicyFor(c *config.Check, a config.Agent) Policy {
	p := Policy{
		Severity:     c.Severity,
		WarnSeverity: c.WarnSeverity,
		FailAfter:    max(c.FailAfter, 1),
		RecoverAfter: max(c.RecoverAfter, 1),
		FlapChanges:  a.FlapChanges,
		FlapWindow:   a.FlapWindow.D(),
	}
	if p.Severity == "" {
		p.Severity = "P2"
	}
	if c.HasLocations() {
		// fail_after applies at each location (Locations): the verdict
		// acts on the first one that reaches the quorum.
		p.FailAfter = 1
		if p.WarnSeverity == "" {
			p.WarnSeverity = locationsWarnSeverity(p.Severity)
		}
	}
	if p.WarnSeverity == "" {
		p.WarnSeverity = LowerSeverity(p.Severity)
	}
	if p.FlapChanges <= 0 {
		p.FlapChanges = DefaultFlapChanges
	}
	if p.FlapWindow <= 0 {
		p.FlapWindow = DefaultFlapWindow
	}
	return p
}

// SeverityOf returns the incident severity for a check state: Severity for
// crit, WarnSeverity for warn and unknown (unknown counts as warn).
func (p Policy) SeverityOf(s checks.State) string {
	if s == checks.Crit {
		return p.Severity
	}
	return p.WarnSeverity
}

// SeverityRank orders severities, most severe first: P1 is 0, P4 is 3;
// unknown ones (and "") sort last. It is pulse's one severity order
// (notifications, reports and the status page sort by it).
func SeverityRank(s string) int {
	for i, v := range config.Severities {
		if v == s {
			return i
		}
	}
	return len(config.Severities)
}

// LowerSeverity returns the severity one level below s ("P1" → "P2"). The
// lowest severity, and anything unrecognised, is returned unchanged.
func LowerSeverity(s string) string {
	r := SeverityRank(s)
	if r+1 < len(config.Severities) {
		return config.Severities[r+1]
	}
	return s
}

// MoreSevere reports whether severity a is more severe than b ("P1" > "P2").
func MoreSevere(a, b string) bool { return SeverityRank(a) < SeverityRank(b) }

// CheckState is what Evaluate remembers about one check between results. It
// is a plain value: the store keeps it as an opaque JSON blob per check, and
// the agent keeps the latest one in memory. Do not share the Changes slice
// between states you mutate; Evaluate itself never writes into prev's.
type CheckState struct {
	State      checks.State // the latest result's state
	LastChange time.Time    // when State last changed (first result: its time); zero before any result
	NonOK      int          // consecutive non-ok results, 0 while ok
	OK         int          // consecutive ok results, 0 while failing
	Worst      checks.State // worst state of the current non-ok streak (OK while ok)

	// IncidentOpen is true from Opened to Resolved. While IncidentID is 0
	// the incident is pending: the store has not assigned its id yet.
	IncidentOpen     bool
	IncidentID       int64
	IncidentSeverity string
	IncidentState    checks.State // worst state seen during the incident

	// Changes holds the times of the recent ok↔non-ok changes, oldest
	// first: at most FlapChanges of them and none older than FlapWindow.
	Changes       []time.Time
	Flapping      bool
	FlappingSince time.Time
}

// SetIncident records the id the store assigned to the incident Evaluate
// just opened (an Opened event's IncidentID is 0). Call it in the same
// transaction that inserts the incident, before storing the state; it does
// nothing when no incident is open.
func (s *CheckState) SetIncident(id int64) {
	if s.IncidentOpen {
		s.IncidentID = id
	}
}

// ClearIncident forgets the open incident after it was resolved by hand
// (`pulse resolve`) or found resolved in the database. The failing streak
// is kept: a check that is still failing opens a new incident with its
// next non-ok result, within one interval, rather than after fail_after
// more (a resolve must not silence a failing check for that long).
func (s *CheckState) ClearIncident() {
	s.IncidentOpen, s.IncidentID, s.IncidentSeverity, s.IncidentState = false, 0, "", checks.OK
}

// Evaluate feeds one result to a check's state machine and returns the new
// state and what happened. It does not allocate when nothing happened
// (events is nil), which is the common case.
//
// Rules (README, "Incidents and notifications"): after FailAfter
// consecutive non-ok results an incident opens with the severity of the
// worst state of the streak (crit → Severity, warn/unknown →
// WarnSeverity); an open incident whose check turns worse so that its
// severity rises is Raised; after RecoverAfter consecutive ok results it is
// Resolved.
//
// Flapping counts only ok↔non-ok changes, not warn↔crit↔unknown ones:
// only the former can open or resolve incidents (raises only go up, once),
// so counting wobble inside one outage would needlessly hold back that
// outage's resolve. FlapChanges such changes within FlapWindow emit one
// Flapping event; from then on Opened, Raised and Resolved events still
// happen (incidents are recorded) but carry Suppressed = SuppressedFlapping.
// Once no change happened for FlapWindow, the next result emits
// FlappingEnded (see Catchup for announcing an incident opened meanwhile).
func Evaluate(prev CheckState, res checks.Result, p Policy, now time.Time) (next CheckState, events []Event) {
	next = prev
	st := res.State
	failing := st != checks.OK
	first := prev.LastChange.IsZero()
	flip := !first && failing != (prev.State != checks.OK)
	if first || st != prev.State {
		next.State = st
		next.LastChange = now
	}

	if p.FlapChanges > 0 {
		// End first: a check stable for a whole window before this flip
		// starts counting afresh.
		if next.Flapping && (len(next.Changes) == 0 || now.Sub(next.Changes[len(next.Changes)-1]) >= p.FlapWindow) {
			next.Flapping, next.FlappingSince, next.Changes = false, time.Time{}, nil
			events = append(events, Event{Kind: FlappingEnded, Severity: p.Severity, State: st,
				Message: "stable for " + ui.Setting(p.FlapWindow), At: now, IncidentID: next.IncidentID})
		}
		if flip {
			next.Changes = recordChange(next.Changes, now, p.FlapChanges, p.FlapWindow)
			if !next.Flapping && len(next.Changes) >= p.FlapChanges {
				next.Flapping, next.FlappingSince = true, now
				events = append(events, Event{Kind: Flapping, Severity: p.Severity, State: st,
					Message: "changed state " + strconv.Itoa(len(next.Changes)) + " times within " + ui.Setting(p.FlapWindow),
					At:      now, IncidentID: next.IncidentID})
			}
		}
	}

	if failing {
		if next.NonOK == 0 {
			next.Worst = st
		} else {
			next.Worst = checks.Worse(next.Worst, st)
		}
		next.NonOK++
		next.OK = 0
	} else {
		next.OK++
		next.NonOK = 0
		next.Worst = checks.OK
	}

	var suppressed string
	if next.Flapping {
		suppressed = SuppressedFlapping
	}
	switch {
	case !next.IncidentOpen && failing && next.NonOK >= max(p.FailAfter, 1):
		sev := p.SeverityOf(next.Worst)
		next.IncidentOpen, next.IncidentID, next.IncidentSeverity, next.IncidentState = true, 0, sev, next.Worst
		events = append(events, Event{Kind: Opened, Severity: sev, State: next.Worst, Message: res.Message,
			At: now, Suppressed: suppressed})
	case next.IncidentOpen && failing:
		worst := checks.Worse(next.IncidentState, st)
		if worst == next.IncidentState {
			break
		}
		next.IncidentState = worst
		if sev := p.SeverityOf(worst); MoreSevere(sev, next.IncidentSeverity) {
			next.IncidentSeverity = sev
			events = append(events, Event{Kind: Raised, Severity: sev, State: st, Message: res.Message,
				At: now, IncidentID: next.IncidentID, Suppressed: suppressed})
		}
	case next.IncidentOpen && !failing && next.OK >= max(p.RecoverAfter, 1):
		events = append(events, Event{Kind: Resolved, Severity: next.IncidentSeverity, State: st,
			Message: res.Message, At: now, IncidentID: next.IncidentID, Suppressed: suppressed})
		next.IncidentOpen, next.IncidentID, next.IncidentSeverity, next.IncidentState = false, 0, "", checks.OK
	}
	return next, events
}

// recordChange returns a new slice (never prev's backing array, which the
// caller's previous state still owns) with the changes still inside window,
// at most limit of them, ending with now.
func recordChange(prev []time.Time, now time.Time, limit int, window time.Duration) []time.Time {
	start := 0
	for start < len(prev) && now.Sub(prev[start]) >= window {
		start++
	}
	if keep := len(prev) - start; keep > limit-1 {
		start += keep - (limit - 1)
	}
	out := make([]time.Time, 0, len(prev)-start+1)
	out = append(out, prev[start:]...)
	return append(out, now)
}

// checkStateJSON is CheckState's stored form: states as words, so the blob
// reads well in the database and survives a reordering of checks.State.
type checkStateJSON struct {
	State            string      `json:"state"`
	LastChange       time.Time   `json:"last_change,omitzero"`
	NonOK            int         `json:"non_ok,omitempty"`
	OK               int         `json:"ok,omitempty"`
	Worst            string      `json:"worst"`
	IncidentOpen     bool        `json:"incident_open,omitempty"`
	IncidentID       int64       `json:"incident_id,omitempty"`
	IncidentSeverity string      `json:"incident_severity,omitempty"`
	IncidentState    string      `json:"incident_state,omitempty"`
	Changes          []time.Time `json:"changes,omitempty"`
	Flapping         bool        `json:"flapping,omitempty"`
	FlappingSince    time.Time   `json:"flapping_since,omitzero"`
}

// MarshalJSON encodes s with its states as words ("crit").
func (s CheckState) MarshalJSON() ([]byte, error) {
	j := checkStateJSON{
		State: s.State.String(), LastChange: s.LastChange, NonOK: s.NonOK, OK: s.OK, Worst: s.Worst.String(),
		IncidentOpen: s.IncidentOpen, IncidentID: s.IncidentID, IncidentSeverity: s.IncidentSeverity,
		Changes: s.Changes, Flapping: s.Flapping, FlappingSince: s.FlappingSince,
	}
	if s.IncidentOpen {
		j.IncidentState = s.IncidentState.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (s *CheckState) UnmarshalJSON(b []byte) error {
	var j checkStateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("decode check state: %w", err)
	}
	parse := func(name, v string) (checks.State, error) {
		if v == "" {
			return checks.OK, nil
		}
		st, err := checks.ParseState(v)
		if err != nil {
			return st, fmt.Errorf("decode check state: %s: %w", name, err)
		}
		return st, nil
	}
	st, err := parse("state", j.State)
	if err != nil {
		return err
	}
	worst, err := parse("worst", j.Worst)
	if err != nil {
		return err
	}
	inc, err := parse("incident_state", j.IncidentState)
	if err != nil {
		return err
	}
	*s = CheckState{
		State: st, LastChange: j.LastChange, NonOK: j.NonOK, OK: j.OK, Worst: worst,
		IncidentOpen: j.IncidentOpen, IncidentID: j.IncidentID, IncidentSeverity: j.IncidentSeverity,
		IncidentState: inc, Changes: j.Changes, Flapping: j.Flapping, FlappingSince: j.FlappingSince,
	}
	return nil
}
