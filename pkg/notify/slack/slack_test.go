package slack

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

const hookPath = "/services/T0PULSE/B0PULSE/xoxS3cr3tW3bh00kT0k3n"

// links and dates are the only markup pulse puts between < and >.
var markup = regexp.MustCompile(`<(https?://[^<>| ]+\|[^<>|]+|!date\^\d+\^[^<>|]+\|[^<>|]+)>`)

// validate checks a webhook body field by field against Slack's rules for
// incoming webhooks with Block Kit, and returns the decoded message.
func validate(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var msg map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	for k := range msg {
		if k != "text" && k != "blocks" {
			t.Errorf("unexpected top-level field %q", k)
		}
	}
	text, ok := msg["text"].(string)
	if !ok || text == "" {
		t.Errorf("text fallback missing")
	}
	if n := utf8.RuneCountInString(text); n > MaxText {
		t.Errorf("text has %d characters, limit %d", n, MaxText)
	}
	checkMrkdwn(t, "text", text)
	blocks, ok := msg["blocks"].([]any)
	if !ok || len(blocks) == 0 {
		t.Fatalf("blocks missing")
	}
	if len(blocks) > MaxBlocks {
		t.Errorf("%d blocks, limit %d", len(blocks), MaxBlocks)
	}
	for i, raw := range blocks {
		b, _ := raw.(map[string]any)
		where := fmt.Sprintf("blocks[%d]", i)
		switch b["type"] {
		case "header":
			txt := textObject(t, where+".text", b["text"], "plain_text")
			if n := utf8.RuneCountInString(txt); n > MaxHeader {
				t.Errorf("%s: header of %d characters, limit %d", where, n, MaxHeader)
			}
		case "section":
			_, hasText := b["text"]
			fields, hasFields := b["fields"].([]any)
			if !hasText && !hasFields {
				t.Errorf("%s: section with neither text nor fields", where)
			}
			if hasText {
				txt := textObject(t, where+".text", b["text"], "")
				if n := utf8.RuneCountInString(txt); n > MaxSectionText {
					t.Errorf("%s: section text of %d characters, limit %d", where, n, MaxSectionText)
				}
			}
			if len(fields) > MaxFields {
				t.Errorf("%s: %d fields, limit %d", where, len(fields), MaxFields)
			}
			for j, f := range fields {
				txt := textObject(t, fmt.Sprintf("%s.fields[%d]", where, j), f, "")
				if n := utf8.RuneCountInString(txt); n > MaxField {
					t.Errorf("%s: field of %d characters, limit %d", where, n, MaxField)
				}
			}
		case "context":
			els, _ := b["elements"].([]any)
			if len(els) == 0 || len(els) > 10 {
				t.Errorf("%s: context with %d elements (1..10)", where, len(els))
			}
			for j, e := range els {
				txt := textObject(t, fmt.Sprintf("%s.elements[%d]", where, j), e, "")
				if n := utf8.RuneCountInString(txt); n > MaxSectionText {
					t.Errorf("%s: context text of %d characters", where, n)
				}
			}
		case "divider":
		default:
			t.Errorf("%s: unknown block type %v", where, b["type"])
		}
	}
	return msg
}

// textObject checks a text object and returns its text.
func textObject(t *testing.T, where string, v any, wantType string) string {
	t.Helper()
	o, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: not a text object", where)
		return ""
	}
	typ, _ := o["type"].(string)
	txt, _ := o["text"].(string)
	if typ != "plain_text" && typ != "mrkdwn" || wantType != "" && typ != wantType {
		t.Errorf("%s: text type %q", where, typ)
	}
	if txt == "" {
		t.Errorf("%s: empty text", where)
	}
	if !utf8.ValidString(txt) {
		t.Errorf("%s: invalid UTF-8", where)
	}
	if typ == "mrkdwn" {
		checkMrkdwn(t, where, txt)
	}
	return txt
}

// checkMrkdwn fails on an unescaped <, > or & outside pulse's own markup.
func checkMrkdwn(t *testing.T, where, s string) {
	t.Helper()
	rest := markup.ReplaceAllString(s, "")
	if strings.ContainsAny(rest, "<>") {
		t.Errorf("%s: unescaped < or > in %q", where, notify.Truncate(rest, 200))
	}
	for i := strings.IndexByte(rest, '&'); i >= 0; i = strings.IndexByte(rest, '&') {
		if !(strings.HasPrefix(rest[i:], "&amp;") || strings.HasPrefix(rest[i:], "&lt;") || strings.HasPrefix(rest[i:], "&gt;")) {
			t.Errorf("%s: unescaped & in %q", where, notify.Truncate(rest[i:], 40))
			return
		}
		rest = rest[i+1:]
	}
}

type receiver struct {
	t      *testing.T
	answer func(w http.ResponseWriter)
	mu     sync.Mutex
	got    []map[string]any
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != hookPath {
		r.t.Errorf("request %s %s", req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("Content-Type %q", ct)
	}
	body, _ := io.ReadAll(req.Body)
	msg := validate(r.t, body)
	r.mu.Lock()
	r.got = append(r.got, msg)
	r.mu.Unlock()
	if r.answer != nil {
		r.answer(w)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

func (r *receiver) messages() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.got...)
}

func setup(t *testing.T, answer func(w http.ResponseWriter), log *slog.Logger) (*receiver, *Notifier) {
	t.Helper()
	rcv := &receiver{t: t, answer: answer}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	n, err := New(Config{Name: "ops", WebhookURL: config.Secret(srv.URL + hookPath), Timeout: 2 * time.Second}, notifytest.Options(log))
	if err != nil {
		t.Fatal(err)
	}
	return rcv, n
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
		{"batch", notifytest.Message(notifytest.Batch(3)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := httpx.JSON(Render(tt.msg, "ops", notifytest.Options(nil)))
			if err != nil {
				t.Fatal(err)
			}
			validate(t, b)
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			out.WriteByte('\n')
			notifytest.Golden(t, tt.name+".json", out.Bytes())
		})
	}
}

func TestSingleFields(t *testing.T) {
	p := Render(notifytest.Message(notifytest.Item(alert.DeliverOpened)), "ops", notifytest.Options(nil))
	if got := p.Blocks[0].Text.Text; got != ":red_circle: P1 OPEN api-health" {
		t.Errorf("header %q", got)
	}
	var fields []string
	for _, b := range p.Blocks {
		for _, f := range b.Fields {
			fields = append(fields, f.Text)
		}
	}
	all := strings.Join(fields, "\n")
	for _, want := range []string{
		"*Severity*\nP1", "*Check*\napi-health (http)", "*State*\ncrit", "*Incident*\n#42",
		"*Open for*\n12m, since <!date^1795600800^{date_short_pretty} {time}|2026-11-25 10:00 UTC>",
		"*Runbook*\n<https://runbooks.example.com/api-health?team=api&amp;view=%3Cfull%3E|Runbook>",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("fields lack %q:\n%s", want, all)
		}
	}
	if p.Blocks[1].Text.Text != "status 503, expected 200 &lt;html&gt; &amp; more" {
		t.Errorf("message section %q", p.Blocks[1].Text.Text)
	}
	if p.Text != "[P1] api-health crit: status 503, expected 200 &lt;html&gt; &amp; more (#42)" {
		t.Errorf("text %q", p.Text)
	}
}

func TestEscaping(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Incident.Message = "<!channel> wake up & see <https://evil.example|this>"
	b, _ := httpx.JSON(Render(notifytest.Message(it), "ops", notifytest.Options(nil)))
	if bytes.Contains(b, []byte("<!channel>")) || bytes.Contains(b, []byte("<https://evil")) {
		t.Fatalf("check message markup reached Slack unescaped: %s", b)
	}
	validate(t, b)
}

func TestSend(t *testing.T) {
	rcv, n := setup(t, nil, nil)
	if err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened))); err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
	got := rcv.messages()
	if len(got) != 2 {
		t.Fatalf("%d messages", len(got))
	}
	if txt := got[1]["text"]; txt != "pulse test notification from edge-1.example.com" {
		t.Fatalf("test message text %q", txt)
	}
}

// A batch of 200 incidents is one valid message: the first ones as
// sections, the rest counted in an "and N more" line, nothing lost.
func TestLargeBatch(t *testing.T) {
	for _, n := range []int{2, 47, 48, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			rcv, nt := setup(t, nil, nil)
			items := notifytest.Batch(n)
			if err := nt.Send(context.Background(), notifytest.Message(items...)); err != nil {
				t.Fatal(err)
			}
			msgs := rcv.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want one", len(msgs))
			}
			blocks := msgs[0]["blocks"].([]any)
			sections, more := 0, 0
			for _, raw := range blocks {
				b := raw.(map[string]any)
				if b["type"] == "section" {
					if txt := b["text"].(map[string]any)["text"].(string); strings.Contains(txt, " · #") {
						sections++
					}
				}
				if b["type"] == "context" {
					txt := b["elements"].([]any)[0].(map[string]any)["text"].(string)
					if m := regexp.MustCompile(`^…and (\d+) more: (.*)$`).FindStringSubmatch(txt); m != nil {
						more, _ = strconv.Atoi(m[1])
						sum := 0
						for _, part := range strings.Split(m[2], ", ") {
							c, _ := strconv.Atoi(strings.Fields(part)[0])
							sum += c
						}
						if sum != more {
							t.Errorf("more line %q counts %d, says %d", txt, sum, more)
						}
					}
				}
			}
			if sections+more != n {
				t.Fatalf("%d sections + %d more = %d, want %d incidents", sections, more, sections+more, n)
			}
			if n <= MaxBlocks-3 && more != 0 {
				t.Fatalf("%d incidents fit but were summarised", n)
			}
			// Most severe first: no P3 line before a P2 line.
			seenP3 := false
			for _, raw := range blocks {
				b := raw.(map[string]any)
				to, _ := b["text"].(map[string]any)
				txt, _ := to["text"].(string)
				if strings.Contains(txt, "*P3 ") {
					seenP3 = true
				}
				if strings.Contains(txt, "*P2 ") && seenP3 {
					t.Fatal("P2 incident listed after a P3 one")
				}
			}
		})
	}
}

func TestAnswers(t *testing.T) {
	notifytest.Answers(t, `slack "ops": `, []notifytest.Answer{
		{Name: "invalid_payload", Status: 400, Body: "invalid_payload", Answer: "invalid_payload"},
		{Name: "invalid_token", Status: 403, Body: "invalid_token", Answer: "invalid_token"},
		{Name: "channel_is_archived", Status: 410, Body: "channel_is_archived", Answer: "channel_is_archived"},
		{Name: "200 without ok", Status: 200, Body: "no_text", Answer: "no_text"},
		{Name: "429", Status: 429, Header: map[string]string{"Retry-After": "7"}, Body: "rate_limited", Retryable: true, RetryAfter: 7 * time.Second, Answer: "rate_limited"},
		{Name: "500", Status: 500, Body: "rollup_error", Retryable: true, Answer: "rollup_error"},
		{Name: "503", Status: 503, Retryable: true},
	}, func(t *testing.T, answer func(w http.ResponseWriter)) error {
		_, n := setup(t, answer, nil)
		return n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		n, _ := New(Config{Name: "ops", WebhookURL: config.Secret("http://" + addr + hookPath)}, notifytest.Options(nil))
		if err := n.Send(context.Background(), notifytest.TestMessage()); err == nil || !notify.Retryable(err) {
			t.Fatalf("connection refused: %v, want retryable", err)
		}
	})
}

// The webhook URL is the credential: it must not show in any error, stored
// answer or log line.
func TestNoSecretLeaks(t *testing.T) {
	secrets := []string{hookPath, "xoxS3cr3tW3bh00kT0k3n"}
	echo := func(status int) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "no_service: POST "+hookPath+" token xoxS3cr3tW3bh00kT0k3n")
		}
	}
	for _, status := range []int{404, 500, 200} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			log, buf := notifytest.Logger()
			_, n := setup(t, echo(status), log)
			err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			if err == nil {
				t.Fatal("send succeeded")
			}
			notifytest.NoSecret(t, err, buf.String(), secrets...)
		})
	}
	for name, url := range notifytest.UnreachableURLs(t, hookPath) {
		t.Run(name, func(t *testing.T) {
			log, buf := notifytest.Logger()
			n, err := New(Config{Name: "ops", WebhookURL: config.Secret(url)}, notifytest.Options(log))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Send(context.Background(), notifytest.TestMessage())
			if err == nil {
				t.Fatal("send succeeded")
			}
			notifytest.NoSecret(t, err, buf.String(), secrets...)
		})
	}
}

// TestConfigFrom: ConfigFrom trusts the validated table; New still
// refuses a Config without a webhook URL.
func TestConfigFrom(t *testing.T) {
	c := ConfigFrom(&config.Notifier{Name: "ops", Type: "slack", WebhookURL: "https://hooks.example/x", Timeout: config.Duration(time.Second)})
	if c.Name != "ops" || c.WebhookURL.Reveal() != "https://hooks.example/x" || c.Timeout != time.Second {
		t.Fatalf("%+v", c)
	}
	if _, err := New(ConfigFrom(&config.Notifier{Name: "ops", Type: "slack"}), notify.Options{}); err == nil {
		t.Fatal("missing webhook_url accepted")
	}
}

func TestAckLink(t *testing.T) {
	want := "<" + notifytest.AckURL + "|Acknowledge>"
	p := Render(notifytest.Message(notifytest.Item(alert.DeliverOpened)), "ops", notifytest.Options(nil))
	found := false
	for _, b := range p.Blocks {
		if b.Type == "section" && b.Text != nil && strings.Contains(b.Text.Text, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no section block links %q: %+v", want, p.Blocks)
	}
	batch := notifytest.Batch(3) // #100 resolved, #101 and #102 P2 open
	p = Render(notifytest.Message(batch...), "ops", notifytest.Options(nil))
	for _, b := range p.Blocks {
		if b.Text == nil {
			continue
		}
		open := strings.Contains(b.Text.Text, "OPEN service-")
		if has := strings.Contains(b.Text.Text, want); has != open {
			t.Errorf("batch line %q: ack link %v, want %v", b.Text.Text[:min(60, len(b.Text.Text))], has, open)
		}
	}
	p = Render(notifytest.Message(notifytest.Item(alert.DeliverAcknowledged)), "ops", notifytest.Options(nil))
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), "/ack/") {
		t.Errorf("acknowledged message carries an ack link: %s", b)
	}
}
