package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
)

// Incident statuses.
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Timeline event kinds (incident_events.kind). Those alert.Apply and
// alert.Timer write are alert's words.
const (
	EventOpened       = string(alert.Opened)
	EventRaised       = string(alert.Raised)
	EventNotified     = "notified"
	EventNotifyFailed = "notify_failed"
	EventAcknowledged = string(alert.Acknowledged)
	EventEscalated    = alert.LineEscalated
	EventReminded     = alert.LineReminded
	EventResolved     = string(alert.Resolved)
	EventSilenced     = alert.LineSilenced
	EventFlapping     = string(alert.Flapping)
)

// Sentinel errors of Ack, Resolve and RemoveSilence; compare with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrResolved     = errors.New("incident is already resolved")
	ErrAcknowledged = errors.New("incident is already acknowledged")
)

// Incident is one row of the incidents table.
type Incident struct {
	ID         int64
	Check      string
	Type       string // the check's type
	Severity   string // P1..P4 (raised incidents: the raised one)
	State      string // worst check state seen: warn | unknown | crit
	Status     string // open | acknowledged | resolved
	Message    string
	Value      *float64
	OpenedAt   time.Time
	AckedAt    time.Time // zero while unacknowledged
	AckedBy    string
	AckNote    string
	ResolvedAt time.Time // zero while open
	ResolvedBy string    // "" when the check recovered by itself
	// Escalation is the incident engine's opaque record (JSON of
	// alert.IncidentInfo); nil until the agent saved one.
	Escalation []byte
	// PendingSync is set by Ack and Resolve (run from the CLI) until the
	// agent has queued the notifications they call for (Tx.ClearSync).
	PendingSync bool

	// Sent and Failed count the incident's notifications delivered and
	// given up; filled by Incidents and Incident.
	Sent, Failed int
}

// Duration is how long the incident lasted, until now while it is open.
func (i *Incident) Duration(now time.Time) time.Duration {
	if !i.ResolvedAt.IsZero() {
		return i.ResolvedAt.Sub(i.OpenedAt)
	}
	return now.Sub(i.OpenedAt)
}

// IncidentEvent is one line of an incident's timeline.
type IncidentEvent struct {
	IncidentID int64
	At         time.Time
	Kind       string // one of the Event* constants
	Detail     string
}

// IncidentFilter selects incidents for Incidents.
type IncidentFilter struct {
	Open     bool      // only incidents not resolved
	Since    time.Time // only incidents opened at or after Since (zero: all)
	Severity string    // only this severity ("" = all)
	Limit    int       // at most this many, newest first (0 = no limit)
}

const incidentCols = `id, check_name, type, severity, state, status, message, value, opened_at,
	acked_at, acked_by, ack_note, resolved_at, resolved_by, escalation, pending_sync`

type scanner interface{ Scan(dest ...any) error }

func scanIncident(sc scanner, extra ...any) (Incident, error) {
	var inc Incident
	var value sql.NullFloat64
	var opened int64
	var acked, resolved sql.NullInt64
	var sync int64
	dest := append([]any{&inc.ID, &inc.Check, &inc.Type, &inc.Severity, &inc.State, &inc.Status, &inc.Message,
		&value, &opened, &acked, &inc.AckedBy, &inc.AckNote, &resolved, &inc.ResolvedBy, &inc.Escalation, &sync}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return inc, err
	}
	if value.Valid {
		v := value.Float64
		inc.Value = &v
	}
	inc.OpenedAt = timeOfMs(opened)
	if acked.Valid {
		inc.AckedAt = timeOfMs(acked.Int64)
	}
	if resolved.Valid {
		inc.ResolvedAt = timeOfMs(resolved.Int64)
	}
	inc.PendingSync = sync != 0
	return inc, nil
}

func nullMs(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return msOf(t)
}

func nullFloat(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}

// OpenIncidents returns the unresolved incidents, oldest first.
func (s *Store) OpenIncidents(ctx context.Context) ([]Incident, error) {
	return collectIncidents(s.r.QueryContext(ctx, `SELECT `+incidentCols+` FROM incidents WHERE status != 'resolved' ORDER BY id`))
}

// PendingSyncChecks returns, cheaply (a partial index), the checks of the
// incidents Tx.PendingSync would return: the agent polls it every second.
func (s *Store) PendingSyncChecks(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT check_name FROM incidents WHERE pending_sync = 1`)
	if err != nil {
		return nil, fmt.Errorf("poll acknowledgements: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("poll acknowledgements: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("poll acknowledgements: %w", err)
	}
	return names, nil
}

func collectIncidents(rows *sql.Rows, err error) ([]Incident, error) {
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, fmt.Errorf("read incidents: %w", err)
		}
		out = append(out, inc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	return out, nil
}

// countsCols adds the notifications sent and failed per incident.
const countsCols = `,
	(SELECT count(*) FROM outbox o WHERE o.incident_id = incidents.id AND o.status = 'sent'),
	(SELECT count(*) FROM outbox o WHERE o.incident_id = incidents.id AND o.status = 'failed')`

// Incident returns incident id with its notification counts.
func (s *Store) Incident(ctx context.Context, id int64) (Incident, error) {
	var sent, failed int
	inc, err := scanIncident(s.r.QueryRowContext(ctx, `SELECT `+incidentCols+countsCols+` FROM incidents WHERE id = ?`, id),
		&sent, &failed)
	if errors.Is(err, sql.ErrNoRows) {
		return inc, fmt.Errorf("incident #%d: %w", id, ErrNotFound)
	}
	if err != nil {
		return inc, fmt.Errorf("read incident #%d: %w", id, err)
	}
	inc.Sent, inc.Failed = sent, failed
	return inc, nil
}

// Incidents returns the incidents f selects, newest first, with their
// notification counts.
func (s *Store) Incidents(ctx context.Context, f IncidentFilter) ([]Incident, error) {
	var where []string
	var args []any
	if f.Open {
		where = append(where, "status != 'resolved'")
	}
	if !f.Since.IsZero() {
		where = append(where, "opened_at >= ?")
		args = append(args, msOf(f.Since))
	}
	if f.Severity != "" {
		where = append(where, "severity = ?")
		args = append(args, f.Severity)
	}
	q := `SELECT ` + incidentCols + countsCols + ` FROM incidents`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	defer rows.Close()
	var out []Incident
	for rows.Next() {
		var sent, failed int
		inc, err := scanIncident(rows, &sent, &failed)
		if err != nil {
			return nil, fmt.Errorf("read incidents: %w", err)
		}
		inc.Sent, inc.Failed = sent, failed
		out = append(out, inc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read incidents: %w", err)
	}
	return out, nil
}

// Timeline returns incident id's events, oldest first (ErrNotFound for an
// unknown incident).
func (s *Store) Timeline(ctx context.Context, id int64) ([]IncidentEvent, error) {
	var exists int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM incidents WHERE id = ?`, id).Scan(&exists); err != nil {
		return nil, fmt.Errorf("timeline of incident #%d: %w", id, err)
	}
	if exists == 0 {
		return nil, fmt.Errorf("incident #%d: %w", id, ErrNotFound)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT at, kind, detail FROM incident_events WHERE incident_id = ? ORDER BY at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("timeline of incident #%d: %w", id, err)
	}
	defer rows.Close()
	var out []IncidentEvent
	for rows.Next() {
		ev := IncidentEvent{IncidentID: id}
		var at int64
		if err := rows.Scan(&at, &ev.Kind, &ev.Detail); err != nil {
			return nil, fmt.Errorf("timeline of incident #%d: %w", id, err)
		}
		ev.At = timeOfMs(at)
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("timeline of incident #%d: %w", id, err)
	}
	return out, nil
}

// Ack acknowledges incident id on behalf of by, from any process: it
// records who and when, appends the timeline event and flags the incident
// for the agent, which then sends the acknowledge notifications and stops
// reminders and escalation. It returns ErrNotFound, ErrResolved, or
// ErrAcknowledged (with the incident as it is) when it was acknowledged
// before.
func (s *Store) Ack(ctx context.Context, id int64, by, note string, at time.Time) (Incident, error) {
	return s.mutateIncident(ctx, id, func(tx *sql.Tx, inc *Incident) error {
		switch inc.Status {
		case StatusResolved:
			return ErrResolved
		case StatusAcknowledged:
			return ErrAcknowledged
		}
		inc.Status, inc.AckedAt, inc.AckedBy, inc.AckNote = StatusAcknowledged, at, by, note
		detail := "by " + by
		if note != "" {
			detail += ": " + note
		}
		return s.wrap(tx).AddEvent(id, at, EventAcknowledged, detail)
	})
}

// Resolve resolves incident id by hand on behalf of by and flags it for the
// agent (resolve notifications, the check's state). ErrNotFound for an
// unknown incident, ErrResolved (with the incident) when already resolved.
func (s *Store) Resolve(ctx context.Context, id int64, by string, at time.Time) (Incident, error) {
	return s.mutateIncident(ctx, id, func(tx *sql.Tx, inc *Incident) error {
		if inc.Status == StatusResolved {
			return ErrResolved
		}
		return markResolved(s.wrap(tx), inc, by, at)
	})
}

// markResolved is the decision of a resolve by hand, `pulse resolve` or a
// "resolved" update alike: who and when, and the timeline line.
func markResolved(t Tx, inc *Incident, by string, at time.Time) error {
	inc.Status, inc.ResolvedAt, inc.ResolvedBy = StatusResolved, at, by
	return t.AddEvent(inc.ID, at, EventResolved, "by hand, by "+by)
}

// resolveByHand is Resolve inside another write transaction (a "resolved"
// update): markResolved, then saved as mutateIncident saves.
func (s *Store) resolveByHand(tx *sql.Tx, inc *Incident, by string, at time.Time) error {
	if err := markResolved(s.wrap(tx), inc, by, at); err != nil {
		return err
	}
	return s.saveByHand(tx, inc)
}

// saveByHand writes an incident changed by hand and flags it for the agent
// (pending_sync), which sends what the change calls for (the resolve
// notifications) and takes the new state into memory.
func (s *Store) saveByHand(tx *sql.Tx, inc *Incident) error {
	if err := s.wrap(tx).UpdateIncident(inc); err != nil {
		return err
	}
	_, err := tx.Exec(`UPDATE incidents SET pending_sync = 1 WHERE id = ?`, inc.ID)
	return err
}

func (s *Store) mutateIncident(ctx context.Context, id int64, f func(tx *sql.Tx, inc *Incident) error) (Incident, error) {
	if s.readOnly {
		return Incident{}, ErrReadOnly
	}
	var inc Incident
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		if inc, err = s.wrap(tx).Incident(id); err != nil {
			return err
		}
		if err := f(tx, &inc); err != nil {
			return err
		}
		return s.saveByHand(tx, &inc)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return inc, err // already says which incident
		}
		if errors.Is(err, ErrResolved) || errors.Is(err, ErrAcknowledged) {
			return inc, fmt.Errorf("incident #%d: %w", id, err)
		}
		return inc, fmt.Errorf("update incident #%d: %w", id, err)
	}
	inc.PendingSync = true
	return inc, nil
}
