// Package telegram delivers incidents to a Telegram chat through the Bot
// API's sendMessage method, as one HTML-formatted message per Send; a batch
// lists as many incidents as Telegram's 4096 characters hold and counts the
// rest.
//
// Formats and answers follow https://core.telegram.org/bots/api:
// sendMessage (chat_id, text, parse_mode, link_preview_options), "Formatting
// options" / "HTML style" for the markup and its escaping, and "Making
// requests" for the answer {"ok":false,"error_code":N,"description":...,
// "parameters":{"retry_after":N}}.
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/chat"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// MaxText is Telegram's limit on a message's text, in characters after
// entities parsing (tags removed, each entity one character).
const MaxText = 4096

// Bounds on the check text pulse puts in a message, in characters before
// escaping: the single message keeps room for its fields, a batch gives
// each incident a line or two so that one long message does not crowd out
// the others.
const (
	singleMessage = 3000
	batchMessage  = 300
)

// Config is a telegram notifier's configuration.
type Config struct {
	Name     string
	BotToken config.Secret
	ChatID   string
	// APIURL is the Bot API server; config.DefaultTelegramAPI when empty.
	APIURL  string
	Timeout time.Duration
}

// ConfigFrom takes a telegram [[notifier]] table. config.Load validated it
// (config is the one validator), so ConfigFrom only copies it.
func ConfigFrom(n *config.Notifier) Config {
	return Config{Name: n.Name, BotToken: n.BotToken, ChatID: n.ChatID.String(), APIURL: n.APIURL, Timeout: n.Timeout.D()}
}

// Notifier sends messages to one Telegram chat.
type Notifier struct {
	cfg  Config
	opts notify.Options
	http *httpx.Client
	url  string // the sendMessage URL: it holds the token, never print it
	// secrets are what no error or answer may show.
	secrets []string
	log     *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns a Telegram notifier. It refuses what a Config built in code
// could lack: the token and the chat.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if cfg.BotToken == "" {
		return nil, fmt.Errorf("notifier %q: bot_token is required", cfg.Name)
	}
	if cfg.ChatID == "" {
		return nil, fmt.Errorf("notifier %q: chat_id is required", cfg.Name)
	}
	if cfg.APIURL == "" {
		cfg.APIURL = config.DefaultTelegramAPI
	}
	opts = opts.WithDefaults()
	token := cfg.BotToken.Reveal()
	url := strings.TrimSuffix(cfg.APIURL, "/") + "/bot" + token + "/sendMessage"
	// The token is the one secret of the URL (the path's other parts are
	// public, and redacting "sendMessage" would only garble answers); an
	// error may print it escaped.
	secrets := []string{token, neturl.PathEscape(token)}
	return &Notifier{
		cfg:     cfg,
		opts:    opts,
		http:    httpx.New(opts.HTTPClient, cfg.Timeout, opts.Now, secrets...),
		url:     url,
		secrets: secrets,
		log:     opts.Logger.With("notifier", cfg.Name, "type", "telegram"),
	}, nil
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// answer is the Bot API's response envelope.
type answer struct {
	OK          bool   `json:"ok"`
	ErrorCode   int    `json:"error_code"`
	Description string `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// Send posts m as one message. Telegram accepts with 200 and {"ok":true};
// its error_code mirrors the HTTP status, so the status decides retries
// (429 and 5xx retry, other 4xx — a bad chat, a revoked token, a bot
// removed from the chat — do not), and a 429's parameters.retry_after is
// the delay.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	body, err := httpx.JSON(Render(m, n.cfg.ChatID, n.cfg.Name, n.opts))
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("telegram %q: encode message: %w", n.cfg.Name, err)}
	}
	ans, err := n.http.Post(ctx, n.url, body, nil)
	if err != nil {
		return wrap(n.cfg.Name, err)
	}
	var a answer
	jsonErr := json.Unmarshal(ans.Body, &a)
	if ans.Status == 200 && jsonErr == nil && a.OK {
		n.log.Debug("telegram message accepted", "items", len(m.Items), "bytes", len(body))
		return nil
	}
	se := n.http.Err(ans)
	if jsonErr == nil && a.Description != "" {
		// The description is the readable part of the answer; the
		// envelope around it adds nothing for an operator.
		se.Answer = notify.Truncate(notify.Redact(a.Description, n.secrets...), 512)
	}
	if se.Retryable && a.Parameters.RetryAfter > 0 {
		se.RetryAfter = time.Duration(a.Parameters.RetryAfter) * time.Second
	}
	if ans.Status == 200 {
		// A 200 that is not {"ok":true} is not an acceptance, and sending
		// the same request again would not make it one.
		se.Err = errors.New("receiver answered 200 without \"ok\":true")
	}
	return wrap(n.cfg.Name, se)
}

func wrap(name string, err error) error {
	var se *notify.SendError
	if errors.As(err, &se) {
		se.Err = fmt.Errorf("telegram %q: %w", name, se.Err)
		return se
	}
	return fmt.Errorf("telegram %q: %w", name, err)
}

// Payload is a sendMessage request.
type Payload struct {
	ChatID      string       `json:"chat_id"`
	Text        string       `json:"text"`
	ParseMode   string       `json:"parse_mode"`
	LinkPreview *LinkPreview `json:"link_preview_options"`
}

// LinkPreview is sendMessage's LinkPreviewOptions. Previews are off: a
// runbook link's preview card would push the incident off a phone's screen.
type LinkPreview struct {
	IsDisabled bool `json:"is_disabled"`
}

// Render builds the sendMessage request for m, within Telegram's limit
// whatever the size of the batch.
func Render(m *notify.Message, chatID, notifier string, opts notify.Options) Payload {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	footer := "<i>pulse on " + esc(m.Source) + "</i>"
	var text string
	switch {
	case m.Digest != nil:
		d := m.Digest
		text = "<b>pulse " + esc(d.Title) + "</b>\n" + escCut(d.Summary, singleMessage) + "\n\n" + footer
	case len(m.Items) == 1 && m.Items[0].Event == notify.EventTest:
		text = "👋 <b>pulse test notification</b>\n" + esc(notify.TestText(m)) +
			": notifier <b>" + esc(notifier) + "</b> can post to this chat.\n\n" + footer
	case len(m.Items) == 1:
		text = single(m.Items[0], m.SentAt, footer)
	default:
		text = batch(m.Items, m.SentAt, footer)
	}
	return Payload{ChatID: chatID, Text: text, ParseMode: "HTML", LinkPreview: &LinkPreview{IsDisabled: true}}
}

func single(it notify.Item, now time.Time, footer string) string {
	inc := &it.Incident
	var b strings.Builder
	line := func(name, value string) { b.WriteString("<b>" + name + ":</b> " + value + "\n") }
	line("Severity", esc(inc.Severity))
	line("Check", escCut(chat.CheckLabel(it.Check), 300))
	line("State", esc(inc.State))
	if !inc.OpenedAt.IsZero() {
		if it.Event == alert.DeliverResolved {
			line("Duration", ui.Approx(inc.Duration(now)))
		} else {
			line("Open for", ui.Approx(inc.Duration(now))+", since "+inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC"))
		}
	}
	line("Incident", "#"+strconv.FormatInt(inc.ID, 10))
	if inc.AckedBy != "" {
		line("Acknowledged by", escCut(inc.AckedBy, 100))
	}
	if it.Check.Runbook != "" {
		line("Runbook", link(it.Check.Runbook, "Runbook"))
	}
	if it.Note != "" {
		b.WriteString("<i>" + escCut(it.Note, 300) + "</i>\n")
	}
	b.WriteString("\n" + footer)
	head := chat.Icon(it) + " <b>" + esc(title(it)) + "</b>\n"
	if inc.Message == "" {
		return head + "\n" + b.String()
	}
	// The check's message gets what the fields leave of the limit (long
	// names and host names included), up to singleMessage.
	room := MaxText - Length(head+"\n\n"+b.String())
	return head + escCut(inc.Message, max(min(room, singleMessage), 1)) + "\n\n" + b.String()
}

func batch(items []notify.Item, now time.Time, footer string) string {
	items = notify.SortItems(items)
	head := fmt.Sprintf("<b>pulse: %d incidents</b>\n%s\n", len(items), esc(notify.Tally(items)))
	tail := "\n" + footer
	var b strings.Builder
	b.WriteString(head)
	for i, it := range items {
		inc := &it.Incident
		line := "\n" + chat.Icon(it) + " <b>" + esc(title(it)) + "</b>"
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
		if inc.Message != "" {
			line += "\n" + escCut(notify.OneLine(inc.Message), batchMessage)
		}
		line += "\n"
		// Room is kept for the "and N more" line of the rest, so that a
		// batch never loses count of an incident.
		rest := items[i:]
		more := fmt.Sprintf("\n…and %d more: %s\n", len(rest), esc(notify.Tally(rest)))
		if Length(b.String()+line+more+tail) > MaxText {
			b.WriteString(more)
			break
		}
		b.WriteString(line)
	}
	b.WriteString(tail)
	return b.String()
}

// title is chat.Title with the check's name cut to one line of 200 bytes,
// so that a long name cannot push a message past Telegram's limit.
func title(it notify.Item) string {
	it.Check.Name = notify.Truncate(notify.OneLine(it.Check.Name), 200)
	return chat.Title(it)
}

// link is an <a> tag for http(s) URLs; anything else (a wiki page name, a
// javascript: URL) is shown as text, since Telegram would refuse the tag.
func link(href, label string) string {
	if !strings.HasPrefix(href, "https://") && !strings.HasPrefix(href, "http://") {
		return escCut(href, 300)
	}
	return `<a href="` + attrEscaper.Replace(href) + `">` + esc(label) + "</a>"
}

// escaper replaces what Telegram's HTML style requires of text outside
// tags: every <, > and & that is not markup.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// attrEscaper also escapes the quote that would end an href early.
var attrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func esc(s string) string { return escaper.Replace(s) }

// escCut escapes s cut to max characters first, so that no entity is cut
// in half and the visible length is what was asked for.
func escCut(s string, max int) string {
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return esc(s)
}

// Length is the length Telegram counts of an HTML-style text: tags do not
// count, an entity is one character, and characters are UTF-16 code units
// (an emoji outside the BMP is two).
func Length(html string) int {
	n := 0
	for i := 0; i < len(html); {
		switch html[i] {
		case '<':
			if j := strings.IndexByte(html[i:], '>'); j >= 0 {
				i += j + 1
				continue
			}
		case '&':
			if j := strings.IndexByte(html[i:], ';'); j > 0 && j < 10 {
				n++
				i += j + 1
				continue
			}
		}
		r, size := utf8.DecodeRuneInString(html[i:])
		n += utf16.RuneLen(r)
		i += size
	}
	return n
}
