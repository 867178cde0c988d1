// Package email delivers incidents and digests over SMTP (go-mail): one
// multipart/alternative message (text, then HTML) per notification, with
// follow-ups threaded under the opening email.
package email

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
)

// TLS modes.
const (
	TLSStartTLS = "starttls" // refuse a server that does not offer STARTTLS
	TLSImplicit = "implicit" // TLS from the first byte (port 465)
	TLSNone     = "none"     // plain SMTP: local relays and tests
)

// DefaultTimeout bounds one delivery (connect, TLS, auth, transfer).
const DefaultTimeout = 30 * time.Second

// Config is an email notifier's configuration.
type Config struct {
	Name     string
	Host     string
	Port     int    // default: 465 for implicit TLS, 587 for STARTTLS, 25 without TLS
	TLS      string // starttls | implicit | none; default implicit on port 465, else starttls
	Username string // SMTP AUTH when set (PLAIN, LOGIN or better, as the server offers)
	Password config.Secret
	From     string
	To       []string
	Timeout  time.Duration
	// TLSConfig overrides the TLS settings (tests, private CAs); nil means
	// the system roots and Host as server name.
	TLSConfig *tls.Config
}

// ConfigFrom takes an email [[notifier]] table. config.Load validated it
// and filled in its defaults (config is the one validator), so ConfigFrom
// only copies it; New fills in and checks what a Config built in code
// could leave out.
func ConfigFrom(n *config.Notifier) Config {
	return Config{
		Name: n.Name, Host: n.Host, Port: n.Port, TLS: n.TLS, Username: n.Username,
		Password: n.Password, From: n.From, To: n.To, Timeout: n.Timeout.D(),
	}
}

func (c *Config) normalize() error {
	var problems []string
	if c.TLS == "" {
		c.TLS = TLSStartTLS
		if c.Port == 465 {
			c.TLS = TLSImplicit
		}
	}
	switch c.TLS {
	case TLSStartTLS:
		if c.Port == 0 {
			c.Port = 587
		}
	case TLSImplicit:
		if c.Port == 0 {
			c.Port = 465
		}
	case TLSNone:
		if c.Port == 0 {
			c.Port = 25
		}
	default:
		problems = append(problems, fmt.Sprintf("tls %q is not starttls, implicit or none", c.TLS))
	}
	if c.Host == "" {
		problems = append(problems, "host is required")
	}
	if c.From == "" {
		problems = append(problems, "from is required")
	}
	if len(c.To) == 0 {
		problems = append(problems, "to is required")
	}
	if c.Port < 1 || c.Port > 65535 {
		problems = append(problems, fmt.Sprintf("port %d is out of range", c.Port))
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if len(problems) > 0 {
		return fmt.Errorf("notifier %q: %s", c.Name, strings.Join(problems, "; "))
	}
	return nil
}

// Notifier sends email through one SMTP server.
type Notifier struct {
	cfg  Config
	opts notify.Options
	log  *slog.Logger
}

var _ notify.Notifier = (*Notifier)(nil)

// New returns an email notifier.
func New(cfg Config, opts notify.Options) (*Notifier, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	opts = opts.WithDefaults()
	return &Notifier{cfg: cfg, opts: opts, log: opts.Logger.With("notifier", cfg.Name, "type", "email")}, nil
}

// Name returns the notifier's name.
func (n *Notifier) Name() string { return n.cfg.Name }

// Send renders m and delivers it to every recipient in one SMTP transaction.
func (n *Notifier) Send(ctx context.Context, m *notify.Message) error {
	mm, err := Render(m, n.opts)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("email %q: render: %w", n.cfg.Name, err)}
	}
	date := m.SentAt
	if date.IsZero() {
		date = n.opts.Now()
	}
	return n.deliver(ctx, n.cfg.To, mm, date, nil)
}

// SendMail delivers mm to the addresses to (not the notifier's own To)
// through this notifier's SMTP server and sender address, with header's
// fields added (List-Unsubscribe for subscriber mail). Errors are
// classified as Send's are.
func (n *Notifier) SendMail(ctx context.Context, to []string, mm *Mail, header map[string]string) error {
	return n.deliver(ctx, to, mm, n.opts.Now(), header)
}

func (n *Notifier) deliver(ctx context.Context, to []string, mm *Mail, date time.Time, header map[string]string) error {
	msg, err := n.message(to, mm, date, header)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("email %q: %w", n.cfg.Name, err)}
	}
	// A client per send: go-mail clients keep per-connection state, and
	// alerts are rare enough that a connection each costs nothing.
	c, err := mail.NewClient(n.cfg.Host, n.clientOptions()...)
	if err != nil {
		return &notify.SendError{Err: fmt.Errorf("email %q: %s", n.cfg.Name, n.redact(err))}
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return n.classify(err)
	}
	n.log.Debug("email accepted", "subject", mm.Subject, "message_id", mm.MessageID, "recipients", len(to))
	return nil
}

func (n *Notifier) clientOptions() []mail.Option {
	tc := n.cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: n.cfg.Host, MinVersion: tls.VersionTLS12}
	}
	o := []mail.Option{
		mail.WithPort(n.cfg.Port),
		mail.WithTimeout(n.cfg.Timeout),
		mail.WithHELO(n.opts.Host),
		mail.WithTLSConfig(tc),
	}
	switch n.cfg.TLS {
	case TLSImplicit:
		o = append(o, mail.WithSSL())
	case TLSNone:
		o = append(o, mail.WithTLSPolicy(mail.NoTLS))
	default:
		o = append(o, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if n.cfg.Username != "" {
		o = append(o, mail.WithUsername(n.cfg.Username), mail.WithPassword(n.cfg.Password.Reveal()))
		if n.cfg.TLS == TLSNone {
			// Without TLS go-mail's discovery allows only challenge
			// mechanisms; PLAIN and LOGIN are still refused unless the
			// server is localhost, so a password never crosses a network
			// in clear.
			o = append(o, mail.WithOpportunisticSMTPAuth(mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1,
				mail.SMTPAuthCramMD5, mail.SMTPAuthPlain, mail.SMTPAuthLogin))
		} else {
			o = append(o, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover))
		}
	}
	return o
}

func (n *Notifier) message(to []string, mm *Mail, date time.Time, header map[string]string) (*mail.Msg, error) {
	msg := mail.NewMsg()
	if err := msg.From(n.cfg.From); err != nil {
		return nil, fmt.Errorf("from %q: %w", n.cfg.From, err)
	}
	if err := msg.To(to...); err != nil {
		return nil, fmt.Errorf("to: %w", err)
	}
	msg.Subject(mm.Subject)
	if mm.MessageID != "" {
		msg.SetMessageIDWithValue(mm.MessageID)
	} else {
		msg.SetMessageID()
	}
	msg.SetDateWithValue(date)
	for k, v := range header {
		msg.SetGenHeader(mail.Header(k), v)
	}
	if mm.InReplyTo != "" {
		msg.SetGenHeader(mail.HeaderInReplyTo, "<"+mm.InReplyTo+">")
	}
	if len(mm.References) > 0 {
		refs := make([]string, len(mm.References))
		for i, r := range mm.References {
			refs[i] = "<" + r + ">"
		}
		msg.SetGenHeader(mail.HeaderReferences, strings.Join(refs, " "))
	}
	// RFC 3834: tells vacation responders and ticket systems not to answer.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	msg.SetUserAgent("pulse")
	msg.SetBodyString(mail.TypeTextPlain, mm.Text)
	msg.AddAlternativeString(mail.TypeTextHTML, mm.HTML)
	return msg, nil
}

func (n *Notifier) redact(err error) string { return n.scrub(err.Error()) }

// scrub removes the password from text that quotes the SMTP server's
// replies, in the clear and in the base64 that AUTH PLAIN and LOGIN send
// it in: a hostile or careless server can answer AUTH by echoing the
// client's credential ("535 5.7.8 AHVzZXIAUzNjcmV0"), and `pulse notify
// test` prints the answer.
func (n *Notifier) scrub(s string) string {
	pw := n.cfg.Password.Reveal()
	if len(pw) < 3 {
		// Replacing one or two characters everywhere would garble the
		// message; such a password is not worth hiding from its own server.
		return s
	}
	s = base64Token.ReplaceAllStringFunc(s, func(tok string) string {
		if base64Holds(tok, pw) {
			return "<secret>"
		}
		return tok
	})
	return notify.Redact(s, pw)
}

// base64Token finds what may be a base64 credential in a server's reply.
var base64Token = regexp.MustCompile(`[A-Za-z0-9+/]{4,}={0,2}`)

// base64Holds reports whether tok decodes (padded or not) to text that
// contains pw: AUTH PLAIN's "identity\x00user\x00password", whatever the
// identity, or LOGIN's password alone. The credential may start anywhere
// in tok (a server gluing it to a word), so the four alignments are tried.
func base64Holds(tok, pw string) bool {
	tok = strings.TrimRight(tok, "=")
	for i := 0; i < 4 && len(tok)-i >= 4; i++ {
		t := tok[i:]
		if len(t)%4 == 1 { // no base64 ends so: a glued-on character
			t = t[:len(t)-1]
		}
		if b, err := base64.RawStdEncoding.DecodeString(t); err == nil && strings.Contains(string(b), pw) {
			return true
		}
	}
	return false
}

// classify turns go-mail's error into a SendError: SMTP 4xx replies are
// transient, 5xx permanent, a server without the STARTTLS the config
// demands is permanent (retrying will not make it offer TLS), and network
// failures are retried.
func (n *Notifier) classify(err error) *notify.SendError {
	se := &notify.SendError{Retryable: true}
	msg := n.redact(err)
	var me *mail.SendError
	var te *textproto.Error
	switch {
	case errors.As(err, &me) && me.ErrorCode() != 0:
		se.Status = me.ErrorCode()
		se.Retryable = me.IsTemp() || se.Status < 500
	case errors.As(err, &te):
		se.Status = te.Code
		se.Retryable = te.Code < 500
		se.Answer = n.scrub(fmt.Sprintf("%d %s", te.Code, te.Msg))
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		se.Retryable = false
		msg = "server does not offer STARTTLS (tls = \"starttls\" requires it; use tls = \"none\" only for a local relay)"
	case strings.Contains(err.Error(), "does not support SMTP AUTH"),
		errors.Is(err, mail.ErrNoSupportedAuthDiscovered),
		strings.Contains(err.Error(), "unencrypted connection"):
		se.Retryable = false
	}
	if me != nil && se.Answer == "" {
		se.Answer = n.scrub(me.Error())
	}
	se.Err = fmt.Errorf("email %q via %s:%d: %s", n.cfg.Name, n.cfg.Host, n.cfg.Port, msg)
	if errors.Is(err, context.DeadlineExceeded) {
		se.Err = fmt.Errorf("%w (%w)", se.Err, context.DeadlineExceeded)
	}
	return se
}

// references lists the opening emails m follows up, in item order.
func references(m *notify.Message, host string) []string {
	var refs []string
	for _, it := range m.Items {
		if it.Event == alert.DeliverOpened || it.Event == notify.EventTest {
			continue
		}
		if id := OpeningID(it.Incident, host); !slices.Contains(refs, id) {
			refs = append(refs, id)
		}
	}
	return refs
}
