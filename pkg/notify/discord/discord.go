// Package discord delivers incidents to a Discord channel through an execute
// webhook: a short content line (what a push notification shows) and one
// embed per incident, coloured by state. A batch that does not fit Discord's
// ten embeds ends with an embed counting the rest.
//
// Formats and answers followed:
//   - https://discord.com/developers/docs/resources/webhook#execute-webhook
//     (content and/or embeds, allowed_mentions; 204 No Content on success,
//     200 with ?wait=true)
//   - https://discord.com/developers/docs/resources/message#embed-object-embed-limits
//     (title 256, description 4096, 25 fields of 256/1024, footer 2048,
//     6000 characters over all embeds; content 2000; 10 embeds)
//   - https://discord.com/developers/docs/topics/rate-limits (429 with a JSON
//     body whose retry_after is in seconds, and a Retry-After header)
//   - https://discord.com/developers/docs/reference#message-formatting and
//     https://support.discord.com/hc/en-us/articles/210298617 (markdown)
package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
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

// Discord's limits on one webhook message.
const (
	MaxContent     = 2000
	MaxEmbeds      = 10
	MaxTitle       = 256
	MaxDescription = 4096
	MaxFields      = 25
	MaxFieldName   = 256
	MaxFieldValue  = 1024
	MaxFooter      = 2048
	MaxTotal       = 6000 // over every embed's title, description, fields and footer
)

// batchMessage bounds each incident's message in a batch, so that one long
// message does not crowd out the others within the 6000-character total.
const batchMessage = 300

// Config is a discord notifier's configuration.
type Config struct {
	Name       string
	WebhookURL config.Secret
	Timeout    time.Duration
}

// ConfigFrom takes a discord [[notifier]] table. config.Load validated it
// (config is the one validator), so ConfigFrom only copies; New still
// refuses an empty webhook URL, which a Config built in code could have.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, WebhookURL: n.WebhookURL, Timeout: n.Timeout.D()}
}

// Notifier posts messages to a Discord execute webhook.
type Notifier struct {
	cfg  Config
	opts notify.Options
	http *httpx.Client
	log  *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Discord notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.WebhookURL == "" {
		return nil, fmt.Errorf("notifier %q: webhook_url is required", cfg.Name)
	}
	opts = opts.WithDefaults()
	return &Notifier{
		cfg:  cfg,
		opts: opts,
		http: httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, httpx.URLSecrets(cfg.WebhookURL.Reveal())...),
		log:  opts.Logger.With("notifier", cfg.Name, "type", "discord"),
	}, nil
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send posts m as one Discord message. Discord accepts with 204 (200 when
// the URL asks ?wait=true); every other answer is an error.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	body, err := httpx.JSON(Render(m, n.cfg.Name, n.opts))
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("discord %q: encode message: %w", n.cfg.Name, err)}
	}
	ans, err := n.http.Post(ctx, n.cfg.WebhookURL.Reveal(), body, nil)
	if err != nil {
		return wrap(n.cfg.Name, err)
	}
	if ans.Status != 200 && ans.Status != 204 {
		se := n.http.Err(ans)
		if se.Status == 429 && se.RetryAfter == 0 {
			// A proxy may drop the header; the body still says how long.
			se.RetryAfter = bodyRetryAfter(ans.Body)
		}
		return wrap(n.cfg.Name, se)
	}
	n.log.Debug("discord message accepted", "items", len(m.Items), "bytes", len(body))
	return nil
}

// bodyRetryAfter reads retry_after (seconds, possibly fractional) from a
// 429's JSON body, rounded up so that a retry is never early.
func bodyRetryAfter(body []byte) time.Duration {
	var rl struct {
		RetryAfter float64 `json:"retry_after"`
	}
	if json.Unmarshal(body, &rl) != nil || rl.RetryAfter <= 0 || rl.RetryAfter > 24*3600 {
		return 0
	}
	return time.Duration(math.Ceil(rl.RetryAfter*1000)) * time.Millisecond
}

func wrap(name string, err error) error {
	var se *notify.SendError
	if errors.As(err, &se) {
		se.Err = fmt.Errorf("discord %q: %w", name, se.Err)
		return se
	}
	return fmt.Errorf("discord %q: %w", name, err)
}

// Payload is an execute-webhook body.
type Payload struct {
	Content         string          `json:"content,omitempty"`
	Embeds          []Embed         `json:"embeds,omitempty"`
	AllowedMentions AllowedMentions `json:"allowed_mentions"`
}

// AllowedMentions with an empty (not null) Parse list lets nothing in the
// message ping anyone, whatever a check's message contains.
type AllowedMentions struct {
	Parse []string `json:"parse"`
}

// Embed is a rich embed (title, description, colour, fields, footer, time).
type Embed struct {
	Title       string  `json:"title,omitempty"`
	Description string  `json:"description,omitempty"`
	Color       int     `json:"color,omitempty"`
	Fields      []Field `json:"fields,omitempty"`
	Footer      *Footer `json:"footer,omitempty"`
	Timestamp   string  `json:"timestamp,omitempty"` // ISO 8601
}

// Field is one name/value pair of an embed.
type Field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

// Footer is an embed's footer.
type Footer struct {
	Text string `json:"text"`
}

// size is what the embed counts towards Discord's 6000-character total
// (bytes: never fewer than the characters Discord counts).
func (e *Embed) size() int {
	n := len(e.Title) + len(e.Description)
	for _, f := range e.Fields {
		n += len(f.Name) + len(f.Value)
	}
	if e.Footer != nil {
		n += len(e.Footer.Text)
	}
	return n
}

// Render builds the Discord message for m, within Discord's limits whatever
// the size of the batch.
func Render(m *notify.Message, notifier string, opts notify.Options) Payload {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	footer := &Footer{Text: notify.Truncate("pulse on "+m.Source, MaxFooter)}
	var p Payload
	switch {
	case m.Digest != nil:
		d := m.Digest
		p = Payload{
			Content: text(esc("pulse "+d.Title), MaxContent),
			Embeds: []Embed{{
				Title:       text(esc("pulse "+d.Title), MaxTitle),
				Description: text(esc(d.Summary), MaxDescription),
				Color:       chat.ColorInfo,
				Footer:      footer,
				Timestamp:   stamp(m.SentAt),
			}},
		}
	case len(m.Items) == 1 && m.Items[0].Event == notify.EventTest:
		p = Payload{
			Content: text(esc(notify.TestText(m)), MaxContent),
			Embeds: []Embed{{
				Title:       "👋 pulse test notification",
				Description: text(esc(notify.TestText(m))+": notifier **"+esc(notifier)+"** can post to this channel.", MaxDescription),
				Color:       chat.ColorInfo,
				Footer:      footer,
				Timestamp:   stamp(m.SentAt),
			}},
		}
	case len(m.Items) == 1:
		p = single(m.Items[0], m.SentAt, footer)
	default:
		p = batch(m.Items, m.SentAt, footer)
	}
	p.AllowedMentions.Parse = []string{}
	fitTotal(p.Embeds)
	return p
}

func single(it notify.Item, now time.Time, footer *Footer) Payload {
	inc := &it.Incident
	fields := []Field{
		field("Severity", esc(inc.Severity), true),
		field("Check", esc(chat.CheckLabel(it.Check)), true),
		field("State", esc(inc.State), true),
	}
	if !inc.OpenedAt.IsZero() {
		if it.Event == alert.DeliverResolved {
			fields = append(fields, field("Duration", ui.Approx(inc.Duration(now)), true))
		} else {
			fields = append(fields, field("Open for", ui.Approx(inc.Duration(now))+", since "+date(inc.OpenedAt), true))
		}
	}
	fields = append(fields, field("Incident", "#"+strconv.FormatInt(inc.ID, 10), true))
	if inc.AckedBy != "" {
		fields = append(fields, field("Acknowledged by", esc(inc.AckedBy), true))
	}
	if it.Check.Runbook != "" {
		fields = append(fields, field("Runbook", link(it.Check.Runbook, "Runbook", MaxFieldValue), true))
	}
	if it.Note != "" {
		fields = append(fields, field("Note", esc(it.Note), false))
	}
	e := Embed{
		Title:       text(esc(chat.Icon(it)+" "+chat.Title(it)), MaxTitle),
		Description: text(esc(inc.Message), MaxDescription),
		Color:       chat.Color(it),
		Fields:      fields[:min(len(fields), MaxFields)],
		Footer:      footer,
		Timestamp:   stamp(it.At),
	}
	content := chat.Title(it) + " (#" + strconv.FormatInt(inc.ID, 10) + ")"
	return Payload{Content: text(esc(content), MaxContent), Embeds: []Embed{e}}
}

func batch(items []notify.Item, now time.Time, footer *Footer) Payload {
	items = notify.SortItems(items)
	tally := notify.Tally(items)
	shown := items
	if len(items) > MaxEmbeds {
		// The last embed counts those that do not get one of their own.
		shown = items[:MaxEmbeds-1]
	}
	embeds := make([]Embed, 0, MaxEmbeds)
	for _, it := range shown {
		inc := &it.Incident
		line := []string{"#" + strconv.FormatInt(inc.ID, 10)}
		if inc.State != "" {
			line = append(line, esc(inc.State))
		}
		if !inc.OpenedAt.IsZero() {
			if it.Event == alert.DeliverResolved {
				line = append(line, "lasted "+ui.Approx(inc.Duration(now)))
			} else {
				line = append(line, "open "+ui.Approx(inc.Duration(now)))
			}
		}
		if it.Check.Runbook != "" {
			line = append(line, link(it.Check.Runbook, "Runbook", batchMessage))
		}
		desc := strings.Join(line, " · ")
		if inc.Message != "" {
			desc += "\n" + text(esc(notify.OneLine(inc.Message)), batchMessage)
		}
		embeds = append(embeds, Embed{
			Title:       text(esc(chat.Icon(it)+" "+chat.Title(it)), MaxTitle),
			Description: text(desc, MaxDescription),
			Color:       chat.Color(it),
			Timestamp:   stamp(it.At),
		})
	}
	if rest := items[len(shown):]; len(rest) > 0 {
		embeds = append(embeds, Embed{
			Title:       fmt.Sprintf("…and %d more", len(rest)),
			Description: text(esc(notify.Tally(rest)), MaxDescription),
			Color:       chat.ColorInfo,
		})
	}
	embeds[len(embeds)-1].Footer = footer
	content := fmt.Sprintf("pulse: %d incidents: %s", len(items), tally)
	return Payload{Content: text(esc(content), MaxContent), Embeds: embeds}
}

// fitTotal shortens the longest descriptions until the embeds hold at most
// MaxTotal characters together; titles, fields and the footer stay, being
// what identifies each incident.
func fitTotal(embeds []Embed) {
	total := 0
	for i := range embeds {
		total += embeds[i].size()
	}
	for total > MaxTotal {
		longest := 0
		for i := range embeds {
			if len(embeds[i].Description) > len(embeds[longest].Description) {
				longest = i
			}
		}
		d := embeds[longest].Description
		if d == "" {
			return // cannot happen within the per-field limits; nothing left to cut
		}
		cut := text(d, max(len(d)-(total-MaxTotal), len(d)/2))
		total -= len(d) - len(cut)
		embeds[longest].Description = cut
	}
}

func field(name, value string, inline bool) Field {
	if value == "" {
		value = "-" // Discord rejects an empty field value
	}
	return Field{Name: notify.Truncate(name, MaxFieldName), Value: text(value, MaxFieldValue), Inline: inline}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// date lets Discord show t in each reader's time zone.
func date(t time.Time) string { return "<t:" + strconv.FormatInt(t.Unix(), 10) + ":f>" }

// link is a markdown link whose URL cannot end early or carry markup: the
// characters that would close it are percent-encoded, and the angle
// brackets around it stop Discord from adding a preview. A link longer than
// max would be cut into broken markup, so it becomes escaped text instead.
func link(href, label string, max int) string {
	enc := strings.NewReplacer("(", "%28", ")", "%29", "<", "%3C", ">", "%3E", " ", "%20").Replace(href)
	if l := "[" + esc(label) + "](<" + enc + ">)"; len(l) <= max {
		return l
	}
	return text(esc(href), max)
}

// escaper backslash-escapes what Discord's markdown gives meaning to
// anywhere in a line (emphasis, code, spoilers, masked links, and the < that
// opens <@user>, <#channel> and <t:...> tags). "@" gets a zero-width space
// after it so that @everyone and @here stay text even in a client that
// ignored allowed_mentions.
var escaper = strings.NewReplacer(
	`\`, `\\`, "*", `\*`, "_", `\_`, "~", `\~`, "`", "\\`", "|", `\|`,
	"<", `\<`, "[", `\[`, "]", `\]`, "@", "@\u200b",
)

// esc makes user-controlled text (check names, messages) literal text.
// Headings, lists and quotes only start a line, so only there are #, - and
// > escaped: check names like "api-health" stay readable in the push
// notifications that show the content unrendered.
func esc(s string) string {
	s = escaper.Replace(s)
	if !strings.ContainsAny(s, "#->") {
		return s
	}
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if t := strings.TrimLeft(l, " "); t != "" && strings.ContainsRune("#->", rune(t[0])) {
			lines[i] = l[:len(l)-len(t)] + `\` + t
		}
	}
	return strings.Join(lines, "\n")
}

// text truncates escaped markdown to max bytes without leaving a dangling
// backslash that would escape the ellipsis.
func text(s string, max int) string {
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
