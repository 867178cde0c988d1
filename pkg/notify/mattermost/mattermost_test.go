package mattermost

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
	hookKey  = "mmh00kk3ys3cr3tabc123xyz"
	hookPath = "/hooks/" + hookKey
)

var colorRE = regexp.MustCompile(`^#[0-9A-F]{6}$`)

// validate checks a webhook body field by field against Mattermost's
// incoming-webhook and message-attachment documentation, and returns the
// decoded post.
func validate(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	for k := range msg {
		switch k {
		case "text", "channel", "username", "attachments":
		default:
			t.Errorf("unexpected top-level field %q", k)
		}
	}
	text, _ := msg["text"].(string)
	atts, _ := msg["attachments"].([]any)
	if text == "" && len(atts) == 0 {
		t.Errorf("neither text nor attachments")
	}
	limit(t, "text", text, MaxText)
	checkMarkdown(t, "text", text)
	if len(atts) > MaxAttachments {
		t.Errorf("%d attachments, limit %d", len(atts), MaxAttachments)
	}
	for i, raw := range atts {
		a, _ := raw.(map[string]any)
		where := fmt.Sprintf("attachments[%d]", i)
		for k := range a {
			switch k {
			case "fallback", "color", "title", "text", "fields", "footer":
			default:
				t.Errorf("%s: unexpected field %q", where, k)
			}
		}
		if fb, _ := a["fallback"].(string); fb == "" {
			t.Errorf("%s: fallback is required", where)
		}
		if c, ok := a["color"].(string); ok && !colorRE.MatchString(c) {
			t.Errorf("%s: color %q", where, c)
		}
		title, _ := a["title"].(string)
		limit(t, where+".title", title, MaxTitle)
		for _, k := range []string{"title", "fallback", "footer"} {
			s, _ := a[k].(string)
			checkMentions(t, where+"."+k, s)
		}
		txt, _ := a["text"].(string)
		limit(t, where+".text", txt, MaxAttachmentText)
		checkMarkdown(t, where+".text", txt)
		fields, _ := a["fields"].([]any)
		for j, rf := range fields {
			f, _ := rf.(map[string]any)
			fw := fmt.Sprintf("%s.fields[%d]", where, j)
			if _, ok := f["short"].(bool); !ok {
				t.Errorf("%s: short missing", fw)
			}
			ft, _ := f["title"].(string)
			v, _ := f["value"].(string)
			if ft == "" || v == "" {
				t.Errorf("%s: title and value wanted: %v", fw, f)
			}
			checkMarkdown(t, fw+".value", v)
		}
	}
	return msg
}

func limit(t *testing.T, where, s string, max int) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s: invalid UTF-8", where)
	}
	if n := utf8.RuneCountInString(s); n > max {
		t.Errorf("%s: %d characters, limit %d", where, n, max)
	}
}

// pulse's own markup: links and the notifier's name in bold.
var markup = regexp.MustCompile(`\[[^\[\]]+\]\(https?://[^<>() ]+\)|\*\*(?:[^*\\]|\\.)+\*\*`)

// checkMarkdown fails on markup or a mention outside pulse's own markup.
func checkMarkdown(t *testing.T, where, s string) {
	t.Helper()
	rest := markup.ReplaceAllString(s, "")
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case '\\':
			i++
		case '<', '>', '[', ']', '*', '_', '`', '|':
			t.Errorf("%s: unescaped %q in %q", where, rest[i], notify.Truncate(rest, 200))
			return
		}
	}
	checkMentions(t, where, s)
}

func checkMentions(t *testing.T, where, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		if (s[i] == '@' || s[i] == '~') && !strings.HasPrefix(s[i+1:], "\u200b") {
			t.Errorf("%s: bare %c in %q", where, s[i], s)
			return
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
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

func (r *receiver) messages() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.got...)
}

func setup(t *testing.T, cfg Config, answer func(w http.ResponseWriter), log *slog.Logger) (*receiver, *Notifier) {
	t.Helper()
	rcv := &receiver{t: t, answer: answer}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	cfg.Name, cfg.WebhookURL, cfg.Timeout = "ops", config.Secret(srv.URL+hookPath), 2*time.Second
	n, err := New(cfg, notifytest.Options(log))
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

func fieldMap(a Attachment) map[string]string {
	m := map[string]string{}
	for _, f := range a.Fields {
		m[f.Title] = f.Value
	}
	return m
}

func TestSingleFields(t *testing.T) {
	p := Render(notifytest.Message(notifytest.Item(alert.DeliverOpened)), "ops", notifytest.Options(nil))
	if p.Text != "🔴 P1 OPEN api-health (#42)" {
		t.Errorf("text %q", p.Text)
	}
	if len(p.Attachments) != 1 {
		t.Fatalf("%d attachments", len(p.Attachments))
	}
	a := p.Attachments[0]
	if a.Title != "🔴 P1 OPEN api-health" || a.Color != "#D32F2F" || a.Footer != "pulse on edge-1.example.com" {
		t.Errorf("title %q color %q footer %q", a.Title, a.Color, a.Footer)
	}
	if a.Fallback != "[P1] api-health crit: status 503, expected 200 <html> & more" {
		t.Errorf("fallback %q", a.Fallback)
	}
	if a.Text != `status 503, expected 200 \<html\> & more` {
		t.Errorf("text %q", a.Text)
	}
	want := map[string]string{
		"Severity": "P1",
		"Check":    "api-health (http)",
		"State":    "crit",
		"Open for": "12m, since 2026-11-25 10:00 UTC",
		"Incident": "#42",
		"Runbook":  "[Runbook](https://runbooks.example.com/api-health?team=api&view=%3Cfull%3E)",
	}
	got := fieldMap(a)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %q = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("fields %v", got)
	}
}

func TestEvents(t *testing.T) {
	ack := Render(notifytest.Message(notifytest.Item(alert.DeliverAcknowledged)), "ops", notifytest.Options(nil)).Attachments[0]
	if ack.Color != "#607D8B" || ack.Title != "👀 P1 ACK api-health" {
		t.Errorf("ack %q %q", ack.Title, ack.Color)
	}
	if f := fieldMap(ack); f["Acknowledged by"] != "alice" || f["Note"] != "looking into it" {
		t.Errorf("ack fields %v", f)
	}
	res := Render(notifytest.Message(notifytest.Item(alert.DeliverResolved)), "ops", notifytest.Options(nil)).Attachments[0]
	if res.Color != "#2E7D32" || res.Title != "✅ RESOLVED api-health" || fieldMap(res)["Duration"] != "12m" {
		t.Errorf("resolved %q %q %v", res.Title, res.Color, fieldMap(res))
	}
	test := Render(notifytest.TestMessage(), "ops", notifytest.Options(nil))
	if test.Text != "👋 pulse test notification from edge-1.example.com: notifier **ops** can post to this channel." {
		t.Errorf("test text %q", test.Text)
	}
	dg := Render(notifytest.Digest(), "ops", notifytest.Options(nil))
	if dg.Text != "**pulse digest 2026-11-24**\navailability 99.95% (target 99.9%), 3 incidents, 1 open \\<P4: disk-usage\\>\npulse on edge-1.example.com" {
		t.Errorf("digest text %q", dg.Text)
	}
}

// A check's message cannot mention anyone or add markup.
func TestEscaping(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Check.Name = "@channel *bold*"
	it.Incident.Message = "@all @here ~town-square see [this](https://evil.example) `code` | table\n# heading\n- list\n> quote"
	p := Render(notifytest.Message(it), "ops", notifytest.Options(nil))
	b, _ := httpx.JSON(p)
	// Mentions are broken everywhere; markup only matters where Mattermost
	// renders Markdown (titles, fallbacks and footers are plain text).
	for _, bad := range []string{"@channel", "@all", "@here", "~town"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("%q reached Mattermost unbroken: %s", bad, b)
		}
	}
	md := p.Text + "\n" + p.Attachments[0].Text
	for _, f := range p.Attachments[0].Fields {
		md += "\n" + f.Value
	}
	for _, bad := range []string{"[this](https", "\n# heading", "\n- list", "\n> quote", "*bold*", "`code`", " | table"} {
		if strings.Contains(md, bad) {
			t.Errorf("%q reached Mattermost's Markdown unescaped: %s", bad, md)
		}
	}
	validate(t, b)
}

func TestSend(t *testing.T) {
	rcv, n := setup(t, Config{Channel: "alerts", Username: "pulse"}, nil, nil)
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
	for _, m := range got {
		if m["channel"] != "alerts" || m["username"] != "pulse" {
			t.Errorf("channel %v username %v", m["channel"], m["username"])
		}
	}
	// Without overrides the keys are left out: the webhook's own apply.
	rcv, n = setup(t, Config{}, nil, nil)
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
	if m := rcv.messages()[0]; m["channel"] != nil || m["username"] != nil {
		t.Errorf("overrides sent: %v", m)
	}
}

func TestLargeBatch(t *testing.T) {
	for _, n := range []int{2, 20, 21, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			rcv, nt := setup(t, Config{}, nil, nil)
			if err := nt.Send(context.Background(), notifytest.Message(notifytest.Batch(n)...)); err != nil {
				t.Fatal(err)
			}
			msgs := rcv.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want one", len(msgs))
			}
			if txt := msgs[0]["text"].(string); !strings.HasPrefix(txt, fmt.Sprintf("pulse: %d incidents: ", n)) {
				t.Errorf("text %q", txt)
			}
			shown, more := 0, 0
			for _, raw := range msgs[0]["attachments"].([]any) {
				a := raw.(map[string]any)
				if m := regexp.MustCompile(`^…and (\d+) more`).FindStringSubmatch(a["text"].(string)); m != nil {
					more, _ = strconv.Atoi(m[1])
					continue
				}
				shown++
			}
			if shown+more != n {
				t.Fatalf("%d attachments + %d more = %d, want %d", shown, more, shown+more, n)
			}
			if n <= MaxAttachments && more != 0 {
				t.Fatalf("%d incidents fit but were summarised", n)
			}
		})
	}
}

func TestAnswers(t *testing.T) {
	notifytest.Answers(t, `mattermost "ops": `, []notifytest.Answer{
		{Name: "bad payload", Status: 400, Body: `{"id":"web.incoming_webhook.parse.app_error","message":"Unable to parse incoming data."}`},
		{Name: "webhooks disabled", Status: 501, Body: `{"id":"api.incoming_webhook.disabled.app_error"}`},
		{Name: "forbidden", Status: 403, Body: `{"id":"web.incoming_webhook.channel_locked.app_error"}`},
		{Name: "unknown hook", Status: 404, Body: `{"id":"web.incoming_webhook.invalid.app_error"}`},
		{Name: "too large", Status: 413, Body: "too large"},
		{Name: "429", Status: 429, Header: map[string]string{"Retry-After": "3"}, Body: "limit exceeded", Retryable: true, RetryAfter: 3 * time.Second},
		{Name: "500", Status: 500, Body: "internal", Retryable: true},
		{Name: "503", Status: 503, Retryable: true},
	}, func(t *testing.T, answer func(w http.ResponseWriter)) error {
		_, n := setup(t, Config{}, answer, nil)
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

// The webhook URL is the credential: never in an error, answer or log.
func TestNoSecretLeaks(t *testing.T) {
	secrets := []string{hookPath, hookKey}
	for _, status := range []int{400, 404, 500} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			log, buf := notifytest.Logger()
			_, n := setup(t, Config{}, func(w http.ResponseWriter) {
				w.WriteHeader(status)
				_, _ = io.WriteString(w, `{"message":"invalid webhook `+hookPath+`","detailed_error":"id=`+hookKey+`"}`)
			}, log)
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

func TestConfigFrom(t *testing.T) {
	c := ConfigFrom(&config.Notifier{Name: "ops", Type: "mattermost", WebhookURL: "https://mm.example/hooks/x", Channel: "alerts", Username: "pulse", Timeout: config.Duration(time.Second)})
	if c.Name != "ops" || c.WebhookURL.Reveal() != "https://mm.example/hooks/x" || c.Channel != "alerts" || c.Username != "pulse" || c.Timeout != time.Second {
		t.Fatalf("%+v", c)
	}
	if _, err := New(ConfigFrom(&config.Notifier{Name: "ops", Type: "mattermost"}), notify.Options{}); err == nil {
		t.Fatal("missing webhook_url accepted")
	}
}
