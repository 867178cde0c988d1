package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pulse-monitor/pulse/pkg/alert"
)

// Options are what every notifier integration gets besides its own config.
type Options struct {
	Logger *slog.Logger
	// HTTPClient is used by the HTTP notifiers (copied, never modified);
	// nil means a client with Go's default transport settings.
	HTTPClient *http.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Agent is the agent's name, Host the host it runs on; both appear in
	// messages and in email Message-IDs.
	Agent string
	Host  string
}

// WithDefaults returns o with a discard logger, time.Now and the host name
// filled in where they were left empty.
func (o Options) WithDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Host == "" {
		o.Host = "localhost"
	}
	if o.Agent == "" {
		o.Agent = o.Host
	}
	return o
}

// ParseRetryAfter reads a Retry-After header value, either delay-seconds or
// an HTTP date (relative to now). It returns 0 when v is empty, malformed or
// in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > int64((365*24*time.Hour)/time.Second) {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}

const redacted = "<secret>"

// Redact returns s with every non-empty secret replaced by "<secret>",
// longest first so that a secret containing another is removed whole.
func Redact(s string, secrets ...string) string {
	if len(secrets) == 0 {
		return s
	}
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, sec := range sorted {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, redacted)
		}
	}
	return s
}

// scrubbedError is a transport error reduced to its redacted text. It keeps
// only the context sentinel of the original chain: the rest (url.Error, the
// request) may carry the secret URL.
type scrubbedError struct {
	msg   string
	cause error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.cause }

// TransportError turns a failure that got no HTTP answer (connection refused,
// timeout, TLS handshake) into a retryable *SendError. Its text never holds
// the request URL or any of secrets, and its chain keeps only
// context.Canceled / context.DeadlineExceeded.
func TransportError(err error, secrets ...string) *SendError {
	var cause error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		cause = context.Canceled
	}
	msg := err.Error()
	// url.Error prints the request URL, which is a secret for webhooks.
	var ue *url.Error
	if errors.As(err, &ue) {
		msg = strings.ToLower(ue.Op) + ": " + ue.Err.Error()
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() && cause == nil {
			cause = context.DeadlineExceeded
		}
	}
	return &SendError{
		Err:       &scrubbedError{msg: "send: " + Redact(msg, secrets...), cause: cause},
		Retryable: true,
	}
}

// ResponseError is the *SendError of an HTTP answer the notifier does not
// count as accepted, classified by HTTPStatusError; the answer has secrets
// removed before it is trimmed, and Retry-After is honoured on 429 and 5xx.
func ResponseError(status int, header http.Header, body []byte, now time.Time, secrets ...string) *SendError {
	answer := Redact(strings.TrimSpace(string(body)), secrets...)
	e := HTTPStatusError(status, answer, 0)
	if e.Retryable {
		e.RetryAfter = ParseRetryAfter(header.Get("Retry-After"), now)
	}
	return e
}

// Truncate shortens s to at most max bytes, cutting on a UTF-8 boundary and
// ending with "…" when it cut. Bytes bound every receiver's character limit
// (runes and UTF-16 units are never more than bytes).
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	if max < len(ellipsis) {
		return ""
	}
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// EventLabel is the short upper-case word for an event in subjects and
// headers: OPEN, RAISED, RESOLVED, ACK, ESCALATED, REMINDER, FLAPPING, TEST.
func EventLabel(event string) string {
	switch event {
	case alert.DeliverOpened:
		return "OPEN"
	case alert.DeliverAcknowledged:
		return "ACK"
	default:
		return strings.ToUpper(event)
	}
}

// eventRank orders events in tallies: problems first, endings last.
func eventRank(event string) int {
	switch event {
	case alert.DeliverOpened:
		return 0
	case alert.DeliverRaised:
		return 1
	case alert.DeliverEscalated:
		return 2
	case alert.DeliverReminder:
		return 3
	case alert.DeliverFlapping:
		return 4
	case alert.DeliverAcknowledged:
		return 5
	case alert.DeliverResolved:
		return 6
	default:
		return 7
	}
}

// SortItems orders a batch for reading: open problems first, most severe
// first, then acknowledgements and resolves; otherwise as given.
func SortItems(items []Item) []Item {
	out := slices.Clone(items)
	over := func(it Item) int {
		if it.Event == alert.DeliverAcknowledged || it.Event == alert.DeliverResolved {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(out, func(a, b Item) int {
		if d := over(a) - over(b); d != 0 {
			return d
		}
		if d := alert.SeverityRank(a.Incident.Severity) - alert.SeverityRank(b.Incident.Severity); d != 0 {
			return d
		}
		return eventRank(a.Event) - eventRank(b.Event)
	})
	return out
}

// Tally summarises a batch by event and severity, e.g.
// "2 P2 OPEN, 1 RESOLVED" (resolves and acknowledgements are not split by
// severity: what matters is that they are over or handled).
func Tally(items []Item) string {
	type key struct {
		sev, event string
	}
	counts := map[key]int{}
	var keys []key
	for _, it := range items {
		k := key{it.Incident.Severity, it.Event}
		if it.Event == alert.DeliverResolved || it.Event == alert.DeliverAcknowledged || it.Event == EventTest {
			k.sev = ""
		}
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		if d := eventRank(a.event) - eventRank(b.event); d != 0 {
			return d
		}
		return alert.SeverityRank(a.sev) - alert.SeverityRank(b.sev)
	})
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		label := EventLabel(k.event)
		if k.sev != "" {
			label = k.sev + " " + label
		}
		parts = append(parts, strconv.Itoa(counts[k])+" "+label)
	}
	return strings.Join(parts, ", ")
}

// Summary is the one-line description of an item, as PagerDuty's summary
// and chat fallbacks use it: "[P1] api-health crit: status 503, expected 200".
func Summary(m *Message, it Item) string {
	if it.Event == EventTest {
		return TestText(m)
	}
	s := "[" + it.Incident.Severity + "] " + it.Check.Name
	if it.Incident.State != "" {
		s += " " + it.Incident.State
	}
	if it.Incident.Message != "" {
		s += ": " + OneLine(it.Incident.Message)
	}
	return s
}

// TestText is what every notifier says for `pulse notify test`.
func TestText(m *Message) string {
	host := m.Source
	if host == "" {
		host = m.Agent
	}
	return "pulse test notification from " + host
}

// OneLine folds a multi-line message to one line (whitespace runs become
// one space) for subjects and summaries.
func OneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// Complete returns m, or a shallow copy of it with the agent, source and
// send time the sender left empty taken from o, so that every notifier can
// name its host (a hand-built test message may carry neither).
func (o Options) Complete(m *Message) *Message {
	if m.Agent != "" && m.Source != "" && !m.SentAt.IsZero() {
		return m
	}
	o = o.WithDefaults()
	c := *m
	if c.Source == "" {
		c.Source = o.Host
	}
	if c.Agent == "" {
		c.Agent = o.Agent
	}
	if c.SentAt.IsZero() {
		c.SentAt = o.Now()
	}
	return &c
}

// IncidentKey is the one identity of an incident at a receiver that
// deduplicates (PagerDuty's dedup_key, Opsgenie's alias): the incident's
// key, "<agent>-<id>" when it has none, "<agent>-test" for a test. A key
// longer than max bytes is cut and suffixed with a hash of the whole key,
// because plain truncation could merge two incidents.
func IncidentKey(m *Message, it Item, agent string, max int) string {
	key := it.Incident.Key
	if key == "" {
		if m.Agent != "" {
			agent = m.Agent
		}
		if it.Event == EventTest {
			key = agent + "-test"
		} else {
			key = fmt.Sprintf("%s-%d", agent, it.Incident.ID)
		}
	}
	if len(key) > max {
		sum := sha256.Sum256([]byte(key))
		cut := max - 33
		for cut > 0 && !utf8.RuneStart(key[cut]) {
			cut--
		}
		key = key[:cut] + "-" + hex.EncodeToString(sum[:16])
	}
	return key
}
