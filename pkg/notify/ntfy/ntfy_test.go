package ntfy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

const (
	topic = "pulse-s3cr3t-t0pic"
	token = "tk_s3cr3tacc3sst0k3n"
)

// validate checks a publish document field by field against ntfy's "Publish
// as JSON" reference and returns it decoded.
func validate(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var msg map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	for k := range msg {
		switch k {
		case "topic", "title", "message", "priority", "tags", "click":
		default:
			t.Errorf("unexpected field %q", k)
		}
	}
	if msg["topic"] != topic {
		t.Errorf("topic %v", msg["topic"])
	}
	for _, k := range []string{"title", "message"} {
		s, _ := msg[k].(string)
		if s == "" || !utf8.ValidString(s) {
			t.Errorf("%s %q: empty or not UTF-8", k, s)
		}
	}
	if title, _ := msg["title"].(string); len(title) > MaxTitle || strings.Contains(title, "\n") {
		t.Errorf("title %q: over %d bytes or more than one line", title, MaxTitle)
	}
	if m, _ := msg["message"].(string); len(m) > MaxMessage {
		t.Errorf("message of %d bytes, limit %d", len(m), MaxMessage)
	}
	p, err := msg["priority"].(json.Number).Int64()
	if err != nil || p < 1 || p > 5 {
		t.Errorf("priority %v, want 1..5", msg["priority"])
	}
	tags, ok := msg["tags"].([]any)
	if !ok || len(tags) == 0 {
		t.Errorf("tags %v, want a non-empty list", msg["tags"])
	}
	for _, tg := range tags {
		if s, ok := tg.(string); !ok || s == "" || strings.Contains(s, ",") {
			t.Errorf("tag %v", tg)
		}
	}
	if c, ok := msg["click"]; ok && !strings.HasPrefix(c.(string), "http") {
		t.Errorf("click %v", c)
	}
	return msg
}

type receiver struct {
	t      *testing.T
	answer func(w http.ResponseWriter)
	mu     sync.Mutex
	got    []map[string]any
	auth   []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/" {
		r.t.Errorf("request %s %s, want POST to the server root", req.Method, req.URL.Path)
	}
	body, _ := io.ReadAll(req.Body)
	msg := validate(r.t, body)
	r.mu.Lock()
	r.got = append(r.got, msg)
	r.auth = append(r.auth, req.Header.Get("Authorization"))
	r.mu.Unlock()
	if r.answer != nil {
		r.answer(w)
		return
	}
	_, _ = fmt.Fprintf(w, `{"id":"sPs71M8A2T","time":1795601520,"event":"message","topic":%q,"message":"x"}`, topic)
}

func (r *receiver) messages() ([]map[string]any, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.got...), append([]string(nil), r.auth...)
}

func setup(t *testing.T, tok config.Secret, answer func(w http.ResponseWriter), log *slog.Logger) (*receiver, *Notifier) {
	t.Helper()
	rcv := &receiver{t: t, answer: answer}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	n, err := New(Config{Name: "phones", Server: srv.URL, Topic: topic, Token: tok, Timeout: 2 * time.Second}, notifytest.Options(log))
	if err != nil {
		t.Fatal(err)
	}
	return rcv, n
}

func render(m *notify.Message) Payload { return Render(m, topic, "phones", notifytest.Options(nil)) }

func TestGolden(t *testing.T) {
	for _, tt := range notifytest.Cases() {
		t.Run(tt.Name, func(t *testing.T) {
			b, err := httpx.JSON(render(tt.Msg))
			if err != nil {
				t.Fatal(err)
			}
			validate(t, b)
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			out.WriteByte('\n')
			notifytest.Golden(t, tt.Name+".json", out.Bytes())
		})
	}
}

// TestFields: title, priority, tags and click of each event.
func TestFields(t *testing.T) {
	p2 := notifytest.Item(alert.DeliverOpened)
	p2.Incident.Severity = "P2"
	p3, p4 := p2, p2
	p3.Incident.Severity, p4.Incident.Severity = "P3", "P4"
	tests := []struct {
		name     string
		msg      *notify.Message
		title    string
		priority int
		tags     []string
		message  []string
	}{
		{"opened P1", notifytest.Message(notifytest.Item(alert.DeliverOpened)), "P1 OPEN api-health", 5, []string{"rotating_light", "P1"},
			[]string{"status 503, expected 200 <html> & more\n\n", "State: crit\n", "Open for: 12m, since 2026-11-25 10:00 UTC\n", "Incident: #42\n", "Runbook: https://runbooks.example.com/api-health?team=api&view=<full>\n", "\n\npulse on edge-1.example.com"}},
		{"opened P2", notifytest.Message(p2), "P2 OPEN api-health", 4, []string{"rotating_light", "P2"}, nil},
		{"opened P3", notifytest.Message(p3), "P3 OPEN api-health", 3, []string{"warning", "P3"}, nil},
		{"opened P4", notifytest.Message(p4), "P4 OPEN api-health", 2, []string{"warning", "P4"}, nil},
		{"acknowledged", notifytest.Message(notifytest.Item(alert.DeliverAcknowledged)), "P1 ACK api-health", 3, []string{"eyes", "P1"},
			[]string{"Acknowledged by: alice\n", "looking into it"}},
		{"resolved", notifytest.Message(notifytest.Item(alert.DeliverResolved)), "RESOLVED api-health", 3, []string{"white_check_mark", "P1"},
			[]string{"Duration: 12m\n"}},
		{"escalated", notifytest.Message(notifytest.Item(alert.DeliverEscalated)), "P1 ESCALATED api-health", 5, []string{"rotating_light", "P1"},
			[]string{"escalated after 15m"}},
		{"test", notifytest.TestMessage(), "pulse test notification", 3, []string{"wave"},
			[]string{"pulse test notification from edge-1.example.com: notifier phones can publish to this topic."}},
		{"digest", notifytest.Digest(), "pulse digest 2026-11-24", 2, []string{"bar_chart"},
			[]string{"availability 99.95% (target 99.9%), 3 incidents, 1 open <P4: disk-usage>"}},
		{"batch", notifytest.Message(notifytest.Batch(3)...), "pulse: 3 incidents", 4, []string{"rotating_light"},
			[]string{"2 P2 OPEN, 1 RESOLVED\n", "\nP2 OPEN service-001 (open 12m): check 1 failed", "\nRESOLVED service-000 (lasted 12m)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := render(tt.msg)
			if p.Topic != topic || p.Title != tt.title || p.Priority != tt.priority || !slices.Equal(p.Tags, tt.tags) {
				t.Errorf("topic %q title %q priority %d tags %v; want %q %d %v", p.Topic, p.Title, p.Priority, p.Tags, tt.title, tt.priority, tt.tags)
			}
			for _, w := range tt.message {
				if !strings.Contains(p.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, p.Message)
				}
			}
		})
	}
	if p := render(notifytest.Message(notifytest.Item(alert.DeliverOpened))); p.Click != notifytest.Check().Runbook {
		t.Errorf("click %q, want the runbook", p.Click)
	}
}

// Batches of any size stay within the message limit and count every
// incident.
func TestLimits(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Incident.Message = strings.Repeat("é<&>", 3000)
	b, _ := httpx.JSON(render(notifytest.Message(it)))
	validate(t, b)
	// Every other field long too: the message gives way.
	it.Check.Name = strings.Repeat("n", 5000)
	it.Check.Runbook = "https://runbooks.example.com/" + strings.Repeat("r", 5000)
	it.Incident.AckedBy = strings.Repeat("a", 5000)
	it.Note = strings.Repeat("n", 5000)
	m := notifytest.Message(it)
	m.Source = strings.Repeat("h", 5000)
	b, _ = httpx.JSON(render(m))
	validate(t, b)
	for _, n := range []int{2, 10, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			rcv, nt := setup(t, "", nil, nil)
			if err := nt.Send(context.Background(), notifytest.Message(notifytest.Batch(n)...)); err != nil {
				t.Fatal(err)
			}
			msgs, _ := rcv.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want one", len(msgs))
			}
			text := msgs[0]["message"].(string)
			listed := strings.Count(text, "\nP2 OPEN ") + strings.Count(text, "\nP3 OPEN ") + strings.Count(text, "\nRESOLVED ")
			more := 0
			if m := regexp.MustCompile(`\n…and (\d+) more: `).FindStringSubmatch(text); m != nil {
				more, _ = strconv.Atoi(m[1])
			}
			if listed+more != n {
				t.Fatalf("%d listed + %d more = %d, want %d", listed, more, listed+more, n)
			}
		})
	}
}

func TestSend(t *testing.T) {
	rcv, n := setup(t, token, nil, nil)
	if err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened))); err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
	got, auth := rcv.messages()
	if len(got) != 2 || auth[0] != "Bearer "+token {
		t.Fatalf("%d messages, Authorization %q", len(got), auth)
	}
	rcv, n = setup(t, "", nil, nil)
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
	if _, auth := rcv.messages(); auth[0] != "" {
		t.Fatalf("Authorization %q without a token", auth[0])
	}
}

// TestAnswers: 429 (with Retry-After) and 5xx retry; other 4xx do not.
func TestAnswers(t *testing.T) {
	apiErr := func(code, status int, msg string) string {
		return fmt.Sprintf(`{"code":%d,"http":%d,"error":%q,"link":"https://ntfy.sh/docs/publish/"}`, code, status, msg)
	}
	notifytest.Answers(t, `ntfy "phones": `, []notifytest.Answer{
		{Name: "400", Status: 400, Body: apiErr(40001, 400, "invalid request")},
		{Name: "401", Status: 401, Body: apiErr(40101, 401, "unauthorized")},
		{Name: "403", Status: 403, Body: apiErr(40301, 403, "forbidden")},
		{Name: "413", Status: 413, Body: apiErr(41301, 413, "request entity too large")},
		{Name: "429", Status: 429, Header: map[string]string{"Retry-After": "9"}, Body: apiErr(42901, 429, "limit reached: too many requests"), Retryable: true, RetryAfter: 9 * time.Second},
		{Name: "500", Status: 500, Body: apiErr(50001, 500, "internal server error"), Retryable: true},
		{Name: "507", Status: 507, Body: apiErr(50701, 507, "insufficient storage"), Retryable: true},
	}, func(t *testing.T, answer func(w http.ResponseWriter)) error {
		_, n := setup(t, token, answer, nil)
		return n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		n, _ := New(Config{Name: "phones", Server: "http://" + addr, Topic: topic}, notifytest.Options(nil))
		if err := n.Send(context.Background(), notifytest.TestMessage()); err == nil || !notify.Retryable(err) {
			t.Fatalf("connection refused: %v, want retryable", err)
		}
	})
}

// The token, and the topic anyone could read, never show in errors, stored
// answers or logs, even when the server echoes them.
func TestNoSecretLeaks(t *testing.T) {
	for _, status := range []int{401, 403, 429, 500} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			log, buf := notifytest.Logger()
			_, n := setup(t, token, func(w http.ResponseWriter) {
				w.WriteHeader(status)
				_, _ = fmt.Fprintf(w, `{"error":"topic %s token Bearer %s"}`, topic, token)
			}, log)
			err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			if err == nil {
				t.Fatal("send succeeded")
			}
			notifytest.NoSecret(t, err, buf.String(), topic, token)
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		log, buf := notifytest.Logger()
		n, _ := New(Config{Name: "phones", Server: "http://" + addr, Topic: topic, Token: token}, notifytest.Options(log))
		err = n.Send(context.Background(), notifytest.TestMessage())
		if err == nil {
			t.Fatal("send succeeded")
		}
		notifytest.NoSecret(t, err, buf.String(), topic, token)
	})
}

// TestConfigFrom: ConfigFrom trusts the validated table; New refuses a
// Config without a topic and defaults the server.
func TestConfigFrom(t *testing.T) {
	c := ConfigFrom(&config.Notifier{Name: "phones", Type: "ntfy", Server: "https://ntfy.example", Topic: topic, Token: token, Timeout: config.Duration(time.Second)})
	if c.Name != "phones" || c.Server != "https://ntfy.example" || c.Topic.Reveal() != topic || c.Token.Reveal() != token || c.Timeout != time.Second {
		t.Fatalf("%+v", c)
	}
	if _, err := New(Config{Name: "phones"}, notify.Options{}); err == nil || !strings.Contains(err.Error(), "topic is required") {
		t.Fatalf("missing topic: %v", err)
	}
	n, err := New(Config{Name: "phones", Topic: topic}, notify.Options{})
	if err != nil || n.url != "https://ntfy.sh/" {
		t.Fatalf("default server: %v %q", err, n.url)
	}
}
