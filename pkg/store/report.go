package store

import (
	"context"
	"fmt"
	"time"
)

// Reads for pkg/report (status and digests) that the rest of the store does
// not need.

// IncidentsBetween returns the incidents open at some moment of [from, to):
// opened before to and not resolved before from, oldest first. An incident
// that spans midnight belongs to both days.
func (s *Store) IncidentsBetween(ctx context.Context, from, to time.Time) ([]Incident, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+incidentCols+` FROM incidents
		WHERE opened_at < ? AND (resolved_at IS NULL OR resolved_at >= ?) ORDER BY id`, msOf(to), msOf(from))
	if err != nil {
		return nil, fmt.Errorf("read incidents between %s and %s: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
	}
	return collectIncidents(rows, nil)
}

// NotificationFailure is an outbox row that failed: given up (status
// "failed") or still pending after a failed attempt.
type NotificationFailure struct {
	ID         int64
	Notifier   string
	IncidentID int64 // 0 for a digest or a test
	Event      string
	Status     string // failed | pending
	Attempts   int
	LastError  string
	CreatedAt  time.Time
}

// NotificationFailures returns the notifications queued in [from, to) that
// failed, oldest first.
func (s *Store) NotificationFailures(ctx context.Context, from, to time.Time) ([]NotificationFailure, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, notifier, coalesce(incident_id, 0), event, status, attempts, last_error, created_at
		FROM outbox WHERE created_at >= ? AND created_at < ?
		AND (status = 'failed' OR (status = 'pending' AND attempts > 0 AND last_error != ''))
		ORDER BY id`, msOf(from), msOf(to))
	if err != nil {
		return nil, fmt.Errorf("read failed notifications: %w", err)
	}
	defer rows.Close()
	var out []NotificationFailure
	for rows.Next() {
		var f NotificationFailure
		var created int64
		if err := rows.Scan(&f.ID, &f.Notifier, &f.IncidentID, &f.Event, &f.Status, &f.Attempts, &f.LastError, &created); err != nil {
			return nil, fmt.Errorf("read failed notifications: %w", err)
		}
		f.CreatedAt = timeOfMs(created)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read failed notifications: %w", err)
	}
	return out, nil
}
