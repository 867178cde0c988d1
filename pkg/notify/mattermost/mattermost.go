// Package mattermost delivers incidents to a Mattermost incoming webhook:
// a Markdown text line (what notifications show) and one message attachment
// per incident, coloured by state. The payload is Slack-compatible in form,
// but attachments rather than Block Kit, which Mattermost does not render;
// the wording is shared with the other chat notifiers (internal/chat).
//
// Formats and answers followed:
//   - https://developers.mattermost.com/integrate/webhooks/incoming/ (text,
//     channel, username, attachments; 200 with the body "ok")
//   - https://developers.mattermost.com/integrate/reference/message-attachments/
//     (fallback, color, pretext, text, title, title_link, fields, footer)
//   - https://docs.mattermost.com/collaborate/format-messages.html (Markdown,
//     backslash escapes) and .../mention-people.html (@channel, @all, @here)
package mattermost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// Limits pulse keeps to. Mattermost's post message holds at most 16383
// characters on a default server; attachment texts are kept far below it so
// that a batch reads as a list, not a wall.
const (
	MaxText           = 16383
	MaxAttachmentText = 4000
	MaxAttachments    = 20
	MaxTitle          = 256
)

// batchMessage bounds each incident's message in a batch.
const batchMessage = 300

// Config is a mattermost notifier's configuration.
type Config struct {
	Name       string
	WebhookURL config.Secret
	Channel    string // overrides the webhook's channel when set
	Username   string // overrides the webhook's poster name when set
	Timeout    time.Duration
}

// ConfigFrom takes a mattermost [[notifier]] table. config.Load validated
// it (config is the one validator), so ConfigFrom only copies; New still
// refuses an empty webhook URL, which a Config built in code could have.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, WebhookURL: n.WebhookURL, Channel: n.Channel, Username: n.Username, Timeout: n.Timeout.D()}
}

// Notifier posts messages to a Mattermost incoming webhook.
type Notifier struct {
	cfg  Config
	opts notify.Options
	http *httpx.Client
	log  *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Mattermost notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.WebhookURL == "" {
		return nil, fmt.Errorf("notifier %q: webhook_url is required", cfg.Name)
	}
	opts = opts.WithDefaults()
	return &Notifier{
		cfg:  cfg,
		opts: opts,
		http: httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, httpx.URLSecrets(cfg.WebhookURL.Reveal())...),
		log:  opts.Logger.With("notifier", cfg.Name, "type", "mattermost"),
	}, nil
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send posts m as one Mattermost post. Mattermost accepts with 200 (and the
// body "ok"); every other status is an error, classified by status.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	p := Render(m, n.cfg.Name, n.opts)
	p.Channel, p.Username = n.cfg.Channel, n.cfg.Username
	body, err := httpx.JSON(p)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("mattermost %q: encode message: %w", n.cfg.Name, err)}
	}
	ans, err := n.http.Post(ctx, n.cfg.WebhookURL.Reveal(), body, nil)
	if err != nil {
		return wrap(n.cfg.Name, err)
	}
	// Unlike Slack, a 200 is the acceptance whatever its body: the "ok" is
	// not part of Mattermost's documented contract across versions.
	if ans.Status != 200 {
		se := n.http.Err(ans)
		if se.Status == 501 {
			// Mattermost's answer when incoming webhooks are disabled on the
			// server: only an administrator can change that, so the failure
			// is recorded and shown rather than retried for hours.
			se.Retryable, se.RetryAfter = false, 0
		}
		return wrap(n.cfg.Name, se)
	}
	n.log.Debug("mattermost message accepted", "items", len(m.Items), "bytes", len(body))
	return nil
}

func wrap(name string, err error) error {
	var se *notify.SendError
	if errors.As(err, &se) {
		se.Err = fmt.Errorf("mattermost %q: %w", name, se.Err)
		return se
	}
	return fmt.Errorf("mattermost %q: %w", name, err)
}

// Payload is an incoming-webhook post.
type Payload struct {
	Text        string       `json:"text,omitempty"`
	Channel     string       `json:"channel,omitempty"`
	Username    string       `json:"username,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a message attachment.
type Attachment struct {
	Fallback string  `json:"fallback"`
	Color    string  `json:"color,omitempty"` // "#RRGGBB"
	Title    string  `json:"title,omitempty"` // plain text
	Text     string  `json:"text,omitempty"`  // Markdown
	Fields   []Field `json:"fields,omitempty"`
	Footer   string  `json:"footer,omitempty"`
}

// Field is one title/value pair of an attachment; short ones sit side by
// side.
type Field struct {
	Title string `json:"title"`
	Value string `json:"value"` // Markdown
	Short bool   `json:"short"`
}

// Render builds the Mattermost post for m (without the channel and
// username overrides, which are the notifier's).
func Render(m *notify.Message, notifier string, opts notify.Options) Payload {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	footer := plain("pulse on " + m.Source)
	switch {
	case m.Digest != nil:
		d := m.Digest
		return Payload{
			Text: fit("**"+esc("pulse "+d.Title)+"**\n"+esc(d.Summary)+"\n"+esc("pulse on "+m.Source), MaxText),
		}
	case len(m.Items) == 1 && m.Items[0].Event == notify.EventTest:
		return Payload{
			Text: fit(chat.Icon(m.Items[0])+" "+esc(notify.TestText(m))+": notifier **"+esc(notifier)+"** can post to this channel.", MaxText),
		}
	case len(m.Items) == 1:
		return single(m, m.Items[0], footer)
	default:
		return batch(m, footer)
	}
}

func single(m *notify.Message, it notify.Item, footer string) Payload {
	inc := &it.Incident
	fields := []Field{
		{Title: "Severity", Value: esc(inc.Severity), Short: true},
		{Title: "Check", Value: esc(chat.CheckLabel(it.Check)), Short: true},
		{Title: "State", Value: esc(inc.State), Short: true},
	}
	if !inc.OpenedAt.IsZero() {
		if it.Event == alert.DeliverResolved {
			fields = append(fields, Field{Title: "Duration", Value: ui.Approx(inc.Duration(m.SentAt)), Short: true})
		} else {
			fields = append(fields, Field{Title: "Open for", Value: ui.Approx(inc.Duration(m.SentAt)) + ", since " + inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC"), Short: true})
		}
	}
	fields = append(fields, Field{Title: "Incident", Value: "#" + strconv.FormatInt(inc.ID, 10), Short: true})
	if inc.AckedBy != "" {
		fields = append(fields, Field{Title: "Acknowledged by", Value: esc(inc.AckedBy), Short: true})
	}
	if it.Check.Runbook != "" {
		fields = append(fields, Field{Title: "Runbook", Value: link(it.Check.Runbook, "Runbook"), Short: true})
	}
	if it.Note != "" {
		fields = append(fields, Field{Title: "Note", Value: fit(esc(it.Note), MaxAttachmentText)})
	}
	head := chat.Icon(it) + " " + chat.Title(it) + " (#" + strconv.FormatInt(inc.ID, 10) + ")"
	a := Attachment{
		Fallback: plain(notify.Summary(m, it)),
		Color:    hex(chat.Color(it)),
		Title:    plain(notify.Truncate(chat.Icon(it)+" "+chat.Title(it), MaxTitle)),
		Text:     fit(esc(inc.Message), MaxAttachmentText),
		Fields:   fields,
		Footer:   footer,
	}
	return Payload{Text: fit(esc(head), MaxText), Attachments: []Attachment{a}}
}

func batch(m *notify.Message, footer string) Payload {
	items := notify.SortItems(m.Items)
	shown := items
	if len(items) > MaxAttachments {
		// The last attachment counts those that do not get their own.
		shown = items[:MaxAttachments-1]
	}
	atts := make([]Attachment, 0, MaxAttachments)
	for _, it := range shown {
		inc := &it.Incident
		line := []string{"#" + strconv.FormatInt(inc.ID, 10)}
		if inc.State != "" {
			line = append(line, esc(inc.State))
		}
		if !inc.OpenedAt.IsZero() {
			if it.Event == alert.DeliverResolved {
				line = append(line, "lasted "+ui.Approx(inc.Duration(m.SentAt)))
			} else {
				line = append(line, "open "+ui.Approx(inc.Duration(m.SentAt)))
			}
		}
		if it.Check.Runbook != "" {
			line = append(line, link(it.Check.Runbook, "Runbook"))
		}
		text := strings.Join(line, " · ")
		if inc.Message != "" {
			text += "\n" + fit(esc(notify.OneLine(inc.Message)), batchMessage)
		}
		atts = append(atts, Attachment{
			Fallback: plain(notify.Truncate(notify.Summary(m, it), 200)),
			Color:    hex(chat.Color(it)),
			Title:    plain(notify.Truncate(chat.Icon(it)+" "+chat.Title(it), MaxTitle)),
			Text:     fit(text, MaxAttachmentText),
		})
	}
	if rest := items[len(shown):]; len(rest) > 0 {
		more := fmt.Sprintf("…and %d more: %s", len(rest), notify.Tally(rest))
		atts = append(atts, Attachment{Fallback: plain(more), Color: hex(chat.ColorInfo), Text: esc(more)})
	}
	atts[len(atts)-1].Footer = footer
	head := fmt.Sprintf("pulse: %d incidents: %s", len(items), notify.Tally(items))
	return Payload{Text: fit(esc(head), MaxText), Attachments: atts}
}

func hex(rgb int) string { return fmt.Sprintf("#%06X", rgb) }

// link is a Markdown link whose URL cannot end early: the characters that
// would close it are percent-encoded.
func link(href, label string) string {
	href = strings.NewReplacer("(", "%28", ")", "%29", "<", "%3C", ">", "%3E", " ", "%20").Replace(href)
	return "[" + esc(label) + "](" + href + ")"
}

// mention breaks what Mattermost reads as a mention (@channel, @all,
// @here, @user) or a channel link (~town-square) with a zero-width space:
// backslashes are not honoured everywhere mentions are parsed.
var mention = strings.NewReplacer("@", "@\u200b", "~", "~\u200b")

// plain is text Mattermost shows without Markdown (titles, fallbacks,
// footers): only mentions need breaking.
func plain(s string) string { return mention.Replace(s) }

// escaper backslash-escapes what Mattermost's Markdown gives meaning to
// anywhere in a line, and breaks mentions.
var escaper = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "`", "\\`", "|", `\|`, "<", `\<`, ">", `\>`,
	"[", `\[`, "]", `\]`, "~", "\\~\u200b", "@", "@\u200b",
)

// esc makes user-controlled text (check names, messages) literal Markdown
// text. Headings, lists and quotes only start a line, so only there are #,
// -, + and = escaped.
func esc(s string) string {
	s = escaper.Replace(s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if t := strings.TrimLeft(l, " "); t != "" && strings.ContainsRune("#-+=", rune(t[0])) {
			lines[i] = l[:len(l)-len(t)] + `\` + t
		}
	}
	return strings.Join(lines, "\n")
}

// fit truncates escaped Markdown to max bytes without leaving a dangling
// backslash that would escape the ellipsis.
func fit(s string, max int) string {
	t := notify.Truncate(s, max)
	if len(t) == len(s) {
		return t
	}
	body := strings.TrimSuffix(t, "…")
	n := len(body) - len(strings.TrimRight(body, `\`))
	if n%2 == 1 {
		body = body[:len(body)-1]
	}
	return body + "…"
}
