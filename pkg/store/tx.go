package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Tx is the writer's transaction as a Record's Apply sees it: the writes
// and reads that must happen in the same transaction as a result (incident
// rows, their timeline, outbox rows). Apply must not call the Store's own
// methods (they would wait for the transaction it runs in).
type Tx struct {
	s   *Store
	tx  *sql.Tx
	now func() time.Time
	// lock is appended to reads of rows the transaction may then change
	// (FOR UPDATE on PostgreSQL, where writers do not take the whole
	// database's write lock at BEGIN as on SQLite).
	lock string
}

// wrap is tx as a Tx, on the store's clock.
func (s *Store) wrap(tx *sql.Tx) Tx { return Tx{s: s, tx: tx, now: s.now, lock: s.eng.forUpdate()} }

// Enqueue queues a notification in the writer's transaction: it is sent
// only if that transaction commits, and then at least once.
func (t Tx) Enqueue(e OutboxEntry) (int64, error) {
	item, err := json.Marshal(e.Item)
	if err != nil {
		return 0, fmt.Errorf("queue notification to %s: %w", e.Notifier, err)
	}
	var inc any
	if e.IncidentID != 0 {
		inc = e.IncidentID
	}
	var id int64
	err = t.tx.QueryRow(`INSERT INTO outbox(notifier, incident_id, event, item, due_at, batchable, created_at)
		VALUES(?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		e.Notifier, inc, e.Item.Event, item, msOf(e.DueAt), e.Batchable, msOf(t.now())).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("queue notification to %s: %w", e.Notifier, err)
	}
	if err := t.s.eng.enqueued(t.tx, e.Notifier); err != nil {
		return 0, fmt.Errorf("queue notification to %s: %w", e.Notifier, err)
	}
	return id, nil
}

// Supersede retires the queued, never attempted rows of incident id to
// notifier whose event is one of events: a later row (a raise, a resolve)
// says all they would. It returns how many rows it retired.
func (t Tx) Supersede(notifier string, id int64, events ...string) (int64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	args := []any{notifier, id}
	for _, e := range events {
		args = append(args, e)
	}
	res, err := t.tx.Exec(`UPDATE outbox SET status = 'superseded' WHERE status = 'pending' AND attempts = 0
		AND notifier = ? AND incident_id = ? AND event IN (?`+strings.Repeat(", ?", len(events)-1)+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("supersede notifications of incident #%d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// InsertIncident adds inc (its ID is ignored) in the writer's transaction
// and returns the id the database assigned.
func (t Tx) InsertIncident(inc *Incident) (int64, error) {
	status := inc.Status
	if status == "" {
		status = StatusOpen
	}
	var id int64
	err := t.tx.QueryRow(`INSERT INTO incidents(check_name, type, severity, state, status, message, value, opened_at,
		acked_at, acked_by, ack_note, resolved_at, resolved_by, escalation)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		inc.Check, inc.Type, inc.Severity, inc.State, status, inc.Message, nullFloat(inc.Value), msOf(inc.OpenedAt),
		nullMs(inc.AckedAt), inc.AckedBy, inc.AckNote, nullMs(inc.ResolvedAt), inc.ResolvedBy, inc.Escalation).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert incident of %s: %w", inc.Check, err)
	}
	return id, nil
}

// UpdateIncident writes every mutable column of inc (all but the check,
// its type and the opening time) in the writer's transaction. Callers read
// the row with Tx.Incident in the same transaction first, so a concurrent
// `pulse ack` is never overwritten.
func (t Tx) UpdateIncident(inc *Incident) error {
	res, err := t.tx.Exec(`UPDATE incidents SET severity = ?, state = ?, status = ?, message = ?, value = ?,
		acked_at = ?, acked_by = ?, ack_note = ?, resolved_at = ?, resolved_by = ?, escalation = ?
		WHERE id = ?`,
		inc.Severity, inc.State, inc.Status, inc.Message, nullFloat(inc.Value),
		nullMs(inc.AckedAt), inc.AckedBy, inc.AckNote, nullMs(inc.ResolvedAt), inc.ResolvedBy, inc.Escalation, inc.ID)
	if err != nil {
		return fmt.Errorf("update incident #%d: %w", inc.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update incident #%d: %w", inc.ID, ErrNotFound)
	}
	return nil
}

// SetEscalation replaces the incident's escalation record.
func (t Tx) SetEscalation(id int64, blob []byte) error {
	if _, err := t.tx.Exec(`UPDATE incidents SET escalation = ? WHERE id = ?`, blob, id); err != nil {
		return fmt.Errorf("save escalation of incident #%d: %w", id, err)
	}
	return nil
}

// Incident reads incident id in tx (ErrNotFound when there is none).
func (t Tx) Incident(id int64) (Incident, error) {
	inc, err := scanIncident(t.tx.QueryRow(`SELECT `+incidentCols+` FROM incidents WHERE id = ?`+t.lock, id))
	if errors.Is(err, sql.ErrNoRows) {
		return inc, fmt.Errorf("incident #%d: %w", id, ErrNotFound)
	}
	if err != nil {
		return inc, fmt.Errorf("read incident #%d: %w", id, err)
	}
	return inc, nil
}

// CurrentIncident returns the newest unresolved incident of check, and
// false when it has none.
func (t Tx) CurrentIncident(check string) (Incident, bool, error) {
	inc, err := scanIncident(t.tx.QueryRow(`SELECT `+incidentCols+` FROM incidents
		WHERE check_name = ? AND status != 'resolved' ORDER BY id DESC LIMIT 1`+t.lock, check))
	if errors.Is(err, sql.ErrNoRows) {
		return inc, false, nil
	}
	if err != nil {
		return inc, false, fmt.Errorf("read open incident of %s: %w", check, err)
	}
	return inc, true, nil
}

// OpenIncidents returns the unresolved incidents, oldest first, in tx.
func (t Tx) OpenIncidents() ([]Incident, error) {
	return collectIncidents(t.tx.Query(`SELECT ` + incidentCols + ` FROM incidents WHERE status != 'resolved' ORDER BY id` + t.lock))
}

// PendingSync returns the incidents acknowledged or resolved from another
// process whose consequences the agent has not handled yet.
func (t Tx) PendingSync() ([]Incident, error) {
	return collectIncidents(t.tx.Query(`SELECT ` + incidentCols + ` FROM incidents WHERE pending_sync = 1 ORDER BY id` + t.lock))
}

// ClearSync marks the incident's ack or manual resolve as handled.
func (t Tx) ClearSync(id int64) error {
	if _, err := t.tx.Exec(`UPDATE incidents SET pending_sync = 0 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("incident #%d: %w", id, err)
	}
	return nil
}

// AddEvent appends a line to incident id's timeline.
func (t Tx) AddEvent(id int64, at time.Time, kind, detail string) error {
	if _, err := t.tx.Exec(`INSERT INTO incident_events(incident_id, at, kind, detail) VALUES(?, ?, ?, ?)`,
		id, msOf(at), kind, detail); err != nil {
		return fmt.Errorf("add %s event to incident #%d: %w", kind, id, err)
	}
	return nil
}

// SaveState stores check's opaque incident-engine state in the writer's
// transaction, like Record.State does, registering the check if needed.
func (t Tx) SaveState(check string, blob []byte) error {
	if blob == nil {
		return nil
	}
	now := msOf(t.now())
	id, err := ensureCheck(context.Background(), t.tx, check, "", now)
	if err != nil {
		return fmt.Errorf("save state of %s: %w", check, err)
	}
	if _, err := t.tx.Exec(`INSERT INTO check_state(check_id, state, updated) VALUES(?, ?, ?)
		ON CONFLICT(check_id) DO UPDATE SET state = excluded.state, updated = excluded.updated`, id, blob, now); err != nil {
		return fmt.Errorf("save state of %s: %w", check, err)
	}
	return nil
}

// SetMeta writes a value of the meta table.
func (t Tx) SetMeta(key, value string) error { return setMeta(t.tx, key, value) }

func setMeta(tx *sql.Tx, key, value string) error {
	_, err := tx.Exec(`INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}
