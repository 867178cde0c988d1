// Package webhook delivers incidents as JSON documents POSTed to a URL, one
// request per item: {"version":1,"event":...,"incident":{...},"check":{...}}.
package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
)

// Version is the payload's schema version.
const Version = 1

// Config is a webhook notifier's configuration.
type Config struct {
	Name    string
	URL     config.Secret
	Headers map[string]config.Secret
	Timeout time.Duration
}

// ConfigFrom takes a webhook [[notifier]] table. config.Load validated the table (config is the one validator), so
// ConfigFrom only copies it; New still refuses an empty
// URL, which a Config built in code could have.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, URL: n.URL, Headers: n.Headers, Timeout: n.Timeout.D()}
}

// Notifier posts incidents to a URL.
type Notifier struct {
	cfg    Config
	opts   notify.Options
	header http.Header
	http   *httpx.Client
	log    *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a webhook notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("notifier %q: url is required", cfg.Name)
	}
	opts = opts.WithDefaults()
	secrets := httpx.URLSecrets(cfg.URL.Reveal())
	header := http.Header{}
	for k, v := range cfg.Headers {
		header.Set(k, v.Reveal())
		secrets = append(secrets, headerSecrets(v.Reveal())...)
	}
	log := opts.Logger.With("notifier", cfg.Name, "type", "webhook")
	return &Notifier{cfg: cfg, opts: opts, header: header, http: httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, secrets...), log: log}, nil
}

// headerSecrets is a header value and, for "Bearer xyz"-style values, the
// credential on its own (an answer may quote just the token).
func headerSecrets(v string) []string {
	out := []string{v}
	if i := strings.LastIndexByte(v, ' '); i >= 0 && len(v)-i > 4 {
		out = append(out, v[i+1:])
	}
	return out
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Payload is one webhook document.
type Payload struct {
	Version int    `json:"version"`
	Event   string `json:"event"`
	// Text is the event in one line, for people and chat bridges.
	Text     string           `json:"text"`
	Agent    string           `json:"agent"`
	Source   string           `json:"source"`
	At       time.Time        `json:"at"`
	Note     string           `json:"note,omitempty"`
	Incident *notify.Incident `json:"incident,omitempty"` // absent for "test"
	Check    *notify.Check    `json:"check,omitempty"`    // absent for "test"
}

// Payloads renders m: one document per item, in order. A digest becomes one
// "digest" document carrying its summary and markdown.
func Payloads(m *notify.Message) ([]json.RawMessage, error) {
	if m.Digest != nil {
		b, err := json.Marshal(struct {
			Version int            `json:"version"`
			Event   string         `json:"event"`
			Text    string         `json:"text"`
			Agent   string         `json:"agent"`
			Source  string         `json:"source"`
			Digest  *notify.Digest `json:"digest"`
		}{Version, "digest", "pulse " + m.Digest.Title + ": " + m.Digest.Summary, m.Agent, m.Source, m.Digest})
		return []json.RawMessage{b}, err
	}
	out := make([]json.RawMessage, 0, len(m.Items))
	for _, it := range m.Items {
		p := Payload{
			Version: Version, Event: it.Event, Agent: m.Agent, Source: m.Source,
			At: it.At.UTC(), Note: it.Note,
		}
		if it.Event == notify.EventTest {
			// A test has no incident: a zero one would only confuse receivers.
			p.Text = notify.TestText(m)
		} else {
			inc, chk := it.Incident, it.Check
			p.Text = notify.EventLabel(it.Event) + " " + notify.Summary(m, it)
			p.Incident, p.Check = &inc, &chk
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Send posts one document per item. A 2xx answer is acceptance. It stops at
// the first retryable failure (the whole message is retried) and reports a
// permanent one after trying the other items.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	docs, err := Payloads(n.opts.Complete(m))
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("webhook %q: encode: %w", n.cfg.Name, err)}
	}
	var permanent *notify.SendError
	for i, doc := range docs {
		ans, err := n.http.Post(ctx, n.cfg.URL.Reveal(), doc, n.header)
		if err != nil {
			return fmt.Errorf("webhook %q: %w", n.cfg.Name, err)
		}
		if ans.Status < 200 || ans.Status > 299 {
			se := n.http.Err(ans)
			se.Err = fmt.Errorf("webhook %q (document %d of %d): %w", n.cfg.Name, i+1, len(docs), se.Err)
			if se.Retryable {
				return se
			}
			if permanent == nil {
				permanent = se
			}
		}
	}
	if permanent != nil {
		return permanent
	}
	return nil
}
