// Package notifytest holds what the notifier tests share: a fixed clock and
// fixed messages, golden files with an -update flag, a captured logger, and
// the secret-leak assertion every notifier must pass.
package notifytest

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/notify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Now is the fixed clock of every notifier test: 2026-11-25 10:12 UTC.
func Now() time.Time { return time.Date(2026, 11, 25, 10, 12, 0, 0, time.UTC) }

// Options are notifier options with the fixed clock and names.
func Options(log *slog.Logger) notify.Options {
	return notify.Options{Logger: log, Now: Now, Agent: "edge-1", Host: "edge-1.example.com"}
}

// Check is the check behind the fixed incidents. Its runbook holds
// characters every format must escape.
func Check() notify.Check {
	return notify.Check{
		Name:        "api-health",
		Type:        "http",
		Tags:        []string{"api", "infrastructure"},
		Description: "Public API health endpoint",
		Runbook:     "https://runbooks.example.com/api-health?team=api&view=<full>",
	}
}

// Incident is incident #42, opened 12 minutes before Now.
func Incident() notify.Incident {
	v := 503.0
	return notify.Incident{
		ID:       42,
		Key:      "edge-1-42",
		Severity: "P1",
		State:    "crit",
		Status:   "open",
		Message:  "status 503, expected 200 <html> & more",
		Value:    &v,
		OpenedAt: Now().Add(-12 * time.Minute),
	}
}

// AckURL is the ack link of the events that call for an ack (opened,
// escalated, reminder); the token is a fixed fake.
const AckURL = "https://status.example.com/ack/AQAAAAAAAAAqAAAAAGk3fL0xS2pXdU5oZ0RmRUxwQWxSNHRZcHZWc2JqTmZ3eQ"

// Item is one event of incident #42 at Now, adjusted to the event
// (acknowledged by alice, resolved after 12m, ...).
func Item(event string) notify.Item {
	inc := Incident()
	it := notify.Item{Event: event, At: Now(), Incident: inc, Check: Check()}
	switch event {
	case alert.DeliverOpened:
		it.At = inc.OpenedAt
		it.Incident.OpenedAt = inc.OpenedAt
		it.Incident.AckURL = AckURL
	case alert.DeliverAcknowledged:
		at := Now()
		it.Incident.Status, it.Incident.AckedAt, it.Incident.AckedBy = "acknowledged", &at, "alice"
		it.Note = "looking into it"
	case alert.DeliverResolved:
		at := Now()
		it.Incident.Status, it.Incident.ResolvedAt = "resolved", &at
	case alert.DeliverEscalated:
		it.Note = "escalated after 15m"
		it.Incident.AckURL = AckURL
	case alert.DeliverReminder:
		it.Note = "still open after 30m"
		it.Incident.AckURL = AckURL
	}
	return it
}

// Message wraps items as the agent edge-1 on edge-1.example.com sends them at Now.
func Message(items ...notify.Item) *notify.Message {
	return &notify.Message{Agent: "edge-1", Source: "edge-1.example.com", SentAt: Now(), Items: items}
}

// TestMessage is what `pulse notify test` sends.
func TestMessage() *notify.Message {
	return Message(notify.Item{Event: notify.EventTest, At: Now()})
}

// Digest is a daily digest message.
func Digest() *notify.Message {
	m := Message()
	m.Digest = &notify.Digest{
		Title:    "digest 2026-11-24",
		Date:     "2026-11-24",
		Text:     "pulse digest 2026-11-24\n\navailability 99.95% (target 99.9%)\n3 incidents, 1 open\n",
		Markdown: "# pulse digest 2026-11-24\n\n- availability 99.95%\n",
		HTML:     "<h1>pulse digest 2026-11-24</h1><p>availability 99.95% (target 99.9%)</p>",
		Summary:  "availability 99.95% (target 99.9%), 3 incidents, 1 open <P4: disk-usage>",
	}
	return m
}

// Batch returns n opened or resolved incidents of mixed severity (60 % P2,
// 30 % P3, 10 % resolved P1) with long messages full of characters to
// escape, to push every size limit.
func Batch(n int) []notify.Item {
	items := make([]notify.Item, 0, n)
	long := strings.Repeat("upstream <timeout> & retry exhausted; ", 80) // ~3000 bytes
	for i := range n {
		it := Item(alert.DeliverOpened)
		it.Incident.ID = int64(100 + i)
		it.Incident.Key = fmt.Sprintf("edge-1-%d", 100+i)
		it.Check.Name = fmt.Sprintf("service-%03d", i)
		it.Incident.Message = fmt.Sprintf("check %d failed: %s", i, long)
		switch {
		case i%10 == 0:
			it.Event = alert.DeliverResolved
			at := Now()
			it.Incident.ResolvedAt, it.Incident.Status, it.Incident.AckURL = &at, "resolved", ""
		case i%10 <= 6:
			it.Incident.Severity, it.Incident.State = "P2", "crit"
		default:
			// P3 pages nobody, so the agent gives it no ack link.
			it.Incident.Severity, it.Incident.State, it.Incident.AckURL = "P3", "warn", ""
		}
		items = append(items, it)
	}
	return items
}

// Case is one named message a notifier's golden files cover.
type Case struct {
	Name string
	Msg  *notify.Message
}

// Cases are the messages every chat notifier renders to a golden file of
// the same name: one incident opened, acknowledged, resolved and escalated,
// the test message, the digest and a batch of three.
func Cases() []Case {
	return []Case{
		{"opened", Message(Item(alert.DeliverOpened))},
		{"acknowledged", Message(Item(alert.DeliverAcknowledged))},
		{"resolved", Message(Item(alert.DeliverResolved))},
		{"escalated", Message(Item(alert.DeliverEscalated))},
		{"test", TestMessage()},
		{"digest", Digest()},
		{"batch", Message(Batch(3)...)},
	}
}

// UnreachableURLs are, by name, receivers a send fails to reach before any
// answer: a closed port, a URL that does not parse, a scheme net/http does
// not speak. suffix (the secret-bearing path or query) is appended to each,
// so a test can assert the failure never shows it.
func UnreachableURLs(t testing.TB, suffix string) map[string]string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	return map[string]string{
		"connection refused": closed + suffix,
		"unparsable":         "http://[::1" + suffix,
		"no such scheme":     "gopher://receiver.invalid" + suffix,
	}
}

// StalledServer reads each request and never answers it until the client
// gives up or the test ends, for testing a notifier's timeout.
func StalledServer(t testing.TB) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	return srv
}

// Golden compares got with testdata/name, or rewrites the file with -update.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// LogBuffer is a concurrency-safe buffer that captures slog output.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a debug-level text logger writing to a new LogBuffer.
func Logger() (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// NoSecret fails the test when any secret appears in err's text, in the
// SendError's Answer, or in the logs.
func NoSecret(t testing.TB, err error, logs string, secrets ...string) {
	t.Helper()
	var texts []string
	if err != nil {
		texts = append(texts, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		if se, ok := asSendError(err); ok {
			texts = append(texts, se.Answer, se.Err.Error())
		}
	}
	texts = append(texts, logs)
	for _, sec := range secrets {
		if sec == "" {
			t.Fatal("empty secret in test")
		}
		for _, s := range texts {
			if strings.Contains(s, sec) {
				t.Errorf("secret %q leaked in %q", sec, s)
			}
		}
	}
}

func asSendError(err error) (*notify.SendError, bool) {
	for e := err; e != nil; {
		if se, ok := e.(*notify.SendError); ok {
			return se, true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return nil, false
		}
		e = u.Unwrap()
	}
	return nil, false
}
