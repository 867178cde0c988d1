// Package notify is what pulse sends: the Message a notifier renders, the
// Notifier interface every integration implements, and the error type by which
// a notifier says whether a failure is worth retrying. Integrations live in
// one sub-package each, registered in pkg/notify/registry.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// EventTest is the event of the message `pulse notify --test` sends; the
// events of incident notifications are alert's Deliver* constants.
const EventTest = "test"

// Incident is the snapshot of an incident that a notification carries.
type Incident struct {
	ID         int64      `json:"id"`
	Key        string     `json:"key"`      // stable dedup key: "<agent>-<id>" (PagerDuty dedup_key)
	Severity   string     `json:"severity"` // P1..P4
	State      string     `json:"state"`    // check state that caused it: warn | crit | unknown
	Status     string     `json:"status"`   // open | acknowledged | resolved
	Message    string     `json:"message"`
	Value      *float64   `json:"value,omitempty"`
	OpenedAt   time.Time  `json:"opened_at"`
	AckedAt    *time.Time `json:"acknowledged_at,omitempty"`
	AckedBy    string     `json:"acknowledged_by,omitempty"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// AckURL is a signed link that acknowledges the incident (P1/P2 alerts
	// that call for an ack, when [agent].public_url and secret_file are
	// set). It is a credential for this one incident: never log it.
	AckURL string `json:"ack_url,omitempty"`
}

// Duration is how long the incident lasted (until now while open).
func (i Incident) Duration(now time.Time) time.Duration {
	if i.ResolvedAt != nil {
		return i.ResolvedAt.Sub(i.OpenedAt)
	}
	return now.Sub(i.OpenedAt)
}

// Check is what a notification says of the check behind an incident.
type Check struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags,omitempty"`
	Description string   `json:"description,omitempty"`
	Runbook     string   `json:"runbook,omitempty"`
}

// Item is one event of one incident.
type Item struct {
	Event    string    `json:"event"`
	At       time.Time `json:"at"` // when the event happened
	Incident Incident  `json:"incident"`
	Check    Check     `json:"check"`
	Note     string    `json:"note,omitempty"` // e.g. the ack note, "escalated after 15m"
}

// Message is what one Send delivers: one item (within = 0s, a test) or a
// batch of items due for the same notifier together.
type Message struct {
	Agent  string    `json:"agent"`  // the agent's name (host name by default)
	Source string    `json:"source"` // host the agent runs on
	SentAt time.Time `json:"sent_at"`
	Items  []Item    `json:"items"`
	// Digest, when set, makes the message a daily/weekly digest rather than
	// incident items.
	Digest *Digest `json:"digest,omitempty"`
}

// Digest is a rendered report for notifiers that deliver it.
type Digest struct {
	Title    string `json:"title"` // "digest 2026-11-25"
	Date     string `json:"date"`  // YYYY-MM-DD
	Text     string `json:"text"`  // plain text rendering
	Markdown string `json:"markdown"`
	HTML     string `json:"html"`
	Summary  string `json:"summary"` // one paragraph, for chat
}

// Notifier delivers messages to one receiver.
type Notifier interface {
	// Name is the notifier's name from the config.
	Name() string
	// Send delivers m. It returns nil only when the receiver accepted the
	// message; any other outcome is an error, a *SendError when the notifier
	// knows whether retrying can help. Errors never contain secrets.
	Send(ctx context.Context, m *Message) error
}

// SendError is a failed delivery and what the receiver said.
type SendError struct {
	Err        error
	Retryable  bool          // 5xx, 429, timeouts, connection errors
	RetryAfter time.Duration // from a Retry-After header, when given
	Status     int           // HTTP status or SMTP code, when there was one
	Answer     string        // the receiver's answer, trimmed, secrets removed
}

func (e *SendError) Error() string {
	msg := e.Err.Error()
	if e.Answer != "" {
		msg += ": " + e.Answer
	}
	return msg
}

func (e *SendError) Unwrap() error { return e.Err }

// Retryable reports whether a failed send is worth trying again. Errors that
// are not a *SendError (connection refused, timeouts) are retryable.
func Retryable(err error) bool {
	var se *SendError
	if errors.As(err, &se) {
		return se.Retryable
	}
	return err != nil
}

// RetryAfter returns the receiver's requested delay, or 0.
func RetryAfter(err error) time.Duration {
	var se *SendError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// HTTPStatusError classifies an HTTP answer: 429 and 5xx are retryable
// (honouring retryAfter), other 4xx are permanent.
func HTTPStatusError(status int, answer string, retryAfter time.Duration) *SendError {
	return &SendError{
		Err:        fmt.Errorf("receiver answered %d", status),
		Retryable:  status == 429 || status >= 500,
		RetryAfter: retryAfter,
		Status:     status,
		Answer:     trimAnswer(answer),
	}
}

func trimAnswer(s string) string {
	const max = 512
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}
