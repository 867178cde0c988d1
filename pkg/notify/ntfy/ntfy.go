// Package ntfy publishes incidents to an ntfy topic (ntfy.sh or a
// self-hosted server), one notification per Send, with a title, a priority
// from the incident's severity and emoji tags.
//
// It uses the JSON publish form documented at https://docs.ntfy.sh/publish/
// ("Publish as JSON": POST to the server root with topic, message, title,
// tags, priority, click) rather than headers: one JSON document needs no
// header encoding for non-ASCII titles and goes through the same JSON POST
// as the other notifiers. Access tokens are sent as "Authorization: Bearer"
// (https://docs.ntfy.sh/publish/#access-tokens); 429 and 5xx answers are
// retried, other 4xx are not.
package ntfy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// MaxMessage bounds the message: ntfy.sh turns a longer one into an
// attachment, which a phone does not show in the notification.
const MaxMessage = 4096

// MaxTitle keeps the title to what a notification shows on one line or two.
const MaxTitle = 250

// batchMessage bounds each incident's message in a batch.
const batchMessage = 200

// Config is an ntfy notifier's configuration.
type Config struct {
	Name string
	// Server is the ntfy server; config.DefaultNtfyServer when empty.
	Server  string
	Topic   config.Secret
	Token   config.Secret
	Timeout time.Duration
}

// ConfigFrom takes an ntfy [[notifier]] table. config.Load validated it
// (config is the one validator), so ConfigFrom only copies it.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, Server: n.Server, Topic: n.Topic, Token: n.Token, Timeout: n.Timeout.D()}
}

// Notifier publishes messages to one ntfy topic.
type Notifier struct {
	cfg     Config
	opts    notify.Options
	http    *httpx.Client
	url     string
	header  http.Header
	secrets []string
	log     *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns an ntfy notifier. It refuses a Config without a topic, which
// one built in code could lack.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.Topic == "" {
		return nil, fmt.Errorf("notifier %q: topic is required", cfg.Name)
	}
	if cfg.Server == "" {
		cfg.Server = config.DefaultNtfyServer
	}
	opts = opts.WithDefaults()
	header := http.Header{}
	secrets := []string{cfg.Topic.Reveal()}
	if cfg.Token != "" {
		header.Set("Authorization", "Bearer "+cfg.Token.Reveal())
		secrets = append(secrets, cfg.Token.Reveal())
	}
	return &Notifier{
		cfg:     cfg,
		opts:    opts,
		http:    httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, secrets...),
		url:     strings.TrimSuffix(cfg.Server, "/") + "/",
		header:  header,
		secrets: secrets,
		log:     opts.Logger.With("notifier", cfg.Name, "type", "ntfy"),
	}, nil
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send publishes m as one notification. ntfy accepts with 200 and the
// stored message as JSON; any other status is an error, retried on 429
// (after Retry-After when given) and 5xx.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	body, err := httpx.JSON(Render(m, n.cfg.Topic.Reveal(), n.cfg.Name, n.opts))
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("ntfy %q: encode message: %w", n.cfg.Name, err)}
	}
	ans, err := n.http.Post(ctx, n.url, body, n.header)
	if err != nil {
		return wrap(n.cfg.Name, err)
	}
	if ans.Status != 200 {
		return wrap(n.cfg.Name, n.http.Err(ans))
	}
	n.log.Debug("ntfy message published", "items", len(m.Items), "bytes", len(body))
	return nil
}

func wrap(name string, err error) error {
	var se *notify.SendError
	if errors.As(err, &se) {
		se.Err = fmt.Errorf("ntfy %q: %w", name, se.Err)
		return se
	}
	return fmt.Errorf("ntfy %q: %w", name, err)
}

// Payload is ntfy's JSON publish document.
type Payload struct {
	Topic    string   `json:"topic"`
	Title    string   `json:"title"`
	Message  string   `json:"message"`
	Priority int      `json:"priority"`
	Tags     []string `json:"tags"`
	Click    string   `json:"click,omitempty"`
}

// Priorities are ntfy's 1 (min) to 5 (max, "urgent").
const (
	priorityLow     = 2
	priorityDefault = 3
)

// Render builds the publish document for m. ntfy shows title and message
// as plain text (markdown is off), so nothing needs escaping.
func Render(m *notify.Message, topic, notifier string, opts notify.Options) Payload {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	footer := "\n\npulse on " + notify.Truncate(m.Source, 255)
	p := Payload{Topic: topic}
	switch {
	case m.Digest != nil:
		p.Title = "pulse " + m.Digest.Title
		p.Message = notify.Truncate(m.Digest.Summary, MaxMessage-len(footer)) + footer
		p.Priority, p.Tags = priorityLow, []string{"bar_chart"}
	case len(m.Items) == 1 && m.Items[0].Event == notify.EventTest:
		p.Title = "pulse test notification"
		p.Message = notify.TestText(m) + ": notifier " + notifier + " can publish to this topic." + footer
		p.Priority, p.Tags = priorityDefault, []string{"wave"}
	case len(m.Items) == 1:
		it := m.Items[0]
		p.Title = title(it)
		p.Message = single(it, m.SentAt, footer)
		p.Priority, p.Tags = Priority(it), []string{tag(it)}
		if sev := it.Incident.Severity; sev != "" {
			p.Tags = append(p.Tags, sev)
		}
		if rb := it.Check.Runbook; strings.HasPrefix(rb, "https://") || strings.HasPrefix(rb, "http://") {
			p.Click = rb
		}
	default:
		items := notify.SortItems(m.Items)
		p.Title = fmt.Sprintf("pulse: %d incidents", len(items))
		p.Message = batch(items, m.SentAt, footer)
		p.Priority = priorityDefault
		for _, it := range items {
			p.Priority = max(p.Priority, Priority(it))
		}
		p.Tags = []string{tag(items[0])}
	}
	p.Title = notify.Truncate(notify.OneLine(p.Title), MaxTitle)
	return p
}

// Priority maps an item to ntfy's scale: P1 5 (urgent), P2 4 (high), P3 3
// (default), P4 2 (low). An acknowledgement or a resolve is news, not a
// page: never above default.
func Priority(it notify.Item) int {
	p := priorityDefault
	switch it.Incident.Severity {
	case "P1":
		p = 5
	case "P2":
		p = 4
	case "P4":
		p = priorityLow
	}
	if it.Event == alert.DeliverResolved || it.Event == alert.DeliverAcknowledged {
		p = min(p, priorityDefault)
	}
	return p
}

// tag is the emoji short code ntfy shows before the title.
func tag(it notify.Item) string {
	switch it.Event {
	case alert.DeliverResolved:
		return "white_check_mark"
	case alert.DeliverAcknowledged:
		return "eyes"
	case alert.DeliverFlapping:
		return "repeat"
	}
	switch it.Incident.Severity {
	case "P1", "P2":
		return "rotating_light"
	}
	return "warning"
}

func single(it notify.Item, now time.Time, footer string) string {
	inc := &it.Incident
	var lines []string
	if inc.State != "" {
		lines = append(lines, "State: "+inc.State)
	}
	if !inc.OpenedAt.IsZero() {
		if it.Event == alert.DeliverResolved {
			lines = append(lines, "Duration: "+ui.Approx(inc.Duration(now)))
		} else {
			lines = append(lines, "Open for: "+ui.Approx(inc.Duration(now))+", since "+inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
	lines = append(lines, "Incident: #"+strconv.FormatInt(inc.ID, 10))
	if inc.AckedBy != "" {
		lines = append(lines, "Acknowledged by: "+notify.Truncate(inc.AckedBy, 100))
	}
	if it.Check.Runbook != "" {
		lines = append(lines, "Runbook: "+notify.Truncate(it.Check.Runbook, 500))
	}
	if it.Note != "" {
		lines = append(lines, notify.Truncate(it.Note, 300))
	}
	rest := "\n\n" + strings.Join(lines, "\n") + footer
	msg := inc.Message
	if msg == "" {
		return strings.TrimPrefix(rest, "\n\n")
	}
	return notify.Truncate(msg, MaxMessage-len(rest)) + rest
}

func batch(items []notify.Item, now time.Time, footer string) string {
	var b strings.Builder
	b.WriteString(notify.Tally(items) + "\n")
	for i, it := range items {
		line := "\n" + title(it)
		if !it.Incident.OpenedAt.IsZero() {
			if it.Event == alert.DeliverResolved {
				line += " (lasted " + ui.Approx(it.Incident.Duration(now)) + ")"
			} else {
				line += " (open " + ui.Approx(it.Incident.Duration(now)) + ")"
			}
		}
		if msg := it.Incident.Message; msg != "" {
			line += ": " + notify.Truncate(notify.OneLine(msg), batchMessage)
		}
		rest := items[i:]
		more := fmt.Sprintf("\n…and %d more: %s", len(rest), notify.Tally(rest))
		if b.Len()+len(line)+len(more)+len(footer) > MaxMessage {
			b.WriteString(more)
			break
		}
		b.WriteString(line)
	}
	b.WriteString(footer)
	return b.String()
}

// title is "P1 OPEN api-health", or "RESOLVED api-health" for a resolve.
func title(it notify.Item) string {
	t := notify.EventLabel(it.Event) + " " + it.Check.Name
	if it.Event != alert.DeliverResolved && it.Incident.Severity != "" {
		t = it.Incident.Severity + " " + t
	}
	return t
}
