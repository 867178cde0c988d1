// Package slack delivers incidents to a Slack incoming webhook as a Block
// Kit message with a plain-text fallback. A batch is one message listing
// every incident, summarised past what Slack's limits let one message hold.
package slack

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

// Slack's limits on one message (Block Kit reference).
const (
	MaxBlocks      = 50
	MaxHeader      = 150
	MaxSectionText = 3000
	MaxField       = 2000
	MaxFields      = 10
	MaxText        = 40000
)

// batchMessage bounds each incident's message in a batch, so that one long
// message does not crowd out the others.
const batchMessage = 300

// Config is a slack notifier's configuration.
type Config struct {
	Name       string
	WebhookURL config.Secret
	Timeout    time.Duration
}

// ConfigFrom takes a slack [[notifier]] table. config.Load validated the table (config is the one validator), so
// ConfigFrom only copies it; New still refuses an empty
// webhook URL, which a Config built in code could have.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, WebhookURL: n.WebhookURL, Timeout: n.Timeout.D()}
}

// Notifier posts messages to a Slack incoming webhook.
type Notifier struct {
	cfg  Config
	opts notify.Options
	http *httpx.Client
	log  *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Slack notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.WebhookURL == "" {
		return nil, fmt.Errorf("notifier %q: webhook_url is required", cfg.Name)
	}
	opts = opts.WithDefaults()
	log := opts.Logger.With("notifier", cfg.Name, "type", "slack")
	return &Notifier{
		cfg:  cfg,
		opts: opts,
		http: httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, httpx.URLSecrets(cfg.WebhookURL.Reveal())...),
		log:  log,
	}, nil
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send posts m as one Slack message. Slack accepts with 200 and the body
// "ok"; every other answer is an error.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	body, err := httpx.JSON(Render(m, n.cfg.Name, n.opts))
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("slack %q: encode message: %w", n.cfg.Name, err)}
	}
	ans, err := n.http.Post(ctx, n.cfg.WebhookURL.Reveal(), body, nil)
	if err != nil {
		return wrap(n.cfg.Name, err)
	}
	if ans.Status != 200 {
		return wrap(n.cfg.Name, n.http.Err(ans))
	}
	if strings.TrimSpace(string(ans.Body)) != "ok" {
		// A 200 with another body is not an acceptance; it does not get
		// better by repeating the same payload.
		se := n.http.Err(ans)
		se.Err = errors.New("receiver answered 200 without \"ok\"")
		return wrap(n.cfg.Name, se)
	}
	n.log.Debug("slack message accepted", "items", len(m.Items), "bytes", len(body))
	return nil
}

func wrap(name string, err error) error {
	var se *notify.SendError
	if errors.As(err, &se) {
		se.Err = fmt.Errorf("slack %q: %w", name, se.Err)
		return se
	}
	return fmt.Errorf("slack %q: %w", name, err)
}

// Payload is an incoming-webhook message.
type Payload struct {
	Text   string  `json:"text"`
	Blocks []Block `json:"blocks"`
}

// Block is a Block Kit layout block (header, section, context, divider).
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []Text `json:"elements,omitempty"`
}

// Text is a Block Kit text object.
type Text struct {
	Type  string `json:"type"` // plain_text | mrkdwn
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

func header(s string) Block {
	return Block{Type: "header", Text: &Text{Type: "plain_text", Text: notify.Truncate(notify.OneLine(s), MaxHeader), Emoji: true}}
}

func section(mrkdwn string) Block {
	return Block{Type: "section", Text: &Text{Type: "mrkdwn", Text: fit(mrkdwn, MaxSectionText)}}
}

func context1(mrkdwn string) Block {
	return Block{Type: "context", Elements: []Text{{Type: "mrkdwn", Text: fit(mrkdwn, MaxSectionText)}}}
}

func field(name, value string) Text {
	return Text{Type: "mrkdwn", Text: fit("*"+name+"*\n"+value, MaxField)}
}

// Render builds the Slack message for m, within Slack's limits whatever the
// size of the batch.
func Render(m *notify.Message, notifier string, opts notify.Options) Payload {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	now := m.SentAt
	if now.IsZero() {
		now = opts.Now()
	}
	host := m.Source
	if host == "" {
		host = opts.Host
	}
	footer := context1("pulse on " + esc(host))
	switch {
	case m.Digest != nil:
		d := m.Digest
		return Payload{
			Text:   fit(esc("pulse "+d.Title+": "+d.Summary), MaxText),
			Blocks: []Block{header("pulse " + d.Title), section(esc(d.Summary)), footer},
		}
	case len(m.Items) == 1 && m.Items[0].Event == notify.EventTest:
		return Payload{
			Text: esc(notify.TestText(m)),
			Blocks: []Block{
				header(":wave: pulse test notification"),
				section(esc(notify.TestText(m)) + ": notifier *" + esc(notifier) + "* can post to this channel."),
				footer,
			},
		}
	case len(m.Items) == 1:
		return single(m, m.Items[0], now, footer)
	default:
		return batch(m, now, footer)
	}
}

func single(m *notify.Message, it notify.Item, now time.Time, footer Block) Payload {
	inc := &it.Incident
	blocks := []Block{header(emoji(it) + " " + chat.Title(it))}
	if msg := inc.Message; msg != "" {
		blocks = append(blocks, section(esc(msg)))
	}
	fields := []Text{
		field("Severity", esc(inc.Severity)),
		field("Check", esc(chat.CheckLabel(it.Check))),
		field("State", esc(inc.State)),
	}
	if !inc.OpenedAt.IsZero() {
		if it.Event == alert.DeliverResolved {
			fields = append(fields, field("Duration", ui.Approx(inc.Duration(now))))
		} else {
			fields = append(fields, field("Open for", ui.Approx(inc.Duration(now))+", since "+date(inc.OpenedAt)))
		}
	}
	fields = append(fields, field("Incident", "#"+strconv.FormatInt(inc.ID, 10)))
	if inc.AckedBy != "" {
		fields = append(fields, field("Acknowledged by", esc(inc.AckedBy)))
	}
	if it.Check.Runbook != "" {
		fields = append(fields, field("Runbook", link(it.Check.Runbook, "Runbook")))
	}
	blocks = append(blocks, Block{Type: "section", Fields: fields[:min(len(fields), MaxFields)]})
	// A link, not a button: a button makes Slack post to the app's
	// interactivity URL, which an incoming webhook has not got, and show a
	// warning. The page behind the link asks before it acknowledges.
	if inc.AckURL != "" {
		blocks = append(blocks, section(":white_check_mark: "+link(inc.AckURL, "Acknowledge")))
	}
	if it.Note != "" {
		blocks = append(blocks, context1(esc(it.Note)))
	}
	blocks = append(blocks, footer)
	text := notify.Summary(m, it)
	if it.Event != alert.DeliverOpened {
		text = notify.EventLabel(it.Event) + " " + text
	}
	text += " (#" + strconv.FormatInt(inc.ID, 10) + ")"
	return Payload{Text: fit(esc(text), MaxText), Blocks: blocks}
}

func batch(m *notify.Message, now time.Time, footer Block) Payload {
	items := notify.SortItems(m.Items)
	tally := notify.Tally(items)
	blocks := []Block{
		header(fmt.Sprintf("pulse: %d incidents", len(items))),
		section(esc(tally)),
	}
	// Room left for one section per incident after header, tally and footer;
	// when they do not all fit, one slot goes to the "and N more" line.
	room := MaxBlocks - 3
	shown := items
	if len(items) > room {
		shown = items[:room-1]
	}
	for _, it := range shown {
		inc := &it.Incident
		line := emoji(it) + " *" + esc(chat.Title(it)) + "*"
		if inc.State != "" {
			line += " · " + esc(inc.State)
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
			line += " · " + link(it.Check.Runbook, "Runbook")
		}
		if inc.AckURL != "" {
			line += " · " + link(inc.AckURL, "Acknowledge")
		}
		if inc.Message != "" {
			line += "\n" + fit(esc(notify.OneLine(inc.Message)), batchMessage)
		}
		blocks = append(blocks, section(line))
	}
	if rest := items[len(shown):]; len(rest) > 0 {
		blocks = append(blocks, context1(fmt.Sprintf("…and %d more: %s", len(rest), esc(notify.Tally(rest)))))
	}
	blocks = append(blocks, footer)

	// The fallback lists every incident, as far as Slack's text limit goes.
	var b strings.Builder
	b.WriteString(esc(fmt.Sprintf("pulse: %d incidents: %s", len(items), tally)))
	for i, it := range items {
		line := "\n" + esc(notify.Truncate(fallbackLine(it, now), 200))
		more := fmt.Sprintf("\n…and %d more", len(items)-i)
		if b.Len()+len(line)+len(more) > MaxText {
			b.WriteString(more)
			break
		}
		b.WriteString(line)
	}
	return Payload{Text: b.String(), Blocks: blocks}
}

// fallbackLine is one incident of a batch in plain text.
func fallbackLine(it notify.Item, now time.Time) string {
	line := chat.Title(it)
	if it.Event == alert.DeliverResolved && !it.Incident.OpenedAt.IsZero() {
		return line + " (after " + ui.Approx(it.Incident.Duration(now)) + ")"
	}
	if it.Incident.Message != "" {
		line += ": " + notify.OneLine(it.Incident.Message)
	}
	return line
}

// emoji is chat.Icon in Slack's shortcodes, which render in every client.
func emoji(it notify.Item) string {
	switch it.Event {
	case alert.DeliverResolved:
		return ":white_check_mark:"
	case alert.DeliverAcknowledged:
		return ":eyes:"
	case alert.DeliverFlapping:
		return ":repeat:"
	case notify.EventTest:
		return ":wave:"
	}
	switch it.Incident.Severity {
	case "P1":
		return ":red_circle:"
	case "P2":
		return ":large_orange_circle:"
	case "P3":
		return ":large_yellow_circle:"
	}
	return ":large_blue_circle:"
}

// date lets Slack show t in each reader's time zone, with UTC as fallback.
func date(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// link is a mrkdwn link; the characters that would end it early are
// percent-encoded, & becomes its entity as Slack requires.
func link(href, label string) string {
	href = strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E", "&", "&amp;").Replace(href)
	return "<" + href + "|" + esc(label) + ">"
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// esc escapes the three characters Slack's mrkdwn gives meaning to; it also
// stops a check message from mentioning <!channel>.
func esc(s string) string { return escaper.Replace(s) }

// fit truncates escaped mrkdwn to max bytes without leaving half an entity.
func fit(s string, max int) string {
	t := notify.Truncate(s, max)
	if len(t) == len(s) {
		return t
	}
	body := strings.TrimSuffix(t, "…")
	if i := strings.LastIndexByte(body, '&'); i >= 0 && !strings.Contains(body[i:], ";") {
		body = body[:i]
	}
	return body + "…"
}
