// Package googlechat delivers incidents to a Google Chat space through an
// incoming webhook: a short text (what notifications show) and a cardsV2
// card with the details. Every message about one incident carries the
// incident's key as thread.threadKey, and the URL asks
// messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD, so that the
// acknowledgement and the resolve land under the opening. A batch of several
// incidents is one unthreaded summary: one post per item would run into the
// space's rate limit and could half-deliver.
//
// Formats and answers followed:
//   - https://developers.google.com/workspace/chat/quickstart/webhooks
//     (POST to the webhook URL with key= and token=; threadKey and
//     messageReplyOption)
//   - https://developers.google.com/workspace/chat/api/reference/rest/v1/spaces.messages
//     (text, cardsV2, thread.threadKey; text up to 4096 characters, a
//     message up to 32,000 bytes)
//   - https://developers.google.com/workspace/chat/format-messages (text
//     markup: *bold*, <url|label>, <users/all> mentions; the HTML subset of
//     card text)
//   - https://developers.google.com/workspace/chat/limits (429 on a space's
//     write limit)
package googlechat

import (
	"context"
	"errors"
	"fmt"
	"html"
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

// Limits pulse keeps to: Google Chat's on text, and its own on card texts
// and batch length, which keep a message far below the 32,000-byte bound.
const (
	MaxText     = 4096
	MaxCardText = 4000
	MaxItems    = 20
)

// batchMessage bounds each incident's message in a batch.
const batchMessage = 300

// replyOption makes a threaded message start its thread when the key is new.
const replyOption = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"

// Config is a googlechat notifier's configuration.
type Config struct {
	Name       string
	WebhookURL config.Secret
	Timeout    time.Duration
}

// ConfigFrom takes a googlechat [[notifier]] table. config.Load validated
// it (config is the one validator), so ConfigFrom only copies; New still
// refuses an empty webhook URL, which a Config built in code could have.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, WebhookURL: n.WebhookURL, Timeout: n.Timeout.D()}
}

// Notifier posts messages to a Google Chat incoming webhook.
type Notifier struct {
	cfg  Config
	opts notify.Options
	http *httpx.Client
	log  *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Google Chat notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.WebhookURL == "" {
		return nil, fmt.Errorf("notifier %q: webhook_url is required", cfg.Name)
	}
	opts = opts.WithDefaults()
	return &Notifier{
		cfg:  cfg,
		opts: opts,
		http: httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, secrets(cfg.WebhookURL.Reveal())...),
		log:  opts.Logger.With("notifier", cfg.Name, "type", "googlechat"),
	}, nil
}

// secrets adds the key and token values on their own to the URL's: an
// answer may quote one without the rest of the query. Values shorter than
// four bytes are left out: redacting "a" everywhere would garble every
// error while protecting nothing (real keys and tokens are long).
func secrets(raw string) []string {
	s := httpx.URLSecrets(raw)
	if u, err := url.Parse(raw); err == nil {
		q := u.Query()
		for _, k := range []string{"key", "token"} {
			for _, v := range q[k] {
				if len(v) >= 4 {
					s = append(s, v, url.QueryEscape(v))
				}
			}
		}
	}
	return s
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send posts m as one Google Chat message. Google Chat accepts with 200 and
// the created message; every other answer is an error, classified by
// status (400 INVALID_ARGUMENT, 401/403 a revoked key or token and 404 a
// deleted space do not get better by retrying; 429 and 5xx do).
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	p := Render(m, n.cfg.Name, n.opts)
	body, err := httpx.JSON(p)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("googlechat %q: encode message: %w", n.cfg.Name, err)}
	}
	target := n.cfg.WebhookURL.Reveal()
	if p.Thread != nil {
		target = withReplyOption(target)
	}
	ans, err := n.http.Post(ctx, target, body, nil)
	if err != nil {
		return wrap(n.cfg.Name, err)
	}
	if ans.Status != 200 {
		return wrap(n.cfg.Name, n.http.Err(ans))
	}
	n.log.Debug("googlechat message accepted", "items", len(m.Items), "bytes", len(body))
	return nil
}

// withReplyOption appends messageReplyOption to the webhook URL. It
// appends rather than re-encodes the query, so the configured key=...&
// token=... stays byte for byte what redaction looks for.
func withReplyOption(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Query().Has("messageReplyOption") {
		return raw
	}
	sep := "&"
	if u.RawQuery == "" {
		sep = "?"
	}
	if i := strings.IndexByte(raw, '#'); i >= 0 {
		return raw[:i] + sep + "messageReplyOption=" + replyOption + raw[i:]
	}
	return raw + sep + "messageReplyOption=" + replyOption
}

func wrap(name string, err error) error {
	var se *notify.SendError
	if errors.As(err, &se) {
		se.Err = fmt.Errorf("googlechat %q: %w", name, se.Err)
		return se
	}
	return fmt.Errorf("googlechat %q: %w", name, err)
}

// Payload is a webhook message.
type Payload struct {
	Text    string   `json:"text,omitempty"`
	CardsV2 []CardV2 `json:"cardsV2,omitempty"`
	Thread  *Thread  `json:"thread,omitempty"`
}

// Thread names the thread a message belongs to.
type Thread struct {
	ThreadKey string `json:"threadKey"`
}

// CardV2 is one card with its id.
type CardV2 struct {
	CardID string `json:"cardId"`
	Card   Card   `json:"card"`
}

// Card is a card's header and sections.
type Card struct {
	Header   *Header   `json:"header,omitempty"`
	Sections []Section `json:"sections"`
}

// Header is a card's header (plain text).
type Header struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle,omitempty"`
}

// Section is a list of widgets.
type Section struct {
	Header  string   `json:"header,omitempty"`
	Widgets []Widget `json:"widgets"`
}

// Widget is one of a text paragraph, a labelled text or a list of buttons.
type Widget struct {
	TextParagraph *TextParagraph `json:"textParagraph,omitempty"`
	DecoratedText *DecoratedText `json:"decoratedText,omitempty"`
	ButtonList    *ButtonList    `json:"buttonList,omitempty"`
}

// TextParagraph is card text in Google Chat's HTML subset.
type TextParagraph struct {
	Text string `json:"text"`
}

// DecoratedText is a text (HTML subset) under a plain top label.
type DecoratedText struct {
	TopLabel string `json:"topLabel,omitempty"`
	Text     string `json:"text"`
}

// ButtonList holds buttons.
type ButtonList struct {
	Buttons []Button `json:"buttons"`
}

// Button opens a link.
type Button struct {
	Text    string  `json:"text"`
	OnClick OnClick `json:"onClick"`
}

// OnClick is a button's action.
type OnClick struct {
	OpenLink OpenLink `json:"openLink"`
}

// OpenLink is the URL a button opens.
type OpenLink struct {
	URL string `json:"url"`
}

// Render builds the Google Chat message for m.
func Render(m *notify.Message, notifier string, opts notify.Options) Payload {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	footer := para("<i>" + card("pulse on "+m.Source) + "</i>")
	switch {
	case m.Digest != nil:
		d := m.Digest
		return Payload{
			Text: plain("pulse " + d.Title),
			CardsV2: []CardV2{{CardID: "digest-" + d.Date, Card: Card{
				Header:   &Header{Title: plain(notify.Truncate("pulse "+d.Title, 200))},
				Sections: []Section{{Widgets: []Widget{para(fit(card(d.Summary), MaxCardText)), footer}}},
			}}},
		}
	case len(m.Items) == 1 && m.Items[0].Event == notify.EventTest:
		return Payload{Text: fit(plain(notify.TestText(m))+": notifier "+plain(notifier)+" can post to this space.", MaxText)}
	case len(m.Items) == 1:
		return single(m, m.Items[0], footer)
	default:
		return batch(m, footer)
	}
}

func single(m *notify.Message, it notify.Item, footer Widget) Payload {
	inc := &it.Incident
	widgets := []Widget{}
	if inc.Message != "" {
		widgets = append(widgets, para(fit(card(inc.Message), MaxCardText)))
	}
	state := card(inc.State)
	if state != "" {
		state = fmt.Sprintf(`<font color="#%06X">%s</font>`, chat.Color(it), state)
	}
	widgets = append(widgets,
		labelled("Severity", card(inc.Severity)),
		labelled("Check", card(chat.CheckLabel(it.Check))),
		labelled("State", state),
	)
	if !inc.OpenedAt.IsZero() {
		if it.Event == alert.DeliverResolved {
			widgets = append(widgets, labelled("Duration", ui.Approx(inc.Duration(m.SentAt))))
		} else {
			widgets = append(widgets, labelled("Open for", ui.Approx(inc.Duration(m.SentAt))+", since "+inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC")))
		}
	}
	widgets = append(widgets, labelled("Incident", "#"+strconv.FormatInt(inc.ID, 10)))
	if inc.AckedBy != "" {
		widgets = append(widgets, labelled("Acknowledged by", card(inc.AckedBy)))
	}
	if it.Note != "" {
		widgets = append(widgets, labelled("Note", fit(card(it.Note), MaxCardText)))
	}
	if rb := it.Check.Runbook; rb != "" && len(rb) <= 2000 {
		widgets = append(widgets, Widget{ButtonList: &ButtonList{Buttons: []Button{{Text: "Runbook", OnClick: OnClick{OpenLink{URL: rb}}}}}})
	}
	widgets = append(widgets, footer)
	head := chat.Icon(it) + " " + chat.Title(it)
	p := Payload{
		Text: fit(plain(head+" (#"+strconv.FormatInt(inc.ID, 10)+")"), MaxText),
		CardsV2: []CardV2{{CardID: "incident-" + strconv.FormatInt(inc.ID, 10), Card: Card{
			Header:   &Header{Title: plain(notify.Truncate(head, 200)), Subtitle: notify.Truncate("pulse on "+m.Source, 200)},
			Sections: []Section{{Widgets: widgets}},
		}}},
	}
	if inc.Key != "" {
		p.Thread = &Thread{ThreadKey: inc.Key}
	}
	return p
}

func batch(m *notify.Message, footer Widget) Payload {
	items := notify.SortItems(m.Items)
	shown := items
	if len(items) > MaxItems {
		shown = items[:MaxItems-1]
	}
	widgets := make([]Widget, 0, MaxItems+1)
	for _, it := range shown {
		inc := &it.Incident
		line := []string{"#" + strconv.FormatInt(inc.ID, 10)}
		if inc.State != "" {
			line = append(line, card(inc.State))
		}
		if !inc.OpenedAt.IsZero() {
			if it.Event == alert.DeliverResolved {
				line = append(line, "lasted "+ui.Approx(inc.Duration(m.SentAt)))
			} else {
				line = append(line, "open "+ui.Approx(inc.Duration(m.SentAt)))
			}
		}
		if rb := it.Check.Runbook; rb != "" && len(rb) <= 2000 {
			line = append(line, `<a href="`+html.EscapeString(rb)+`">Runbook</a>`)
		}
		text := fmt.Sprintf(`<font color="#%06X"><b>%s</b></font><br>%s`, chat.Color(it), card(chat.Icon(it)+" "+chat.Title(it)), strings.Join(line, " · "))
		if inc.Message != "" {
			text += "<br>" + fit(card(notify.OneLine(inc.Message)), batchMessage)
		}
		widgets = append(widgets, para(text))
	}
	if rest := items[len(shown):]; len(rest) > 0 {
		widgets = append(widgets, para(card(fmt.Sprintf("…and %d more: %s", len(rest), notify.Tally(rest)))))
	}
	widgets = append(widgets, footer)
	head := fmt.Sprintf("pulse: %d incidents: %s", len(items), notify.Tally(items))
	return Payload{
		Text: fit(plain(head), MaxText),
		CardsV2: []CardV2{{CardID: "batch", Card: Card{
			Header:   &Header{Title: notify.Truncate(head, 200)},
			Sections: []Section{{Widgets: widgets}},
		}}},
	}
}

func para(text string) Widget { return Widget{TextParagraph: &TextParagraph{Text: text}} }

func labelled(label, text string) Widget {
	if text == "" {
		text = "-"
	}
	return Widget{DecoratedText: &DecoratedText{TopLabel: label, Text: text}}
}

// card escapes text for the HTML subset of card texts: nothing a check's
// message holds can become a tag or a link.
func card(s string) string { return html.EscapeString(s) }

// plainer breaks what Google Chat's text markup makes of user text: the <
// that opens <users/all> mentions and <url|label> links, and the
// formatting characters, each followed by a zero-width space (the markup
// has no escape character).
var plainer = strings.NewReplacer(
	"<", "<\u200b", "*", "*\u200b", "_", "_\u200b", "~", "~\u200b", "`", "`\u200b", "@", "@\u200b",
)

// plain makes user text literal in a message's text field.
func plain(s string) string { return plainer.Replace(s) }

// fit truncates escaped text to max bytes without leaving half an HTML
// entity behind.
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
