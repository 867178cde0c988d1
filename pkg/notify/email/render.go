package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// maxSubjectMessage bounds the check message quoted in a subject.
const maxSubjectMessage = 120

// Mail is a rendered email: headers that thread it and both bodies.
type Mail struct {
	Subject    string
	MessageID  string // without angle brackets
	InReplyTo  string // the opening email's Message-ID, for follow-ups
	References []string
	Text       string
	HTML       string
}

// OpeningID is the Message-ID of an incident's opening email. It is derived
// from the incident key alone, so every follow-up can refer to it without
// anything being stored, and a repeated opening email keeps its identity.
func OpeningID(inc notify.Incident, host string) string {
	key := inc.Key
	if key == "" {
		key = strconv.FormatInt(inc.ID, 10)
	}
	return "pulse-" + atom(key) + "@" + atom(host)
}

// atom keeps the characters allowed in a Message-ID's dot-atom.
func atom(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-_+=", r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "pulse"
	}
	return strings.Trim(b.String(), ".")
}

// Render builds the email for m.
func Render(m *notify.Message, opts notify.Options) (*Mail, error) {
	opts = opts.WithDefaults()
	m = opts.Complete(m)
	now := m.SentAt
	if now.IsZero() {
		now = opts.Now()
	}
	host := opts.Host
	v := view{Host: m.Source, Agent: m.Agent, Now: now}
	if v.Host == "" {
		v.Host = opts.Host
	}
	mm := &Mail{}
	switch {
	case m.Digest != nil:
		d := m.Digest
		mm.Subject = "[pulse] " + notify.OneLine(d.Title)
		mm.MessageID = "pulse-digest-" + atom(d.Date) + "-" + atom(m.Agent) + "@" + atom(host)
		mm.Text = d.Text
		mm.HTML = d.HTML
		return mm, nil
	case len(m.Items) == 0:
		return nil, fmt.Errorf("message has neither items nor a digest")
	case len(m.Items) == 1:
		it := m.Items[0]
		mm.Subject = subject(m, it, now)
		switch it.Event {
		case alert.DeliverOpened:
			mm.MessageID = OpeningID(it.Incident, host)
		case notify.EventTest:
			mm.MessageID = fmt.Sprintf("pulse-test-%d@%s", now.UnixNano(), atom(host))
		default:
			mm.MessageID = fmt.Sprintf("pulse-%s-%s-%d@%s", atom(keyOf(it.Incident)), atom(it.Event), it.At.Unix(), atom(host))
			mm.InReplyTo = OpeningID(it.Incident, host)
		}
		v.Title = mm.Subject
	default:
		items := notify.SortItems(m.Items)
		mm.Subject = fmt.Sprintf("[pulse] %d incidents: %s", len(items), notify.Tally(items))
		h := sha256.New()
		for _, it := range items {
			fmt.Fprintf(h, "%s %s %d\n", keyOf(it.Incident), it.Event, it.At.Unix())
		}
		mm.MessageID = "pulse-batch-" + hex.EncodeToString(h.Sum(nil)[:12]) + "@" + atom(host)
		v.Title = fmt.Sprintf("%d incidents: %s", len(items), notify.Tally(items))
		m = &notify.Message{Agent: m.Agent, Source: m.Source, SentAt: m.SentAt, Items: items}
	}
	mm.References = references(m, host)
	if mm.InReplyTo == "" && len(m.Items) > 1 {
		mm.References = nil // a batch starts its own thread
	}
	for _, it := range m.Items {
		v.Items = append(v.Items, newItemView(m, it, now))
	}
	v.Batch = len(v.Items) > 1
	var text, html bytes.Buffer
	if err := textTmpl.Execute(&text, v); err != nil {
		return nil, fmt.Errorf("text body: %w", err)
	}
	if err := htmlTmpl.Execute(&html, v); err != nil {
		return nil, fmt.Errorf("html body: %w", err)
	}
	mm.Text, mm.HTML = text.String(), html.String()
	return mm, nil
}

func keyOf(inc notify.Incident) string {
	if inc.Key != "" {
		return inc.Key
	}
	return strconv.FormatInt(inc.ID, 10)
}

// subject is "[pulse] P1 OPEN api-health: <message>", the form mail filters
// match on (README "Incidents and notifications").
func subject(m *notify.Message, it notify.Item, now time.Time) string {
	inc := it.Incident
	name := it.Check.Name
	msg := ""
	if inc.Message != "" {
		msg = ": " + notify.Truncate(notify.OneLine(inc.Message), maxSubjectMessage)
	}
	open := ui.Approx(inc.Duration(now))
	switch it.Event {
	case notify.EventTest:
		return "[pulse] " + strings.TrimPrefix(notify.TestText(m), "pulse ")
	case alert.DeliverResolved:
		return "[pulse] RESOLVED " + name + " (after " + open + ")"
	case alert.DeliverAcknowledged:
		s := "[pulse] " + inc.Severity + " ACK " + name
		if inc.AckedBy != "" {
			s += " by " + notify.OneLine(inc.AckedBy)
		}
		return s
	case alert.DeliverReminder:
		return "[pulse] " + inc.Severity + " REMINDER " + name + msg + " (open " + open + ")"
	case alert.DeliverEscalated:
		return "[pulse] " + inc.Severity + " ESCALATED " + name + msg + " (unacknowledged " + open + ")"
	default:
		return "[pulse] " + inc.Severity + " " + notify.EventLabel(it.Event) + " " + name + msg
	}
}

// view is what the body templates see.
type view struct {
	Title string
	Host  string
	Agent string
	Now   time.Time
	Batch bool
	Items []itemView
}

type itemView struct {
	Test     bool
	Headline string // "P1 OPEN api-health"
	Message  string
	Fields   []field
	Runbook  string
	AckURL   string // signed ack link; a credential, only rendered
	Note     string
}

type field struct{ Name, Value string }

func newItemView(m *notify.Message, it notify.Item, now time.Time) itemView {
	if it.Event == notify.EventTest {
		return itemView{Test: true, Headline: notify.TestText(m),
			Message: "If you can read this, pulse can reach you by email."}
	}
	inc := it.Incident
	head := notify.EventLabel(it.Event) + " " + it.Check.Name
	if it.Event != alert.DeliverResolved {
		head = inc.Severity + " " + head
	}
	v := itemView{Headline: head, Message: inc.Message, Runbook: it.Check.Runbook, AckURL: inc.AckURL, Note: it.Note}
	add := func(name, value string) {
		if value != "" {
			v.Fields = append(v.Fields, field{name, value})
		}
	}
	add("Severity", inc.Severity)
	chk := it.Check.Name
	if it.Check.Type != "" {
		chk += " (" + it.Check.Type + ")"
	}
	add("Check", chk)
	add("State", inc.State)
	if inc.Value != nil {
		add("Value", strconv.FormatFloat(*inc.Value, 'g', -1, 64))
	}
	if !inc.OpenedAt.IsZero() {
		d := ui.Approx(inc.Duration(now))
		since := inc.OpenedAt.UTC().Format("2006-01-02 15:04 UTC")
		if it.Event == alert.DeliverResolved {
			add("Duration", d+" (opened "+since+")")
		} else {
			add("Open for", d+" (since "+since+")")
		}
	}
	add("Incident", "#"+strconv.FormatInt(inc.ID, 10)+" ("+keyOf(inc)+")")
	add("Acknowledged by", inc.AckedBy)
	add("Description", it.Check.Description)
	add("Tags", strings.Join(it.Check.Tags, ", "))
	return v
}

var textTmpl = mustText(`{{.Title}}
{{range .Items}}
{{if $.Batch}}== {{.Headline}} ==
{{end}}{{if .Message}}{{.Message}}
{{end}}{{if .Fields}}
{{range .Fields}}{{printf "%-16s" (print .Name ":")}} {{.Value}}
{{end}}{{end}}{{if .Runbook}}{{printf "%-16s" "Runbook:"}} {{.Runbook}}
{{end}}{{if .AckURL}}{{printf "%-16s" "Acknowledge:"}} {{.AckURL}}
{{end}}{{if .Note}}{{printf "%-16s" "Note:"}} {{.Note}}
{{end}}{{end}}
-- 
pulse on {{.Host}}{{if and .Agent (ne .Agent .Host)}} (agent {{.Agent}}){{end}}
`)

var htmlTmpl = template.Must(template.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; font-size: 14px; color: #1f2328;">
<h2 style="margin: 0 0 12px 0;">{{.Title}}</h2>
{{range .Items}}<div style="margin: 0 0 16px 0;">
{{if $.Batch}}<h3 style="margin: 0 0 6px 0;">{{.Headline}}</h3>
{{end}}{{if .Message}}<p style="margin: 0 0 8px 0;"><code>{{.Message}}</code></p>
{{end}}{{if .Fields}}<table cellpadding="3" style="border-collapse: collapse;">
{{range .Fields}}<tr><th align="left" style="padding-right: 12px;">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}{{if .Runbook}}<tr><th align="left" style="padding-right: 12px;">Runbook</th><td><a href="{{.Runbook}}">{{.Runbook}}</a></td></tr>
{{end}}{{if .AckURL}}<tr><th align="left" style="padding-right: 12px;">Acknowledge</th><td><a href="{{.AckURL}}">Acknowledge this incident</a></td></tr>
{{end}}{{if .Note}}<tr><th align="left" style="padding-right: 12px;">Note</th><td>{{.Note}}</td></tr>
{{end}}</table>
{{end}}</div>
{{end}}<p style="color: #656d76; font-size: 12px;">pulse on {{.Host}}{{if and .Agent (ne .Agent .Host)}} (agent {{.Agent}}){{end}}</p>
</body></html>
`))

func mustText(s string) *texttemplate.Template {
	return texttemplate.Must(texttemplate.New("text").Parse(s))
}
