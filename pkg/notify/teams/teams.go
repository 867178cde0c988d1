// Package teams delivers incidents to a Microsoft Teams channel through a
// Workflows (Power Automate) webhook, as one Adaptive Card per message: a
// single incident as a title, its message and a fact set, a batch as one
// line per incident, summarised past what one card should hold.
//
// The request is the one the "Send webhook alerts to a channel" workflow
// expects, a message with one Adaptive Card attachment:
// https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook
// (28 KB per message, 429 when throttled) and
// https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
// (Workflows take Adaptive Cards only);
// the card follows the Adaptive Cards 1.4 schema
// (https://adaptivecards.io/explorer/, https://adaptivecards.io/schemas/adaptive-card.json)
// and its Markdown subset
// (bold, italic, lists and links only:
// https://learn.microsoft.com/en-us/adaptive-cards/authoring-cards/text-features).
// A workflow's trigger answers 202 Accepted once the run is queued.
package teams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/chat"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Adaptive Card constants of every payload.
const (
	ContentType   = "application/vnd.microsoft.card.adaptive"
	Schema        = "http://adaptivecards.io/schemas/adaptive-card.json"
	CardVersion   = "1.4"
	MessageType   = "message"
	maxCardBytes  = 28 << 10 // Teams refuses messages above about 28 KB
	maxText       = 3000     // one incident's message in a single card
	batchMessage  = 300      // one incident's message in a batch
	maxBatchLines = 25       // incidents listed in one card before "and N more"
)

// Config is a teams notifier's configuration.
type Config struct {
	Name       string
	WebhookURL config.Secret
	Timeout    time.Duration
}

// ConfigFrom takes a teams [[notifier]] table. config.Load validated the
// table (config is the one validator), so ConfigFrom only copies it; New
// still refuses an empty webhook URL, which a Config built in code could
// have.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, WebhookURL: n.WebhookURL, Timeout: n.Timeout.D()}
}

// Notifier posts Adaptive Cards to a Teams Workflows webhook.
type Notifier struct {
	cfg  Config
	opts notify.Options
	http *httpx.Client
	log  *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Teams notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.WebhookURL == "" {
		return nil, fmt.Errorf("notifier %q: webhook_url is required", cfg.Name)
	}
	opts = opts.WithDefaults()
	return &Notifier{
		cfg:  cfg,
		opts: opts,
		http: httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, secrets(cfg.WebhookURL.Reveal())...),
		log:  opts.Logger.With("notifier", cfg.Name, "type", "teams"),
	}, nil
}

// secrets are what must never be shown of the webhook URL: the URL is the
// credential, and its sig= parameter alone is enough to post, so an answer
// that quotes only the signature is redacted too.
func secrets(raw string) []string {
	s := httpx.URLSecrets(raw)
	if u, err := url.Parse(raw); err == nil {
		if sig := u.Query().Get("sig"); len(sig) > 4 {
			s = append(s, sig, url.QueryEscape(sig))
		}
	}
	return s
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send posts m as one card. A workflow's trigger accepts with 202 (the run
// is queued); a flow ending in a Response action may answer 200. Any other
// answer is an error: 429 and 5xx are retried, other 4xx (a deleted flow,
// a bad signature, a card the flow refuses) are not.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	body, err := httpx.JSON(Render(m, n.cfg.Name, n.opts))
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("teams %q: encode message: %w", n.cfg.Name, err)}
	}
	ans, err := n.http.Post(ctx, n.cfg.WebhookURL.Reveal(), body, nil)
	if err != nil {
		return wrap(n.cfg.Name, err)
	}
	if ans.Status != 202 && ans.Status != 200 {
		return wrap(n.cfg.Name, n.http.Err(ans))
	}
	n.log.Debug("teams message accepted", "items", len(m.Items), "bytes", len(body))
	return nil
}

func wrap(name string, err error) error {
	var se *notify.SendError
	if errors.As(err, &se) {
		se.Err = fmt.Errorf("teams %q: %w", name, se.Err)
		return se
	}
	return fmt.Errorf("teams %q: %w", name, err)
}

// Payload is the message a Workflows webhook posts to the channel.
type Payload struct {
	Type        string       `json:"type"` // message
	Attachments []Attachment `json:"attachments"`
}

// Attachment holds the card.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"` // always null: the card is inline
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card.
type Card struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"` // AdaptiveCard
	Version string    `json:"version"`
	Body    []Element `json:"body"`
	Actions []Action  `json:"actions,omitempty"`
	MSTeams *MSTeams  `json:"msteams,omitempty"`
}

// MSTeams are Teams' own card properties.
type MSTeams struct {
	Width string `json:"width"` // Full: incident text reads better wide
}

// Element is a TextBlock or a FactSet.
type Element struct {
	Type      string `json:"type"`
	Text      string `json:"text,omitempty"`
	Wrap      bool   `json:"wrap,omitempty"`
	Weight    string `json:"weight,omitempty"`
	Size      string `json:"size,omitempty"`
	Color     string `json:"color,omitempty"`
	IsSubtle  bool   `json:"isSubtle,omitempty"`
	Spacing   string `json:"spacing,omitempty"`
	Separator bool   `json:"separator,omitempty"`
	Facts     []Fact `json:"facts,omitempty"`
}

// Fact is one title/value row of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Action is an Action.OpenUrl button.
type Action struct {
	Type  string `json:"type"` // Action.OpenUrl
	Title string `json:"title"`
	URL   string `json:"url"`
}

func text(s string) Element { return Element{Type: "TextBlock", Text: s, Wrap: true} }

func heading(s, color string) Element {
	return Element{Type: "TextBlock", Text: md(notify.OneLine(s)), Wrap: true, Weight: "Bolder", Size: "Medium", Color: color}
}

func subtle(s string) Element {
	return Element{Type: "TextBlock", Text: s, Wrap: true, IsSubtle: true, Size: "Small", Spacing: "Small"}
}

// Render builds the Workflows message for m.
func Render(m *notify.Message, notifier string, opts notify.Options) Payload {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	now := m.SentAt
	footer := subtle("pulse on " + md(m.Source))
	var body []Element
	var actions []Action
	switch {
	case m.Digest != nil:
		d := m.Digest
		body = []Element{heading("pulse "+d.Title, "Default"), text(md(d.Summary)), footer}
	case len(m.Items) == 1 && m.Items[0].Event == notify.EventTest:
		body = []Element{
			heading("pulse test notification", "Accent"),
			text(md(notify.TestText(m)) + ": notifier **" + md(notifier) + "** can post to this channel."),
			footer,
		}
	case len(m.Items) == 1:
		body, actions = single(m.Items[0], now)
		body = append(body, footer)
	default:
		body = append(batch(m.Items, now), footer)
	}
	return Payload{Type: MessageType, Attachments: []Attachment{{
		ContentType: ContentType,
		Content: Card{Schema: Schema, Type: "AdaptiveCard", Version: CardVersion, Body: body, Actions: actions,
			MSTeams: &MSTeams{Width: "Full"}},
	}}}
}

func single(it notify.Item, now time.Time) ([]Element, []Action) {
	inc := &it.Incident
	body := []Element{heading(chat.Title(it), color(it))}
	if inc.Message != "" {
		body = append(body, text(md(notify.Truncate(inc.Message, maxText))))
	}
	facts := []Fact{
		{"Severity", md(inc.Severity)},
		{"Check", md(chat.CheckLabel(it.Check))},
		{"State", md(inc.State)},
	}
	if !inc.OpenedAt.IsZero() {
		if it.Event == alert.DeliverResolved {
			facts = append(facts, Fact{"Duration", ui.Approx(inc.Duration(now))})
		} else {
			facts = append(facts, Fact{"Open for", ui.Approx(inc.Duration(now)) + ", since " +
				inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC")})
		}
	}
	facts = append(facts, Fact{"Incident", "#" + strconv.FormatInt(inc.ID, 10)})
	if inc.AckedBy != "" {
		facts = append(facts, Fact{"Acknowledged by", md(inc.AckedBy)})
	}
	if it.Check.Description != "" {
		facts = append(facts, Fact{"Description", md(notify.Truncate(it.Check.Description, batchMessage))})
	}
	body = append(body, Element{Type: "FactSet", Facts: facts})
	if it.Note != "" {
		body = append(body, subtle(md(notify.Truncate(it.Note, batchMessage))))
	}
	var actions []Action
	if it.Check.Runbook != "" {
		// The schema wants a URI: the characters a URI cannot hold
		// are percent-encoded, the rest left as written.
		actions = []Action{{Type: "Action.OpenUrl", Title: "Runbook", URL: linkURL(it.Check.Runbook)}}
	}
	return body, actions
}

// batch is one line per incident, most severe first; past maxBatchLines
// (or the card's size) the rest are counted in a last line.
func batch(in []notify.Item, now time.Time) []Element {
	items := notify.SortItems(in)
	body := []Element{
		heading(fmt.Sprintf("pulse: %d incidents", len(items)), "Default"),
		text(md(notify.Tally(items))),
	}
	size := 0
	shown := 0
	for _, it := range items {
		inc := &it.Incident
		line := "**" + md(chat.Title(it)) + "**"
		if inc.State != "" {
			line += " · " + md(inc.State)
		}
		line += " · #" + strconv.FormatInt(inc.ID, 10)
		if !inc.OpenedAt.IsZero() {
			if it.Event == alert.DeliverResolved {
				line += " · lasted " + ui.Approx(inc.Duration(now))
			} else {
				line += " · open " + ui.Approx(inc.Duration(now))
			}
		}
		if it.Check.Runbook != "" {
			line += " · [Runbook](" + linkURL(it.Check.Runbook) + ")"
		}
		if inc.Message != "" {
			line += "\n\n" + md(notify.Truncate(notify.OneLine(inc.Message), batchMessage))
		}
		if shown == maxBatchLines || size+len(line) > maxCardBytes/2 {
			break
		}
		body = append(body, Element{Type: "TextBlock", Text: line, Wrap: true, Separator: true})
		size += len(line)
		shown++
	}
	if rest := items[shown:]; len(rest) > 0 {
		body = append(body, subtle(fmt.Sprintf("…and %d more: %s", len(rest), md(notify.Tally(rest)))))
	}
	return body
}

// color is the heading's Adaptive Card color: red for what pages, yellow
// for the rest, green once resolved.
func color(it notify.Item) string {
	switch it.Event {
	case alert.DeliverResolved:
		return "Good"
	case alert.DeliverAcknowledged:
		return "Accent"
	}
	switch it.Incident.Severity {
	case "P1", "P2":
		return "Attention"
	}
	return "Warning"
}

// mdEscaper backslash-escapes what Adaptive Cards' Markdown subset gives
// meaning to inline: emphasis (* and _) and links ([ and ], without which
// parentheses mean nothing), and the backslash itself. Other punctuation is
// left alone: headers, code and HTML are not in the subset, and a
// backslash before them would only show. "{{" starts a card text function
// ({{DATE(...)}}); a zero-width space between the braces keeps a check's
// message from calling one.
var mdEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `_`, `\_`, `[`, `\[`, `]`, `\]`, "{{", "{\u200b{")

// md escapes s for a TextBlock or fact: the inline markers, and at the
// start of each line the list markers ("- ", "+ ", "1. ") that would turn
// a check's message into a list.
func md(s string) string {
	s = mdEscaper.Replace(s)
	if !strings.ContainsAny(s, "-+.") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = escapeListMarker(l)
	}
	return strings.Join(lines, "\n")
}

func escapeListMarker(l string) string {
	trimmed := strings.TrimLeft(l, " ")
	indent := l[:len(l)-len(trimmed)]
	if strings.HasPrefix(trimmed, "- ") || strings.HasPrefix(trimmed, "+ ") {
		return indent + `\` + trimmed
	}
	d := 0
	for d < len(trimmed) && trimmed[d] >= '0' && trimmed[d] <= '9' {
		d++
	}
	if d > 0 && strings.HasPrefix(trimmed[d:], ". ") {
		return indent + trimmed[:d] + `\` + trimmed[d:]
	}
	return l
}

// linkURL makes href safe inside a Markdown link's parentheses and as an
// Action.OpenUrl URI.
func linkURL(href string) string {
	return strings.NewReplacer(" ", "%20", "(", "%28", ")", "%29", "<", "%3C", ">", "%3E").Replace(href)
}
