package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

var _ notify.Outbox = (*Store)(nil)

// Outbox row statuses.
const (
	OutboxPending    = "pending"
	OutboxSent       = "sent"
	OutboxFailed     = "failed"
	OutboxSuperseded = "superseded"
)

// OutboxEntry is a notification to queue with Tx.Enqueue.
type OutboxEntry struct {
	Notifier   string
	IncidentID int64 // 0: about no incident
	Item       notify.Item
	DueAt      time.Time
	Batchable  bool
}

// PendingOutbox returns the rows waiting to be sent, by id.
func (s *Store) PendingOutbox(ctx context.Context) ([]notify.OutboxRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, notifier, incident_id, event, item, due_at, batchable,
		attempts, next_attempt_at FROM outbox WHERE status = 'pending' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []notify.OutboxRow
	for rows.Next() {
		var r notify.OutboxRow
		var inc sql.NullInt64
		var item []byte
		var due, next int64
		if err := rows.Scan(&r.ID, &r.Notifier, &inc, &r.Event, &item, &due, &r.Batchable, &r.Attempts, &next); err != nil {
			return nil, fmt.Errorf("read outbox: %w", err)
		}
		if err := json.Unmarshal(item, &r.Item); err != nil {
			// Keep it sendable: an unreadable snapshot still names the event.
			r.Item = notify.Item{Event: r.Event, Note: "notification details unreadable"}
		}
		r.IncidentID = inc.Int64
		r.DueAt = timeOfMs(due)
		if next > 0 {
			r.NextAttemptAt = timeOfMs(next)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// OutboxPending counts the notifications waiting to be sent.
func (s *Store) OutboxPending(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

// NotificationCounts returns how many notifications were sent and given up
// in total (for /metrics).
func (s *Store) NotificationCounts(ctx context.Context) (sent, failed int64, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE status = 'sent'),
		count(*) FILTER (WHERE status = 'failed') FROM outbox`).Scan(&sent, &failed)
	if err != nil {
		return 0, 0, fmt.Errorf("count notifications: %w", err)
	}
	return sent, failed, nil
}

// MarkSent records that the receiver accepted the rows and adds a
// "notified" line to each incident's timeline.
func (s *Store) MarkSent(ctx context.Context, ids []int64, at time.Time) error {
	return s.markOutbox(ctx, ids, "mark notifications sent", func(tx *sql.Tx, in string, args []any) error {
		if err := s.timelineFor(tx, in, args, at, EventNotified, func(event, notifier string) string {
			return event + " → " + notifier
		}); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, last_error = ''
			WHERE id IN (`+in+`)`, append([]any{msOf(at)}, args...)...)
		return err
	})
}

// MarkRetry counts a failed attempt and holds the rows until next.
func (s *Store) MarkRetry(ctx context.Context, ids []int64, next time.Time, reason string) error {
	return s.markOutbox(ctx, ids, "mark notifications for retry", func(tx *sql.Tx, in string, args []any) error {
		_, err := tx.Exec(`UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?
			WHERE status = 'pending' AND id IN (`+in+`)`, append([]any{msOf(next), reason}, args...)...)
		return err
	})
}

// MarkFailed gives the rows up, keeping the error and the receiver's answer,
// and adds a "notify_failed" line to each incident's timeline.
func (s *Store) MarkFailed(ctx context.Context, ids []int64, reason, answer string, at time.Time) error {
	return s.markOutbox(ctx, ids, "mark notifications failed", func(tx *sql.Tx, in string, args []any) error {
		if err := s.timelineFor(tx, in, args, at, EventNotifyFailed, func(event, notifier string) string {
			return event + " → " + notifier + ": " + reason
		}); err != nil {
			return err
		}
		_, err := tx.Exec(`UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?, answer = ?
			WHERE status = 'pending' AND id IN (`+in+`)`, append([]any{reason, answer}, args...)...)
		return err
	})
}

func (s *Store) markOutbox(ctx context.Context, ids []int64, what string, f func(tx *sql.Tx, in string, args []any) error) error {
	if len(ids) == 0 {
		return nil
	}
	if s.readOnly {
		return ErrReadOnly
	}
	var b strings.Builder
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("?")
		args[i] = id
	}
	if err := s.writeTx(ctx, func(tx *sql.Tx) error { return f(tx, b.String(), args) }); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// timelineFor adds one event per pending row of an incident.
func (s *Store) timelineFor(tx *sql.Tx, in string, args []any, at time.Time, kind string, detail func(event, notifier string) string) error {
	rows, err := tx.Query(`SELECT incident_id, event, notifier FROM outbox
		WHERE status = 'pending' AND incident_id IS NOT NULL AND id IN (`+in+`)`, args...)
	if err != nil {
		return err
	}
	type ev struct {
		id              int64
		event, notifier string
	}
	var evs []ev
	for rows.Next() {
		var e ev
		if err := rows.Scan(&e.id, &e.event, &e.notifier); err != nil {
			rows.Close()
			return err
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, e := range evs {
		if err := s.wrap(tx).AddEvent(e.id, at, kind, detail(e.event, e.notifier)); err != nil {
			return err
		}
	}
	return nil
}

// OutboxRowInfo is an outbox row as `pulse incidents show` prints it.
type OutboxRowInfo struct {
	ID        int64
	Notifier  string
	Event     string
	Status    string
	Attempts  int
	DueAt     time.Time
	SentAt    time.Time
	LastError string
	Answer    string
}

// IncidentNotifications returns the outbox rows of incident id, by id.
func (s *Store) IncidentNotifications(ctx context.Context, id int64) ([]OutboxRowInfo, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, notifier, event, status, attempts, due_at, sent_at, last_error, answer
		FROM outbox WHERE incident_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("notifications of incident #%d: %w", id, err)
	}
	defer rows.Close()
	var out []OutboxRowInfo
	for rows.Next() {
		var r OutboxRowInfo
		var due int64
		var sent sql.NullInt64
		if err := rows.Scan(&r.ID, &r.Notifier, &r.Event, &r.Status, &r.Attempts, &due, &sent, &r.LastError, &r.Answer); err != nil {
			return nil, fmt.Errorf("notifications of incident #%d: %w", id, err)
		}
		r.DueAt = timeOfMs(due)
		if sent.Valid {
			r.SentAt = timeOfMs(sent.Int64)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notifications of incident #%d: %w", id, err)
	}
	return out, nil
}

// GetMeta reads a value of the meta table; ok is false when key is unset.
func (s *Store) GetMeta(ctx context.Context, key string) (value string, ok bool, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&value)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read meta %s: %w", key, err)
	}
	return value, true, nil
}

// SetMeta writes a value of the meta table.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if err := s.writeTx(ctx, func(tx *sql.Tx) error { return setMeta(tx, key, value) }); err != nil {
		return fmt.Errorf("write meta %s: %w", key, err)
	}
	return nil
}
