// Package subscribers delivers the status page's public updates, and the
// opt-in mail, to the people and systems subscribed to them. Each
// subscriber is an outbox channel of its own ("subscriber/ID"): Resolve
// turns such a name into a Notifier for the dispatcher
// (notify.DispatcherOptions.Resolve), which looks the subscriber up when it
// sends, so thousands of subscribers cost no registered notifiers.
//
// Email goes through the SMTP server and sender of the email notifier named
// by [subscriptions].email_notifier (email.Notifier.SendMail), each mail
// with a one-click unsubscribe link (RFC 8058) in its headers and body.
// Webhooks get one JSON document per update, classified for retry as the
// webhook notifier's answers are.
package subscribers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/email"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Kinds of subscribers (as pkg/store names them).
const (
	KindEmail   = "email"
	KindWebhook = "webhook"
)

// ErrGone is Lookup's answer for a subscriber that no longer exists.
var ErrGone = errors.New("subscriber no longer exists")

// Subscriber is what the sender needs of a subscriber.
type Subscriber struct {
	ID        int64
	Kind      string // KindEmail or KindWebhook
	Address   string // email address or URL
	Confirmed bool
}

// Mailer sends one mail through an SMTP server; *email.Notifier is one.
type Mailer interface {
	SendMail(ctx context.Context, to []string, mm *email.Mail, header map[string]string) error
}

var _ Mailer = (*email.Notifier)(nil)

// Options configure New.
type Options struct {
	// Lookup returns subscriber id, ErrGone when it was removed.
	Lookup func(ctx context.Context, id int64) (Subscriber, error)
	// Mailer sends email; nil refuses email subscribers' rows.
	Mailer Mailer
	// Key signs the confirm and unsubscribe links ([agent].secret_file).
	Key []byte
	// PublicURL is where people reach the listener ([agent].public_url).
	PublicURL string
	// Title names the status page in subjects and bodies.
	Title   string
	Timeout time.Duration // one webhook POST; httpx.DefaultTimeout when 0
	notify.Options
}

// Sender delivers the rows of every subscriber channel.
type Sender struct {
	o    Options
	base string
	http *httpx.Client
}

// New returns a sender.
func New(o Options) *Sender {
	o.Options = o.Options.WithDefaults()
	if o.Title == "" {
		o.Title = "pulse status"
	}
	return &Sender{o: o, base: strings.TrimRight(o.PublicURL, "/"), http: httpx.New(o.HTTPClient, o.Timeout, o.Now)}
}

// Resolve returns the notifier of channel name when it is a subscriber's.
func (s *Sender) Resolve(name string) (notify.Notifier, bool) {
	id, ok := notify.SubscriberID(name)
	if !ok {
		return nil, false
	}
	return &channel{s: s, id: id, name: name}, true
}

// PageURL is the status page.
func (s *Sender) PageURL() string { return s.base + "/" }

// ConfirmURL is the opt-in link of subscriber id, valid for
// acklink.ConfirmTTL from now.
func (s *Sender) ConfirmURL(id int64) string {
	return s.base + "/subscribe/confirm/" + acklink.SignFor(s.o.Key, acklink.Confirm, id, s.o.Now().Add(acklink.ConfirmTTL))
}

// UnsubscribeURL is the unsubscribe link of subscriber id; it does not
// expire (an old mail's link must still work).
func (s *Sender) UnsubscribeURL(id int64) string {
	return s.base + "/unsubscribe/" + acklink.SignFor(s.o.Key, acklink.Unsubscribe, id, time.Time{})
}

// channel is one subscriber's notifier.
type channel struct {
	s    *Sender
	id   int64
	name string
}

var _ notify.Notifier = (*channel)(nil)

func (c *channel) Name() string { return c.name }

// Send delivers m's items (the rows are not batchable: one each) to the
// subscriber. A removed or unconfirmed subscriber, or an email one without
// a mail server, is a permanent failure: retrying cannot help.
func (c *channel) Send(ctx context.Context, m *notify.Message) error {
	sub, err := c.s.o.Lookup(ctx, c.id)
	if errors.Is(err, ErrGone) {
		return &notify.SendError{Err: fmt.Errorf("%s: %w", c.name, ErrGone)}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err) // the database: retry
	}
	for _, it := range m.Items {
		if it.Event != notify.EventSubscriberConfirm && !sub.Confirmed {
			return &notify.SendError{Err: fmt.Errorf("%s: not confirmed", c.name)}
		}
		switch sub.Kind {
		case KindEmail:
			err = c.s.mail(ctx, sub, it)
		case KindWebhook:
			err = c.s.webhook(ctx, sub, it)
		default:
			err = &notify.SendError{Err: fmt.Errorf("%s: unknown kind %q", c.name, sub.Kind)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Payload is the JSON document a webhook subscriber gets per update.
type Payload struct {
	Version  int       `json:"version"`
	Event    string    `json:"event"` // "incident_update"
	Incident int64     `json:"incident,omitempty"`
	Check    string    `json:"check,omitempty"`
	Status   string    `json:"status"`
	Message  string    `json:"message"`
	At       time.Time `json:"at"`
	Note     string    `json:"note,omitempty"`
	PageURL  string    `json:"page_url"`
	// UnsubscribeURL removes this subscription when POSTed to (the
	// receiving system can leave as a mail reader can).
	UnsubscribeURL string `json:"unsubscribe_url"`
	// Maintenance is set for an announcement of planned maintenance
	// (an update about no incident).
	Maintenance bool `json:"maintenance,omitempty"`
}

func (s *Sender) webhook(ctx context.Context, sub Subscriber, it notify.Item) error {
	if it.Event != notify.EventSubscriberUpdate {
		return &notify.SendError{Err: fmt.Errorf("subscriber/%d: webhooks get no %q", sub.ID, it.Event)}
	}
	p := Payload{Version: 1, Event: "incident_update", Incident: it.Incident.ID, Check: it.Check.Name,
		Status: it.Incident.Status, Message: it.Incident.Message, At: it.At.UTC(), Note: it.Note,
		PageURL: s.PageURL(), UnsubscribeURL: s.UnsubscribeURL(sub.ID), Maintenance: it.Incident.ID == 0}
	body, err := httpx.JSON(p)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("subscriber/%d: encode: %w", sub.ID, err)}
	}
	// The subscriber's URL may hold its own token: never shown.
	secrets := httpx.URLSecrets(sub.Address)
	ans, err := s.http.Post(ctx, sub.Address, body, http.Header{"X-Pulse-Event": {"incident_update"}})
	if err != nil {
		// httpx's SendError (notify.TransportError) leaves the URL out
		// already; keep it, its retry class and its cause, as the status
		// path below does.
		var se *notify.SendError
		if errors.As(err, &se) && !slices.ContainsFunc(secrets, func(x string) bool { return strings.Contains(se.Error(), x) }) {
			se.Err = fmt.Errorf("subscriber/%d: %w", sub.ID, se.Err)
			return se
		}
		return fmt.Errorf("subscriber/%d: %s", sub.ID, notify.Redact(err.Error(), secrets...))
	}
	if ans.Status < 200 || ans.Status > 299 {
		se := notify.ResponseError(ans.Status, ans.Header, ans.Body, s.o.Now(), secrets...)
		se.Err = fmt.Errorf("subscriber/%d: %w", sub.ID, se.Err)
		return se
	}
	return nil
}

// view is what the mail templates show; html/template escapes every field
// in the HTML part, and the text part gets them with control characters
// made visible.
type view struct {
	Title, Heading           string
	Status, At, Note         string
	Lines                    []string // the message
	Link, LinkLabel          string   // the confirm link; LinkLabel also labels the status page link
	Unsubscribe, PageURL, To string
	Confirm                  bool
}

func (s *Sender) mail(ctx context.Context, sub Subscriber, it notify.Item) error {
	if s.o.Mailer == nil {
		return &notify.SendError{Err: fmt.Errorf("subscriber/%d: no [subscriptions].email_notifier to send mail with", sub.ID)}
	}
	unsub := s.UnsubscribeURL(sub.ID)
	v := view{Title: ui.Safe(s.o.Title), Unsubscribe: unsub, PageURL: s.PageURL(), To: ui.Safe(sub.Address)}
	var subject string
	switch it.Event {
	case notify.EventSubscriberConfirm:
		v.Confirm = true
		v.Heading = "Confirm your subscription"
		v.Link, v.LinkLabel = s.ConfirmURL(sub.ID), "Confirm the subscription"
		subject = "Confirm your subscription to " + s.o.Title
	case notify.EventSubscriberUpdate:
		what := it.Check.Name
		if it.Incident.ID == 0 {
			what = "planned maintenance"
		} else if what == "" {
			what = fmt.Sprintf("incident #%d", it.Incident.ID)
		}
		v.Heading = what + ": " + it.Incident.Status
		v.Status, v.Note = ui.Safe(it.Incident.Status), it.Note
		v.At = it.At.UTC().Format("2006-01-02 15:04 UTC")
		for _, l := range strings.Split(strings.ReplaceAll(it.Incident.Message, "\r\n", "\n"), "\n") {
			v.Lines = append(v.Lines, ui.Safe(l))
		}
		v.LinkLabel = "Status page"
		subject = "[" + s.o.Title + "] " + v.Heading
	default:
		return &notify.SendError{Err: fmt.Errorf("subscriber/%d: unknown event %q", sub.ID, it.Event)}
	}
	v.Heading = ui.Safe(v.Heading)
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, v); err != nil {
		return &notify.SendError{Err: fmt.Errorf("subscriber/%d: text body: %w", sub.ID, err)}
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return &notify.SendError{Err: fmt.Errorf("subscriber/%d: html body: %w", sub.ID, err)}
	}
	mm := &email.Mail{Subject: notify.OneLine(ui.Safe(subject)), Text: text.String(), HTML: html.String()}
	return s.o.Mailer.SendMail(ctx, []string{sub.Address}, mm, map[string]string{
		// RFC 2369 and RFC 8058: mail clients show an unsubscribe button
		// that POSTs to the link, with no page in between.
		"List-Unsubscribe":      "<" + unsub + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	})
}

var textTmpl = texttemplate.Must(texttemplate.New("text").Parse(`{{.Title}}: {{.Heading}}
{{if .Confirm}}
Someone (we hope you) asked to be told of updates on {{.Title}} at
{{.To}}. To confirm, open this link and press the button:

{{.Link}}

If it was not you, ignore this mail: nothing is sent until you confirm.
{{else}}
Status: {{.Status}}
At:     {{.At}}

{{range .Lines}}{{.}}
{{end}}{{if .Note}}
{{.Note}}
{{end}}
Status page: {{.PageURL}}
{{end}}
--
Unsubscribe: {{.Unsubscribe}}
`))

var htmlTmpl = template.Must(template.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif">
<h2>{{.Heading}}</h2>
{{if .Confirm}}<p>Someone (we hope you) asked to be told of updates on {{.Title}} at <b>{{.To}}</b>.
To confirm, open this link and press the button:</p>
<p><a href="{{.Link}}">{{.LinkLabel}}</a></p>
<p>If it was not you, ignore this mail: nothing is sent until you confirm.</p>
{{else}}<p><b>Status:</b> {{.Status}}<br><b>At:</b> {{.At}}</p>
<p>{{range $i, $l := .Lines}}{{if $i}}<br>{{end}}{{$l}}{{end}}</p>
{{if .Note}}<p><i>{{.Note}}</i></p>{{end}}
<p><a href="{{.PageURL}}">{{.LinkLabel}}</a></p>
{{end}}<hr><p style="font-size: small"><a href="{{.Unsubscribe}}">Unsubscribe</a></p>
</body></html>
`))
