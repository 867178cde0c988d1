package discord

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

const (
	token    = "dSc0rdW3bh00kT0k3nS3cr3t"
	hookPath = "/api/webhooks/1180000000000000000/" + token
)

// validate checks a webhook body field by field against Discord's
// execute-webhook and embed documentation, and returns the decoded message.
func validate(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var msg map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	for k := range msg {
		if k != "content" && k != "embeds" && k != "allowed_mentions" {
			t.Errorf("unexpected top-level field %q", k)
		}
	}
	am, ok := msg["allowed_mentions"].(map[string]any)
	if parse, isList := am["parse"].([]any); !ok || !isList || len(parse) != 0 {
		t.Errorf(`allowed_mentions = %v, want {"parse": []}`, msg["allowed_mentions"])
	}
	content, _ := msg["content"].(string)
	embeds, _ := msg["embeds"].([]any)
	if content == "" && len(embeds) == 0 {
		t.Errorf("neither content nor embeds")
	}
	limit(t, "content", content, MaxContent)
	checkMarkdown(t, "content", content)
	if len(embeds) > MaxEmbeds {
		t.Errorf("%d embeds, limit %d", len(embeds), MaxEmbeds)
	}
	total := 0
	for i, raw := range embeds {
		e, _ := raw.(map[string]any)
		where := fmt.Sprintf("embeds[%d]", i)
		for k := range e {
			switch k {
			case "title", "description", "color", "fields", "footer", "timestamp":
			default:
				t.Errorf("%s: unexpected field %q", where, k)
			}
		}
		title, _ := e["title"].(string)
		desc, _ := e["description"].(string)
		total += limit(t, where+".title", title, MaxTitle) + limit(t, where+".description", desc, MaxDescription)
		checkMarkdown(t, where+".title", title)
		checkMarkdown(t, where+".description", desc)
		if c, ok := e["color"].(json.Number); ok {
			if v, err := c.Int64(); err != nil || v < 0 || v > 0xFFFFFF {
				t.Errorf("%s: color %v", where, c)
			}
		}
		if ts, ok := e["timestamp"].(string); ok {
			if _, err := time.Parse(time.RFC3339, ts); err != nil {
				t.Errorf("%s: timestamp %q is not ISO 8601", where, ts)
			}
		}
		fields, _ := e["fields"].([]any)
		if len(fields) > MaxFields {
			t.Errorf("%s: %d fields, limit %d", where, len(fields), MaxFields)
		}
		for j, rf := range fields {
			f, _ := rf.(map[string]any)
			name, _ := f["name"].(string)
			value, _ := f["value"].(string)
			fw := fmt.Sprintf("%s.fields[%d]", where, j)
			if name == "" || value == "" {
				t.Errorf("%s: name and value are required: %v", fw, f)
			}
			total += limit(t, fw+".name", name, MaxFieldName) + limit(t, fw+".value", value, MaxFieldValue)
			checkMarkdown(t, fw+".value", value)
		}
		if ft, ok := e["footer"].(map[string]any); ok {
			txt, _ := ft["text"].(string)
			if txt == "" {
				t.Errorf("%s: footer without text", where)
			}
			total += limit(t, where+".footer.text", txt, MaxFooter)
		}
	}
	if total > MaxTotal {
		t.Errorf("embeds hold %d characters, limit %d", total, MaxTotal)
	}
	return msg
}

func limit(t *testing.T, where, s string, max int) int {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s: invalid UTF-8", where)
	}
	n := utf8.RuneCountInString(s)
	if n > max {
		t.Errorf("%s: %d characters, limit %d", where, n, max)
	}
	return n
}

// pulse's own markup: masked links to <url>, <t:unix:f> timestamps and
// the notifier's name in bold.
var markup = regexp.MustCompile(`\[[^\[\]]+\]\(<https?://[^<>() ]+>\)|<t:\d+:f>|\*\*(?:[^*\\]|\\.)+\*\*`)

// checkMarkdown fails on a mention or an unescaped tag outside pulse's own
// markup.
func checkMarkdown(t *testing.T, where, s string) {
	t.Helper()
	rest := markup.ReplaceAllString(s, "")
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			i++ // an escaped character
		case '<', '[', ']', '*', '_', '`', '|', '~':
			t.Errorf("%s: unescaped %q in %q", where, rest[i], notify.Truncate(rest, 200))
			return
		case '@':
			if !strings.HasPrefix(rest[i+1:], "\u200b") {
				t.Errorf("%s: bare @ in %q", where, rest)
				return
			}
		}
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
	w.WriteHeader(http.StatusNoContent)
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
	for _, tt := range notifytest.Cases() {
		t.Run(tt.Name, func(t *testing.T) {
			b, err := httpx.JSON(Render(tt.Msg, "ops", notifytest.Options(nil)))
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

func fieldMap(e Embed) map[string]string {
	m := map[string]string{}
	for _, f := range e.Fields {
		m[f.Name] = f.Value
	}
	return m
}

func TestSingleFields(t *testing.T) {
	p := Render(notifytest.Message(notifytest.Item(alert.DeliverOpened)), "ops", notifytest.Options(nil))
	if p.Content != "P1 OPEN api-health (#42)" {
		t.Errorf("content %q", p.Content)
	}
	if len(p.Embeds) != 1 {
		t.Fatalf("%d embeds", len(p.Embeds))
	}
	e := p.Embeds[0]
	if e.Title != "🔴 P1 OPEN api-health" {
		t.Errorf("title %q", e.Title)
	}
	if e.Description != `status 503, expected 200 \<html> & more` {
		t.Errorf("description %q", e.Description)
	}
	if e.Color != 0xD32F2F {
		t.Errorf("color %#x", e.Color)
	}
	if e.Timestamp != "2026-11-25T10:00:00Z" {
		t.Errorf("timestamp %q (want when the incident opened)", e.Timestamp)
	}
	if e.Footer == nil || e.Footer.Text != "pulse on edge-1.example.com" {
		t.Errorf("footer %+v", e.Footer)
	}
	want := map[string]string{
		"Severity": "P1",
		"Check":    "api-health (http)",
		"State":    "crit",
		"Open for": "12m, since <t:1795600800:f>",
		"Incident": "#42",
		"Runbook":  "[Runbook](<https://runbooks.example.com/api-health?team=api&view=%3Cfull%3E>)",
	}
	got := fieldMap(e)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %q = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v, want %v", got, want)
	}
}

func TestEvents(t *testing.T) {
	ack := Render(notifytest.Message(notifytest.Item(alert.DeliverAcknowledged)), "ops", notifytest.Options(nil)).Embeds[0]
	if ack.Color != 0x607D8B || !strings.HasPrefix(ack.Title, "👀 P1 ACK ") {
		t.Errorf("ack embed %q %#x", ack.Title, ack.Color)
	}
	if f := fieldMap(ack); f["Acknowledged by"] != "alice" || f["Note"] != "looking into it" {
		t.Errorf("ack fields %v", f)
	}
	res := Render(notifytest.Message(notifytest.Item(alert.DeliverResolved)), "ops", notifytest.Options(nil))
	if e := res.Embeds[0]; e.Color != 0x2E7D32 || e.Title != "✅ RESOLVED api-health" || fieldMap(e)["Duration"] != "12m" {
		t.Errorf("resolved embed %q %#x %v", e.Title, e.Color, fieldMap(e))
	}
	if res.Content != "RESOLVED api-health (#42)" {
		t.Errorf("resolved content %q", res.Content)
	}
	test := Render(notifytest.TestMessage(), "ops", notifytest.Options(nil))
	if test.Content != "pulse test notification from edge-1.example.com" {
		t.Errorf("test content %q", test.Content)
	}
	if d := test.Embeds[0].Description; !strings.Contains(d, "notifier **ops** can post") {
		t.Errorf("test description %q", d)
	}
	dg := Render(notifytest.Digest(), "ops", notifytest.Options(nil)).Embeds[0]
	if dg.Title != "pulse digest 2026-11-24" {
		t.Errorf("digest title %q", dg.Title)
	}
	if dg.Description != `availability 99.95% (target 99.9%), 3 incidents, 1 open \<P4: disk-usage>` {
		t.Errorf("digest description %q", dg.Description)
	}
}

// A check's message cannot ping anyone or add markup: mentions are broken
// (and allowed_mentions parses none), tags and links are escaped.
func TestEscaping(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Check.Name = "@everyone *bold*"
	it.Incident.Message = "@here <@123456> see [this](https://evil.example) ||spoiler|| `code`\n# heading\n> quote"
	p := Render(notifytest.Message(it), "ops", notifytest.Options(nil))
	b, _ := httpx.JSON(p)
	for _, bad := range []string{"@everyone", "@here", "<@123456>", "[this](https", "||spoiler", "\n# heading", "\n> quote"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("%q reached Discord unescaped: %s", bad, b)
		}
	}
	if got := p.Embeds[0].Description; got != "@\u200bhere \\<@\u200b123456> see \\[this\\](https://evil.example) \\|\\|spoiler\\|\\| \\`code\\`\n\\# heading\n\\> quote" {
		t.Errorf("description %q", got)
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
	if c := got[1]["content"]; c != "pulse test notification from edge-1.example.com" {
		t.Fatalf("test message content %q", c)
	}
	// ?wait=true makes Discord answer 200 with the message: also accepted.
	_, n = setup(t, func(w http.ResponseWriter) { _, _ = io.WriteString(w, `{"id":"1"}`) }, nil)
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
}

// A batch is one valid message: an embed per incident up to ten, the rest
// counted in the last embed, nothing lost, the most severe first.
func TestLargeBatch(t *testing.T) {
	for _, n := range []int{2, 10, 11, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			rcv, nt := setup(t, nil, nil)
			if err := nt.Send(context.Background(), notifytest.Message(notifytest.Batch(n)...)); err != nil {
				t.Fatal(err)
			}
			msgs := rcv.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want one", len(msgs))
			}
			if c := msgs[0]["content"].(string); !strings.HasPrefix(c, fmt.Sprintf("pulse: %d incidents: ", n)) {
				t.Errorf("content %q", c)
			}
			embeds := msgs[0]["embeds"].([]any)
			shown, more := 0, 0
			seenP3 := false
			for _, raw := range embeds {
				title := raw.(map[string]any)["title"].(string)
				if m := regexp.MustCompile(`^…and (\d+) more$`).FindStringSubmatch(title); m != nil {
					more, _ = strconv.Atoi(m[1])
					continue
				}
				shown++
				if strings.Contains(title, " P3 ") {
					seenP3 = true
				}
				if strings.Contains(title, " P2 ") && seenP3 {
					t.Fatal("P2 incident listed after a P3 one")
				}
			}
			if shown+more != n {
				t.Fatalf("%d embeds + %d more = %d, want %d", shown, more, shown+more, n)
			}
			if n <= MaxEmbeds && more != 0 {
				t.Fatalf("%d incidents fit but were summarised", n)
			}
		})
	}
}

// One incident with every text at its longest still makes a message
// within the 6000-character total.
func TestTotalLimit(t *testing.T) {
	it := notifytest.Item(alert.DeliverAcknowledged)
	it.Incident.Message = strings.Repeat("ü<", 5000)
	it.Check.Name = strings.Repeat("n", 300)
	it.Check.Runbook = "https://runbooks.example.com/" + strings.Repeat("r", 2000)
	it.Incident.AckedBy = strings.Repeat("a", 2000)
	it.Note = strings.Repeat("note ", 400)
	b, _ := httpx.JSON(Render(notifytest.Message(it), "ops", notifytest.Options(nil)))
	validate(t, b)
}

func TestAnswers(t *testing.T) {
	notifytest.Answers(t, `discord "ops": `, []notifytest.Answer{
		{Name: "invalid form body", Status: 400, Body: `{"code": 50035, "message": "Invalid Form Body"}`},
		{Name: "invalid token", Status: 401, Body: `{"code": 50027, "message": "Invalid Webhook Token"}`},
		{Name: "missing access", Status: 403, Body: `{"code": 50001, "message": "Missing Access"}`},
		{Name: "unknown webhook", Status: 404, Body: `{"code": 10015, "message": "Unknown Webhook"}`},
		{Name: "429 header", Status: 429, Header: map[string]string{"Retry-After": "7"}, Body: `{"message": "You are being rate limited.", "retry_after": 6.457, "global": false}`, Retryable: true, RetryAfter: 7 * time.Second},
		{Name: "429 body only", Status: 429, Body: `{"message": "You are being rate limited.", "retry_after": 1.5, "global": false}`, Retryable: true, RetryAfter: 1500 * time.Millisecond},
		{Name: "500", Status: 500, Body: "internal", Retryable: true},
		{Name: "502", Status: 502, Retryable: true},
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

// The webhook URL holds the token: it must not show in any error, stored
// answer or log line.
func TestNoSecretLeaks(t *testing.T) {
	secrets := []string{hookPath, token}
	echo := func(status int) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, `{"message": "Unknown Webhook: POST `+hookPath+` token `+token+`"}`)
		}
	}
	for _, status := range []int{404, 429, 500} {
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
	c := ConfigFrom(&config.Notifier{Name: "ops", Type: "discord", WebhookURL: "https://discord.com/api/webhooks/1/x", Timeout: config.Duration(time.Second)})
	if c.Name != "ops" || c.WebhookURL.Reveal() != "https://discord.com/api/webhooks/1/x" || c.Timeout != time.Second {
		t.Fatalf("%+v", c)
	}
	if _, err := New(ConfigFrom(&config.Notifier{Name: "ops", Type: "discord"}), notify.Options{}); err == nil {
		t.Fatal("missing webhook_url accepted")
	}
}
