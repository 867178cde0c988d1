package teams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

// hookPath and sig are the credential parts of a Workflows trigger URL.
const (
	hookPath = "/workflows/0123abcd4567ef/triggers/manual/paths/invoke"
	sig      = "S1gN4tur3T0k3nXyZ0123456789abcdefABCDEF"
	query    = "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + sig
)

// validate checks a webhook body field by field against the Workflows
// message format and the Adaptive Card 1.4 schema, and returns the card.
func validate(t *testing.T, body []byte) map[string]any {
	t.Helper()
	if len(body) > maxCardBytes {
		t.Errorf("payload of %d bytes, Teams refuses more than %d", len(body), maxCardBytes)
	}
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	if msg["type"] != "message" || len(msg) != 2 {
		t.Errorf("message %v: want type message and attachments only", msg)
	}
	atts, _ := msg["attachments"].([]any)
	if len(atts) != 1 {
		t.Fatalf("%d attachments, want 1", len(atts))
	}
	att := atts[0].(map[string]any)
	if att["contentType"] != "application/vnd.microsoft.card.adaptive" {
		t.Errorf("contentType %v", att["contentType"])
	}
	if v, ok := att["contentUrl"]; !ok || v != nil {
		t.Errorf("contentUrl %v, want null", v)
	}
	card, _ := att["content"].(map[string]any)
	if card["$schema"] != "http://adaptivecards.io/schemas/adaptive-card.json" || card["type"] != "AdaptiveCard" ||
		card["version"] != "1.4" {
		t.Errorf("card header %v %v %v", card["$schema"], card["type"], card["version"])
	}
	if ms, _ := card["msteams"].(map[string]any); ms["width"] != "Full" {
		t.Errorf("msteams %v", card["msteams"])
	}
	elems, _ := card["body"].([]any)
	if len(elems) == 0 {
		t.Fatal("card without body")
	}
	for i, e := range elems {
		el := e.(map[string]any)
		switch el["type"] {
		case "TextBlock":
			if s, _ := el["text"].(string); s == "" || el["wrap"] != true {
				t.Errorf("body[%d]: TextBlock %v needs text and wrap", i, el)
			}
			for k, allowed := range map[string][]any{
				"weight": {"Bolder", "Lighter", "Default"}, "size": {"Small", "Default", "Medium", "Large", "ExtraLarge"},
				"color":   {"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"},
				"spacing": {"None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"},
			} {
				if v, ok := el[k]; ok && !contains(allowed, v) {
					t.Errorf("body[%d]: %s %v", i, k, v)
				}
			}
		case "FactSet":
			facts, _ := el["facts"].([]any)
			if len(facts) == 0 {
				t.Errorf("body[%d]: empty FactSet", i)
			}
			for _, f := range facts {
				fm := f.(map[string]any)
				if ti, _ := fm["title"].(string); ti == "" || len(fm) != 2 {
					t.Errorf("body[%d]: fact %v", i, fm)
				}
				if _, ok := fm["value"].(string); !ok {
					t.Errorf("body[%d]: fact value %v", i, fm["value"])
				}
			}
		default:
			t.Errorf("body[%d]: element type %v", i, el["type"])
		}
	}
	if acts, ok := card["actions"].([]any); ok {
		for _, a := range acts {
			am := a.(map[string]any)
			if am["type"] != "Action.OpenUrl" || am["title"] == "" || !strings.HasPrefix(am["url"].(string), "https://") {
				t.Errorf("action %v", am)
			}
		}
	}
	return card
}

func contains(list []any, v any) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// texts is every TextBlock text and fact of a card, in order.
func texts(card map[string]any) []string {
	var out []string
	for _, e := range card["body"].([]any) {
		el := e.(map[string]any)
		if s, ok := el["text"].(string); ok {
			out = append(out, s)
		}
		if facts, ok := el["facts"].([]any); ok {
			for _, f := range facts {
				fm := f.(map[string]any)
				out = append(out, fm["title"].(string)+": "+fm["value"].(string))
			}
		}
	}
	return out
}

func render(t *testing.T, m *notify.Message) (map[string]any, []byte) {
	t.Helper()
	b, err := httpx.JSON(Render(m, "chan", notifytest.Options(nil)))
	if err != nil {
		t.Fatal(err)
	}
	return validate(t, b), b
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  *notify.Message
	}{
		{"opened", notifytest.Message(notifytest.Item(alert.DeliverOpened))},
		{"acknowledged", notifytest.Message(notifytest.Item(alert.DeliverAcknowledged))},
		{"resolved", notifytest.Message(notifytest.Item(alert.DeliverResolved))},
		{"escalated", notifytest.Message(notifytest.Item(alert.DeliverEscalated))},
		{"test", notifytest.TestMessage()},
		{"digest", notifytest.Digest()},
		{"batch", notifytest.Message(
			notifytest.Item(alert.DeliverRaised), notifytest.Item(alert.DeliverResolved),
			notifytest.Item(alert.DeliverFlapping))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, b := render(t, tt.msg)
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			out.WriteByte('\n')
			notifytest.Golden(t, tt.name+".json", out.Bytes())
		})
	}
}

// TestSingleFields: what one incident's card says, field by field.
func TestSingleFields(t *testing.T) {
	card, _ := render(t, notifytest.Message(notifytest.Item(alert.DeliverOpened)))
	body := card["body"].([]any)
	head := body[0].(map[string]any)
	if head["text"] != "P1 OPEN api-health" || head["weight"] != "Bolder" || head["color"] != "Attention" {
		t.Fatalf("heading %v", head)
	}
	got := strings.Join(texts(card), "\n")
	for _, want := range []string{
		`status 503, expected 200 <html> & more`,
		"Severity: P1", "Check: api-health (http)", "State: crit",
		"Open for: 12m, since 2026-11-25 10:00 UTC", "Incident: #42", "Description: Public API health endpoint",
		"pulse on edge-1.example.com",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("card lacks %q:\n%s", want, got)
		}
	}
	acts := card["actions"].([]any)
	if len(acts) != 1 || acts[0].(map[string]any)["url"] != "https://runbooks.example.com/api-health?team=api&view=%3Cfull%3E" ||
		acts[0].(map[string]any)["title"] != "Runbook" {
		t.Fatalf("actions %v", acts)
	}
	// No runbook, no action.
	it := notifytest.Item(alert.DeliverResolved)
	it.Check.Runbook = ""
	card, b := render(t, notifytest.Message(it))
	if _, ok := card["actions"]; ok || bytes.Contains(b, []byte("Action.OpenUrl")) {
		t.Fatalf("action without a runbook: %s", b)
	}
	if h := card["body"].([]any)[0].(map[string]any); h["text"] != "RESOLVED api-health" || h["color"] != "Good" {
		t.Fatalf("resolved heading %v", h)
	}
	if got := strings.Join(texts(card), "\n"); !strings.Contains(got, "Duration: 12m") {
		t.Fatalf("resolved card %s", got)
	}
	card, _ = render(t, notifytest.Message(notifytest.Item(alert.DeliverAcknowledged)))
	if got := strings.Join(texts(card), "\n"); !strings.Contains(got, "Acknowledged by: alice") ||
		!strings.Contains(got, "looking into it") {
		t.Fatalf("acknowledged card %s", got)
	}
}

// TestEscaping: a check's message cannot format the card, link elsewhere
// or become a list.
func TestEscaping(t *testing.T) {
	tests := map[string]string{
		"**bold** _it_ ~x~ `code`":              `\*\*bold\*\* \_it\_ ~x~ ` + "`code`",
		"[click](https://evil.example)":         `\[click\](https://evil.example)`,
		"- one\n+ two\n  3. three":              "\\- one\n\\+ two\n  3\\. three",
		`# head > quote \ back`:                 `# head > quote \\ back`,
		"no markup: 1.5 - 2 (x)":                "no markup: 1.5 - 2 (x)",
		"{{DATE(2017-02-14T06:08:39Z, SHORT)}}": "{\u200b{DATE(2017-02-14T06:08:39Z, SHORT)}}",
	}
	for in, want := range tests {
		if got := md(in); got != want {
			t.Errorf("md(%q) = %q, want %q", in, got, want)
		}
	}
	it := notifytest.Item(alert.DeliverOpened)
	it.Incident.Message = "[click](https://evil.example) **now**"
	card, _ := render(t, notifytest.Message(it))
	if got := texts(card)[1]; got != `\[click\](https://evil.example) \*\*now\*\*` {
		t.Fatalf("message block %q", got)
	}
}

// TestLargeBatch: a batch of any size stays one card within Teams' size,
// counts every incident, and lists the most severe first.
func TestLargeBatch(t *testing.T) {
	for _, n := range []int{2, 25, 26, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			card, _ := render(t, notifytest.Message(notifytest.Batch(n)...))
			tx := texts(card)
			if want := fmt.Sprintf("pulse: %d incidents", n); tx[0] != want {
				t.Fatalf("heading %q, want %q", tx[0], want)
			}
			lines := 0
			for _, s := range tx {
				if strings.HasPrefix(s, "**") {
					lines++
				}
			}
			if lines > maxBatchLines || lines == 0 {
				t.Fatalf("%d incident lines", lines)
			}
			last := tx[len(tx)-2]
			if n > lines && !strings.HasPrefix(last, fmt.Sprintf("…and %d more", n-lines)) {
				t.Fatalf("%d shown of %d, last line %q", lines, n, last)
			}
			if n == lines && strings.Contains(last, "more") {
				t.Fatalf("all shown, but %q", last)
			}
		})
	}
}

type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	paths  []string
	status int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.paths = append(r.paths, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery+" "+req.Header.Get("Content-Type"))
	status := r.status
	r.mu.Unlock()
	if status == 0 {
		status = http.StatusAccepted
	}
	w.WriteHeader(status)
}

func newNotifier(t *testing.T, url string, opts notify.Options) *Notifier {
	t.Helper()
	n, err := New(Config{Name: "chan", WebhookURL: config.Secret(url), Timeout: 2 * time.Second}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSend: one POST of the card to the webhook URL as configured, query
// and all; the test message names the notifier.
func TestSend(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	n := newNotifier(t, srv.URL+hookPath+query, notifytest.Options(nil))
	for _, m := range []*notify.Message{
		notifytest.Message(notifytest.Item(alert.DeliverOpened)),
		notifytest.Message(notifytest.Batch(40)...),
		notifytest.TestMessage(),
		notifytest.Digest(),
	} {
		if err := n.Send(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if len(rcv.bodies) != 4 {
		t.Fatalf("%d requests, want one per message", len(rcv.bodies))
	}
	for i, p := range rcv.paths {
		if want := "POST " + hookPath + query + " application/json"; p != want {
			t.Errorf("request %d: %s, want %s", i, p, want)
		}
		validate(t, rcv.bodies[i])
	}
	if !bytes.Contains(rcv.bodies[2], []byte(`pulse test notification from edge-1.example.com: notifier **chan** can post to this channel.`)) {
		t.Fatalf("test message %s", rcv.bodies[2])
	}
	if !bytes.Contains(rcv.bodies[3], []byte("pulse digest 2026-11-24")) {
		t.Fatalf("digest %s", rcv.bodies[3])
	}
}

// TestAnswers: 202 (and a flow's own 200) accept; 429 and 5xx retry with
// Retry-After; other answers do not.
func TestAnswers(t *testing.T) {
	const body = `{"error":{"code":"X","message":"answer"}}`
	retryAfter := func(v string) map[string]string { return map[string]string{"Retry-After": v} }
	notifytest.Answers(t, `teams "chan": receiver answered`, []notifytest.Answer{
		{Status: 202, Body: body, OK: true},
		{Status: 200, Body: body, OK: true},
		{Status: 204},
		{Status: 302, Header: map[string]string{"Location": "/elsewhere"}, Body: body},
		{Status: 400, Body: body},
		{Status: 401, Body: body},
		{Status: 403, Body: body},
		{Status: 404, Body: body},
		{Status: 413, Body: body},
		{Status: 429, Header: retryAfter("12"), Body: body, Retryable: true, RetryAfter: 12 * time.Second},
		{Status: 500, Body: body, Retryable: true},
		{Status: 502, Body: body, Retryable: true},
		{Status: 503, Header: retryAfter("3"), Body: body, Retryable: true, RetryAfter: 3 * time.Second},
	}, func(t *testing.T, answer func(w http.ResponseWriter)) error {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { answer(w) }))
		t.Cleanup(srv.Close)
		n := newNotifier(t, srv.URL+hookPath+query, notifytest.Options(nil))
		return n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
	})
	t.Run("timeout", func(t *testing.T) {
		srv := notifytest.StalledServer(t)
		n, err := New(Config{Name: "chan", WebhookURL: config.Secret(srv.URL + hookPath + query), Timeout: 50 * time.Millisecond},
			notifytest.Options(nil))
		if err != nil {
			t.Fatal(err)
		}
		err = n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
		if !notify.Retryable(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("timeout: %v, want retryable and DeadlineExceeded", err)
		}
	})
}

// TestNoSecretLeaks: neither the URL, its path nor its sig shows in
// errors, answers or logs, even from a receiver that echoes the request.
func TestNoSecretLeaks(t *testing.T) {
	tests := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"answer echoes the URL", func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(401)
				_, _ = io.WriteString(w, "bad signature for "+r.URL.String()+" sig="+r.URL.Query().Get("sig"))
			}))
			t.Cleanup(srv.Close)
			return srv.URL + hookPath + query
		}},
		{"5xx echoes the URL", func(t *testing.T) string {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(502)
				_, _ = io.WriteString(w, r.URL.RequestURI())
			}))
			t.Cleanup(srv.Close)
			return srv.URL + hookPath + query
		}},
		{"connection refused", func(t *testing.T) string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			return "http://" + l.Addr().String() + hookPath + query
		}},
		{"bad url", func(*testing.T) string { return "http://[::1" + hookPath + query }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, buf := notifytest.Logger()
			n := newNotifier(t, tt.url(t), notifytest.Options(log))
			err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			if err == nil {
				t.Fatal("send succeeded")
			}
			notifytest.NoSecret(t, err, buf.String(), sig, hookPath)
		})
	}
}

// TestConfigFrom: ConfigFrom trusts the validated table; New still refuses
// a Config without a webhook URL.
func TestConfigFrom(t *testing.T) {
	if _, err := New(ConfigFrom(&config.Notifier{Name: "chan", Type: "teams"}), notify.Options{}); err == nil {
		t.Fatal("missing webhook_url accepted")
	}
	c := ConfigFrom(&config.Notifier{Name: "chan", Type: "teams", WebhookURL: config.Secret("https://x.example" + hookPath + query),
		Timeout: config.Duration(time.Second)})
	if c.Timeout != time.Second || !strings.Contains(c.WebhookURL.Reveal(), sig) {
		t.Fatalf("%+v", c)
	}
	if s := fmt.Sprintf("%v %+v", c, c); strings.Contains(s, sig) {
		t.Fatalf("config prints the URL: %s", s)
	}
}
