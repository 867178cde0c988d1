package report

import (
	"context"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// ResultSource is what report reads of results: *store.Store implements it.
type ResultSource interface {
	Checks(ctx context.Context) ([]store.CheckRow, error)
	// EachRollup calls fn with every check's hourly rollups in [from, to),
	// by check then hour; fn must not keep r.
	EachRollup(ctx context.Context, from, to time.Time, fn func(r *store.Rollup) error) error
	Totals(ctx context.Context, from, to time.Time) (map[string]store.Rollup, error)
	Results(ctx context.Context, check string, from, to time.Time, limit int) ([]checks.Result, error)
}

// IncidentSource is what report reads of incidents and notifications.
type IncidentSource interface {
	// OpenIncidents returns the incidents not resolved.
	OpenIncidents(ctx context.Context) ([]store.Incident, error)
	// IncidentsBetween returns the incidents open at some moment of
	// [from, to).
	IncidentsBetween(ctx context.Context, from, to time.Time) ([]store.Incident, error)
	// NotificationFailures returns the notifications queued in [from, to)
	// that failed.
	NotificationFailures(ctx context.Context, from, to time.Time) ([]store.NotificationFailure, error)
	// PostmortemsWritten returns the postmortems last written in [from, to).
	PostmortemsWritten(ctx context.Context, from, to time.Time) ([]store.WrittenPostmortem, error)
}

// StatusSource is what BuildStatus reads.
type StatusSource interface {
	ResultSource
	OpenIncidents(ctx context.Context) ([]store.Incident, error)
}

// Source is what digests and `pulse status --check` read.
type Source interface {
	ResultSource
	IncidentSource
}

// Compile-time checks that the store serves reports.
var (
	_ Source       = (*store.Store)(nil)
	_ StatusSource = (*store.Store)(nil)
)

// FailedNotification is a notification that failed: given up, or still
// being retried after an error.
type FailedNotification struct {
	ID         int64     `json:"id"`
	Notifier   string    `json:"notifier"`
	IncidentID int64     `json:"incident_id,omitempty"`
	Event      string    `json:"event"`
	Status     string    `json:"status"` // failed | pending (still retrying)
	Attempts   int       `json:"attempts"`
	Error      string    `json:"error"`
	QueuedAt   time.Time `json:"queued_at"`
}

func toIncidents(in []store.Incident) []Incident {
	out := make([]Incident, len(in))
	for i := range in {
		out[i] = IncidentOf(&in[i])
	}
	return out
}

func toFailures(in []store.NotificationFailure) []FailedNotification {
	out := make([]FailedNotification, len(in))
	for i := range in {
		f := &in[i]
		out[i] = FailedNotification{ID: f.ID, Notifier: f.Notifier, IncidentID: f.IncidentID, Event: f.Event,
			Status: f.Status, Attempts: f.Attempts, Error: f.LastError, QueuedAt: f.CreatedAt.UTC()}
	}
	return out
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
