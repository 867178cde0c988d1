// Package opsgenie delivers incidents to Opsgenie's Alert API v2: one
// request per item (the API has no batches). Every incident is one alert,
// named by its alias, the same incident key PagerDuty's dedup_key carries:
// a problem creates the alert (Opsgenie counts a repeat instead of opening a
// second one), a raised severity also updates its priority (a create that
// Opsgenie deduplicates changes nothing else), an acknowledgement
// acknowledges it and a resolve closes it.
//
// Format and limits follow https://docs.opsgenie.com/docs/alert-api (create,
// update priority, acknowledge and close answer 202 Accepted because
// Opsgenie processes them asynchronously), status codes
// https://docs.opsgenie.com/docs/response, and authentication
// https://docs.opsgenie.com/docs/authentication ("Authorization: GenieKey KEY").
package opsgenie

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// DefaultURL is the Alert API's base URL; accounts on the EU instance use
// EUURL.
const (
	DefaultURL = "https://api.opsgenie.com"
	EUURL      = "https://api.eu.opsgenie.com"
)

// Limits of the Alert API, in characters; the notifier counts bytes, which
// are never fewer.
const (
	maxMessage     = 130
	maxAlias       = 512
	maxDescription = 15000
	maxEntity      = 512
	maxSource      = 100
	maxUser        = 100
	maxNote        = 25000
	maxTags        = 20
	maxTag         = 50
	maxDetails     = 8000 // keys and values together
)

// Config is an opsgenie notifier's configuration.
type Config struct {
	Name   string
	APIKey config.Secret
	URL    string // the API's base URL; DefaultURL when empty
	Team   string // routes the alerts to this team when set
	// Timeout bounds one request (httpx.DefaultTimeout when zero).
	Timeout time.Duration
}

// ConfigFrom takes an opsgenie [[notifier]] table. config.Load validated
// the table (config is the one validator), so ConfigFrom only copies it;
// New still refuses an empty key, which a Config built in code could have.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, APIKey: n.APIKey, URL: n.APIURL, Team: n.Team, Timeout: n.Timeout.D()}
}

// Notifier sends alert requests to Opsgenie.
type Notifier struct {
	cfg    Config
	base   string // base URL without a trailing slash
	header http.Header
	opts   notify.Options
	http   *httpx.Client
	log    *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns an Opsgenie notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("notifier %q: api_key is required", cfg.Name)
	}
	opts = opts.WithDefaults()
	base := cfg.URL
	if base == "" {
		base = DefaultURL
	}
	// The key travels in a header that an echoing proxy or a verbose
	// error could show: both forms are redacted.
	secrets := []string{"GenieKey " + cfg.APIKey.Reveal(), cfg.APIKey.Reveal()}
	return &Notifier{
		cfg:    cfg,
		base:   strings.TrimRight(base, "/"),
		header: http.Header{"Authorization": {"GenieKey " + cfg.APIKey.Reveal()}},
		opts:   opts,
		http:   httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, secrets...),
		log:    opts.Logger.With("notifier", cfg.Name, "type", "opsgenie"),
	}, nil
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send makes each item's requests, in order. It stops at the first failure
// worth retrying (the whole message is retried; the alias makes the
// requests already accepted harmless: a second create only counts, a second
// close of a closed alert changes nothing) and reports a permanent failure
// only after trying every other item.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	if m.Digest != nil {
		// A digest is no alert: it would page someone and stay open.
		return &notify.SendError{Err: fmt.Errorf("opsgenie %q: digests are not sent to opsgenie", n.cfg.Name)}
	}
	reqs, err := Requests(m, n.cfg.Team, n.opts)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("opsgenie %q: %w", n.cfg.Name, err)}
	}
	var permanent *notify.SendError
	for i := range reqs {
		r := &reqs[i]
		if err := n.call(ctx, r); err != nil {
			err.Err = fmt.Errorf("opsgenie %q: %s %s (request %d of %d): %w",
				n.cfg.Name, r.Action, r.Alias, i+1, len(reqs), err.Err)
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

// call makes one request and classifies its answer.
func (n *Notifier) call(ctx context.Context, r *Request) *notify.SendError {
	body, err := httpx.JSON(r.Body)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("encode request: %w", err)}
	}
	ans, err := n.http.Do(ctx, r.Method(), n.base+r.Path(), body, n.header)
	if err != nil {
		var se *notify.SendError
		if errors.As(err, &se) {
			return se
		}
		return &notify.SendError{Err: err, Retryable: true}
	}
	// Opsgenie accepts with 202 and a requestId; anything else, even
	// another 2xx, is not proof that the request was queued. 429 and 5xx
	// retry; 401, 403 (a key without the permission), 404 and 422 (a
	// field the API refuses) do not: sending again cannot fix them.
	if ans.Status != http.StatusAccepted {
		return n.http.Err(ans)
	}
	n.log.Debug("opsgenie request accepted", "action", r.Action, "alias", r.Alias)
	return nil
}

// The actions a Request performs.
const (
	ActionCreate      = "create"
	ActionAcknowledge = "acknowledge"
	ActionClose       = "close"
	ActionPriority    = "priority"
)

// Request is one Alert API call: what it does, to which alert, and its
// JSON body (*Alert for a create, *Priority for a priority update, *Action
// for an acknowledge or close).
type Request struct {
	Action string
	Alias  string
	Body   any
}

// Method is the request's HTTP method: the priority is a property of the
// alert, set with PUT; every other call is a POST.
func (r *Request) Method() string {
	if r.Action == ActionPriority {
		return http.MethodPut
	}
	return http.MethodPost
}

// Path is the request's path and query below the base URL. The alias is
// escaped: an incident key may hold any character, and a "/" or "?" in it
// must not change which endpoint is called.
func (r *Request) Path() string {
	if r.Action == ActionCreate {
		return "/v2/alerts"
	}
	return "/v2/alerts/" + url.PathEscape(r.Alias) + "/" + r.Action + "?identifierType=alias"
}

// Alert is the body of a create request.
type Alert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description,omitempty"`
	Responders  []Responder       `json:"responders,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source,omitempty"`
	Priority    string            `json:"priority"` // P1..P5
	User        string            `json:"user,omitempty"`
	Note        string            `json:"note,omitempty"`
}

// Responder is a team the alert is routed to.
type Responder struct {
	Name string `json:"name"`
	Type string `json:"type"` // team
}

// Priority is the body of a priority update.
type Priority struct {
	Priority string `json:"priority"`
}

// Action is the body of an acknowledge or close request.
type Action struct {
	User   string `json:"user,omitempty"`
	Source string `json:"source,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Requests renders m as the Alert API calls Send makes, in order. A test
// item becomes a create followed by its close, so that a test leaves no
// open alert behind.
func Requests(m *notify.Message, team string, opts notify.Options) ([]Request, error) {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	source := notify.Truncate(m.Source, maxSource)
	reqs := make([]Request, 0, len(m.Items))
	for _, it := range m.Items {
		alias := notify.IncidentKey(m, it, opts.Agent, maxAlias)
		switch it.Event {
		case alert.DeliverAcknowledged:
			user := it.Incident.AckedBy
			if user == "" {
				user = "pulse"
			}
			reqs = append(reqs, Request{Action: ActionAcknowledge, Alias: alias, Body: &Action{
				User:   notify.Truncate(user, maxUser),
				Source: source,
				Note:   notify.Truncate(it.Note, maxNote),
			}})
		case alert.DeliverResolved:
			note := "resolved by pulse"
			if it.Incident.ResolvedAt != nil && !it.Incident.OpenedAt.IsZero() {
				note = "resolved by pulse after " + ui.Approx(it.Incident.Duration(opts.Now()))
			}
			reqs = append(reqs, Request{Action: ActionClose, Alias: alias, Body: &Action{
				User: "pulse", Source: source, Note: note,
			}})
		case alert.DeliverOpened, alert.DeliverRaised, alert.DeliverReminder, alert.DeliverEscalated,
			alert.DeliverFlapping, notify.EventTest:
			a := create(m, it, alias, source, team)
			reqs = append(reqs, Request{Action: ActionCreate, Alias: alias, Body: a})
			if it.Event == alert.DeliverRaised {
				reqs = append(reqs, Request{Action: ActionPriority, Alias: alias, Body: &Priority{Priority: a.Priority}})
			}
			if it.Event == notify.EventTest {
				reqs = append(reqs, Request{Action: ActionClose, Alias: alias, Body: &Action{
					User: "pulse", Source: source, Note: "pulse test notification, closed at once",
				}})
			}
		default:
			return nil, fmt.Errorf("incident #%d: unknown event %q", it.Incident.ID, it.Event)
		}
	}
	return reqs, nil
}

func create(m *notify.Message, it notify.Item, alias, source, team string) *Alert {
	a := &Alert{
		Alias:  alias,
		Source: source,
		User:   "pulse",
		Note:   notify.Truncate(it.Note, maxNote),
	}
	if team != "" {
		a.Responders = []Responder{{Name: team, Type: "team"}}
	}
	if it.Event == notify.EventTest {
		a.Message = notify.Truncate(notify.TestText(m), maxMessage)
		a.Description = "A test of the notifier, sent by `pulse notify --test`; pulse closes it at once."
		a.Priority = "P5"
		a.Entity = "pulse"
		a.Tags = []string{"pulse", "test"}
		a.Details = details([][2]string{{"event", it.Event}, {"agent", m.Agent}})
		return a
	}
	summary := notify.Summary(m, it)
	if it.Event == alert.DeliverFlapping {
		summary += " (flapping)"
	}
	a.Message = notify.Truncate(summary, maxMessage)
	a.Description = notify.Truncate(description(it), maxDescription)
	a.Priority = priority(it.Incident.Severity)
	a.Entity = notify.Truncate(it.Check.Name, maxEntity)
	a.Tags = tags(it.Check.Tags)
	d := [][2]string{
		{"event", it.Event},
		{"severity", it.Incident.Severity},
		{"state", it.Incident.State},
		{"check", it.Check.Name},
		{"check_type", it.Check.Type},
		{"incident_id", strconv.FormatInt(it.Incident.ID, 10)},
		{"agent", m.Agent},
	}
	if it.Incident.Value != nil {
		d = append(d, [2]string{"value", strconv.FormatFloat(*it.Incident.Value, 'g', -1, 64)})
	}
	if !it.Incident.OpenedAt.IsZero() {
		d = append(d, [2]string{"opened_at", it.Incident.OpenedAt.UTC().Format(time.RFC3339)})
	}
	d = append(d, [2]string{"runbook", it.Check.Runbook})
	a.Details = details(d)
	return a
}

// description is the alert's body: the check's message in full, what the
// check is, and where the runbook is (Opsgenie shows details apart, and
// people read the description first).
func description(it notify.Item) string {
	var b strings.Builder
	b.WriteString(it.Incident.Message)
	if it.Check.Description != "" {
		b.WriteString("\n\nCheck: " + it.Check.Name + " (" + it.Check.Type + "), " + it.Check.Description)
	}
	if it.Check.Runbook != "" {
		b.WriteString("\nRunbook: " + it.Check.Runbook)
	}
	if it.Note != "" {
		b.WriteString("\n\n" + it.Note)
	}
	return strings.TrimSpace(b.String())
}

// details keeps the non-empty pairs, in order, within the API's 8000
// characters for keys and values together: a value that does not fit is
// cut, and the pairs after it are left out.
func details(pairs [][2]string) map[string]string {
	d := make(map[string]string, len(pairs))
	left := maxDetails
	for _, p := range pairs {
		if p[1] == "" {
			continue
		}
		room := left - len(p[0])
		if room <= 0 {
			break
		}
		v := notify.Truncate(p[1], room)
		if v == "" {
			break
		}
		d[p[0]] = v
		left -= len(p[0]) + len(v)
	}
	return d
}

// tags are the check's tags within the API's 20 tags of 50 characters.
func tags(in []string) []string {
	out := make([]string, 0, min(len(in), maxTags))
	for _, t := range in {
		if len(out) == maxTags {
			break
		}
		if t = notify.Truncate(t, maxTag); t != "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// priority maps pulse's P1..P4 to Opsgenie's priority of the same name;
// anything else gets Opsgenie's own default, P3.
func priority(s string) string {
	switch s {
	case "P1", "P2", "P3", "P4":
		return s
	}
	return "P3"
}
