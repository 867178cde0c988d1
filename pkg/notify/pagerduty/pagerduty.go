// Package pagerduty delivers incidents to PagerDuty's Events API v2: one
// event per item (the API has no batches), with the incident key as
// dedup_key so a repeated delivery changes nothing.
package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
)

// DefaultURL is the Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Limits of the Events API.
const (
	maxSummary  = 1024
	maxDedupKey = 255
)

// Config is a pagerduty notifier's configuration.
type Config struct {
	Name       string
	RoutingKey config.Secret
	URL        config.Secret // events endpoint; DefaultURL when empty
	Timeout    time.Duration
}

// ConfigFrom takes a pagerduty [[notifier]] table. config.Load validated the table (config is the one validator), so
// ConfigFrom only copies it; New still refuses an
// empty routing key, which a Config built in code could have.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, RoutingKey: n.RoutingKey, URL: n.URL, Timeout: n.Timeout.D()}
}

// Notifier sends events to PagerDuty.
type Notifier struct {
	cfg  Config
	url  string
	opts notify.Options
	http *httpx.Client
	log  *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a PagerDuty notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.RoutingKey == "" {
		return nil, fmt.Errorf("notifier %q: routing_key is required", cfg.Name)
	}
	opts = opts.WithDefaults()
	url := cfg.URL.Reveal()
	if url == "" {
		url = DefaultURL
	}
	secrets := []string{cfg.RoutingKey.Reveal()}
	if cfg.URL != "" {
		secrets = append(secrets, cfg.URL.Reveal())
	}
	log := opts.Logger.With("notifier", cfg.Name, "type", "pagerduty")
	return &Notifier{
		cfg:  cfg,
		url:  url,
		opts: opts,
		http: httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, secrets...),
		log:  log,
	}, nil
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send posts one event per item, in order. It stops at the first failure
// worth retrying (the whole message is retried; dedup keys make the events
// already accepted harmless) and reports a permanent failure only after
// trying every other item.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	if m.Digest != nil {
		return &notify.SendError{Err: fmt.Errorf("pagerduty %q: digests are not sent to pagerduty", n.cfg.Name)}
	}
	events, err := Events(m, n.cfg.RoutingKey.Reveal(), n.opts)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("pagerduty %q: %w", n.cfg.Name, err)}
	}
	var permanent *notify.SendError
	for i := range events {
		ev := &events[i]
		if err := n.post(ctx, ev); err != nil {
			err.Err = fmt.Errorf("pagerduty %q: %s %s (event %d of %d): %w",
				n.cfg.Name, ev.EventAction, ev.DedupKey, i+1, len(events), err.Err)
			if err.Retryable {
				return err
			}
			if permanent == nil {
				permanent = err
			}
		}
	}
	if permanent != nil {
		return permanent
	}
	return nil
}

func (n *Notifier) post(ctx context.Context, ev *Event) *notify.SendError {
	body, err := httpx.JSON(ev)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("encode event: %w", err)}
	}
	ans, err := n.http.Post(ctx, n.url, body, nil)
	if err != nil {
		var se *notify.SendError
		if errors.As(err, &se) {
			return se
		}
		return &notify.SendError{Err: err, Retryable: true}
	}
	// PagerDuty accepts with 202 {"status":"success"}; anything else,
	// even another 2xx, is not proof that the event was enqueued.
	if ans.Status != 202 {
		return n.http.Err(ans)
	}
	n.log.Debug("pagerduty event accepted", "action", ev.EventAction, "dedup_key", ev.DedupKey)
	return nil
}

// Event is one Events API v2 request.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"` // trigger | acknowledge | resolve
	DedupKey    string   `json:"dedup_key"`
	Client      string   `json:"client,omitempty"`
	Payload     *Payload `json:"payload,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload is a trigger event's description of the problem.
type Payload struct {
	Summary       string        `json:"summary"`
	Source        string        `json:"source"`
	Severity      string        `json:"severity"` // critical | error | warning | info
	Timestamp     string        `json:"timestamp,omitempty"`
	Component     string        `json:"component,omitempty"`
	Group         string        `json:"group,omitempty"`
	Class         string        `json:"class,omitempty"`
	CustomDetails CustomDetails `json:"custom_details"`
}

// CustomDetails are the incident's details shown in PagerDuty.
type CustomDetails struct {
	Event       string   `json:"event"`
	State       string   `json:"state,omitempty"`
	Message     string   `json:"message,omitempty"`
	Value       *float64 `json:"value,omitempty"`
	IncidentID  int64    `json:"incident_id,omitempty"`
	Severity    string   `json:"severity,omitempty"` // pulse's P1..P4
	OpenedAt    string   `json:"opened_at,omitempty"`
	Runbook     string   `json:"runbook,omitempty"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Note        string   `json:"note,omitempty"`
	Agent       string   `json:"agent,omitempty"`
}

// Link is a link shown on the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Events renders m as the Events API requests Send posts, in order. A test
// item becomes a trigger followed by its resolve, so that a test leaves no
// open alert behind.
func Events(m *notify.Message, routingKey string, opts notify.Options) ([]Event, error) {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	events := make([]Event, 0, len(m.Items))
	for _, it := range m.Items {
		key := dedupKey(m, it, opts)
		ev := Event{RoutingKey: routingKey, DedupKey: key}
		switch it.Event {
		case alert.DeliverAcknowledged:
			ev.EventAction = "acknowledge"
		case alert.DeliverResolved:
			ev.EventAction = "resolve"
		case alert.DeliverOpened, alert.DeliverRaised, alert.DeliverReminder, alert.DeliverEscalated,
			alert.DeliverFlapping, notify.EventTest:
			ev.EventAction = "trigger"
			ev.Client = "pulse"
			ev.Payload = payload(m, it, opts)
			if it.Check.Runbook != "" {
				ev.Links = []Link{{Href: it.Check.Runbook, Text: "Runbook"}}
			}
		default:
			return nil, fmt.Errorf("incident #%d: unknown event %q", it.Incident.ID, it.Event)
		}
		events = append(events, ev)
		if it.Event == notify.EventTest {
			events = append(events, Event{RoutingKey: routingKey, EventAction: "resolve", DedupKey: key})
		}
	}
	return events, nil
}

// dedupKey is the incident's key within the API's 255 characters, the same
// identity the other incident channels (opsgenie's alias) use.
func dedupKey(m *notify.Message, it notify.Item, opts notify.Options) string {
	return notify.IncidentKey(m, it, opts.Agent, maxDedupKey)
}

func payload(m *notify.Message, it notify.Item, opts notify.Options) *Payload {
	source := m.Source
	if source == "" {
		source = opts.Host
	}
	at := it.At
	if at.IsZero() {
		at = m.SentAt
	}
	if at.IsZero() {
		at = opts.Now()
	}
	summary := notify.Summary(m, it)
	if it.Event == alert.DeliverFlapping {
		summary += " (flapping)"
	}
	p := &Payload{
		Summary:   notify.Truncate(summary, maxSummary),
		Source:    source,
		Severity:  severity(it.Incident.Severity),
		Timestamp: at.UTC().Format(time.RFC3339),
		Component: it.Check.Name,
		Class:     it.Check.Type,
		CustomDetails: CustomDetails{
			Event:       it.Event,
			State:       it.Incident.State,
			Message:     it.Incident.Message,
			Value:       it.Incident.Value,
			IncidentID:  it.Incident.ID,
			Severity:    it.Incident.Severity,
			Runbook:     it.Check.Runbook,
			Description: it.Check.Description,
			Tags:        it.Check.Tags,
			Note:        it.Note,
			Agent:       m.Agent,
		},
	}
	if !it.Incident.OpenedAt.IsZero() {
		p.CustomDetails.OpenedAt = it.Incident.OpenedAt.UTC().Format(time.RFC3339)
	}
	if len(it.Check.Tags) > 0 {
		p.Group = it.Check.Tags[0]
	}
	if it.Event == notify.EventTest {
		p.Severity = "info"
		p.Component = "pulse"
		p.Class = "test"
	}
	return p
}

// severity maps pulse's P1..P4 to PagerDuty's severities.
func severity(s string) string {
	switch s {
	case "P1":
		return "critical"
	case "P2":
		return "error"
	case "P3":
		return "warning"
	case "P4":
		return "info"
	}
	return "error"
}
