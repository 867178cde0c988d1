package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
	token  = "123456789:AAHs3cr3tB0tT0k3nXyZ"
	chatID = "-1001234567890"
)

// tag matches the markup pulse writes: Telegram's <b>, <i> and <a href>.
var tag = regexp.MustCompile(`</?(b|i|a)( href="[^"<>]*")?>`)

// validate checks a sendMessage body field by field against the Bot API
// reference and returns it decoded.
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
		case "chat_id", "text", "parse_mode", "link_preview_options":
		default:
			t.Errorf("unexpected field %q", k)
		}
	}
	if msg["chat_id"] != chatID {
		t.Errorf("chat_id %v, want %q", msg["chat_id"], chatID)
	}
	if msg["parse_mode"] != "HTML" {
		t.Errorf("parse_mode %v, want HTML", msg["parse_mode"])
	}
	lp, _ := msg["link_preview_options"].(map[string]any)
	if len(lp) != 1 || lp["is_disabled"] != true {
		t.Errorf("link_preview_options %v, want {is_disabled: true}", msg["link_preview_options"])
	}
	text, _ := msg["text"].(string)
	if text == "" {
		t.Fatal("text missing")
	}
	if !utf8.ValidString(text) {
		t.Error("text is not valid UTF-8")
	}
	if n := Length(text); n > MaxText {
		t.Errorf("text of %d characters after entities parsing, limit %d", n, MaxText)
	}
	checkHTML(t, text)
	return msg
}

// checkHTML fails on markup Telegram would refuse: a tag it does not know,
// unbalanced tags, or a <, > or & that is neither markup nor an entity.
func checkHTML(t *testing.T, s string) {
	t.Helper()
	var open []string
	for _, m := range tag.FindAllStringSubmatch(s, -1) {
		if strings.HasPrefix(m[0], "</") {
			if len(open) == 0 || open[len(open)-1] != m[1] {
				t.Errorf("unbalanced %s in %q", m[0], s)
				return
			}
			open = open[:len(open)-1]
		} else {
			open = append(open, m[1])
		}
	}
	if len(open) > 0 {
		t.Errorf("unclosed tags %v", open)
	}
	rest := tag.ReplaceAllString(s, "")
	if strings.ContainsAny(rest, "<>") {
		t.Errorf("unescaped < or > in %q", notify.Truncate(rest, 200))
	}
	for i := strings.IndexByte(rest, '&'); i >= 0; i = strings.IndexByte(rest, '&') {
		if !(strings.HasPrefix(rest[i:], "&amp;") || strings.HasPrefix(rest[i:], "&lt;") || strings.HasPrefix(rest[i:], "&gt;") || strings.HasPrefix(rest[i:], "&quot;")) {
			t.Errorf("unescaped & in %q", notify.Truncate(rest[i:], 40))
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
	if req.Method != http.MethodPost || req.URL.Path != "/bot"+token+"/sendMessage" {
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
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":7,"chat":{"id":-1001234567890,"type":"channel"},"date":1795601520,"text":"x"}}`)
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
	n, err := New(Config{Name: "ops", BotToken: token, ChatID: chatID, APIURL: srv.URL + "/", Timeout: 2 * time.Second}, notifytest.Options(log))
	if err != nil {
		t.Fatal(err)
	}
	return rcv, n
}

func render(m *notify.Message) Payload { return Render(m, chatID, "ops", notifytest.Options(nil)) }

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

// TestFields: what each event's message says, in Telegram's HTML.
func TestFields(t *testing.T) {
	tests := []struct {
		name string
		msg  *notify.Message
		want []string
	}{
		{"opened", notifytest.Message(notifytest.Item(alert.DeliverOpened)), []string{
			"🔴 <b>P1 OPEN api-health</b>\n",
			"\nstatus 503, expected 200 &lt;html&gt; &amp; more\n",
			"<b>Severity:</b> P1\n", "<b>Check:</b> api-health (http)\n", "<b>State:</b> crit\n",
			"<b>Open for:</b> 12m, since 2026-11-25 10:00 UTC\n", "<b>Incident:</b> #42\n",
			`<b>Runbook:</b> <a href="https://runbooks.example.com/api-health?team=api&amp;view=&lt;full&gt;">Runbook</a>`,
			"<i>pulse on edge-1.example.com</i>",
		}},
		{"acknowledged", notifytest.Message(notifytest.Item(alert.DeliverAcknowledged)), []string{
			"👀 <b>P1 ACK api-health</b>", "<b>Acknowledged by:</b> alice\n", "<i>looking into it</i>",
		}},
		{"resolved", notifytest.Message(notifytest.Item(alert.DeliverResolved)), []string{
			"✅ <b>RESOLVED api-health</b>", "<b>Duration:</b> 12m\n",
		}},
		{"escalated", notifytest.Message(notifytest.Item(alert.DeliverEscalated)), []string{
			"🔴 <b>P1 ESCALATED api-health</b>", "<i>escalated after 15m</i>",
		}},
		{"test", notifytest.TestMessage(), []string{
			"👋 <b>pulse test notification</b>\npulse test notification from edge-1.example.com: notifier <b>ops</b> can post to this chat.",
		}},
		{"digest", notifytest.Digest(), []string{
			"<b>pulse digest 2026-11-24</b>\navailability 99.95% (target 99.9%), 3 incidents, 1 open &lt;P4: disk-usage&gt;",
		}},
		{"batch", notifytest.Message(notifytest.Batch(3)...), []string{
			"<b>pulse: 3 incidents</b>\n2 P2 OPEN, 1 RESOLVED\n",
			"🟠 <b>P2 OPEN service-001</b> · crit · #101 · open 12m · <a href=",
			"✅ <b>RESOLVED service-000</b> · crit · #100 · lasted 12m",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := render(tt.msg)
			if p.ChatID != chatID || p.ParseMode != "HTML" || p.LinkPreview == nil || !p.LinkPreview.IsDisabled {
				t.Errorf("request fields %+v", p)
			}
			for _, w := range tt.want {
				if !strings.Contains(p.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, p.Text)
				}
			}
		})
	}
}

// A check message or name full of markup reaches the chat as text.
func TestEscaping(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Check.Name = `<a href="https://evil.example">api</a>`
	it.Incident.Message = `<b>bold</b> & <script>x</script> &amp; "quoted"`
	it.Check.Runbook = `javascript:alert("<x>")`
	p := render(notifytest.Message(it))
	for _, bad := range []string{"<script>", `<a href="https://evil`, "<b>bold</b>", "javascript:alert(\"<x>\")", "<a href=\"javascript"} {
		if strings.Contains(p.Text, bad) {
			t.Errorf("markup %q reached Telegram unescaped:\n%s", bad, p.Text)
		}
	}
	if !strings.Contains(p.Text, "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;x&lt;/script&gt; &amp;amp; \"quoted\"") {
		t.Errorf("message not escaped as expected:\n%s", p.Text)
	}
	b, _ := httpx.JSON(p)
	validate(t, b)
}

func TestLength(t *testing.T) {
	for in, want := range map[string]int{
		"abc":                       3,
		"<b>abc</b>":                3,
		"a &lt;b&gt; &amp; c":       9,
		`<a href="https://x">y</a>`: 1,
		"🔴 é":                       4, // the emoji is two UTF-16 units
	} {
		if got := Length(in); got != want {
			t.Errorf("Length(%q) = %d, want %d", in, got, want)
		}
	}
}

// Long messages and batches of any size stay within 4096 characters, and
// a batch never loses count of an incident.
func TestLimits(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Incident.Message = strings.Repeat("<&>", 5000)
	b, _ := httpx.JSON(render(notifytest.Message(it)))
	validate(t, b)
	// Every other field long too: the message gives way.
	it.Check.Name = strings.Repeat("n&", 400)
	it.Incident.AckedBy = strings.Repeat("a", 400)
	it.Note = strings.Repeat("<note>", 200)
	m := notifytest.Message(it)
	m.Source = strings.Repeat("h", 300)
	b, _ = httpx.JSON(render(m))
	validate(t, b)

	for _, n := range []int{2, 10, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			rcv, nt := setup(t, nil, nil)
			if err := nt.Send(context.Background(), notifytest.Message(notifytest.Batch(n)...)); err != nil {
				t.Fatal(err)
			}
			msgs := rcv.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages, want one", len(msgs))
			}
			text := msgs[0]["text"].(string)
			listed := strings.Count(text, " · #")
			more := 0
			if m := regexp.MustCompile(`\n…and (\d+) more: (.*)\n`).FindStringSubmatch(text); m != nil {
				more, _ = strconv.Atoi(m[1])
				sum := 0
				for _, part := range strings.Split(m[2], ", ") {
					c, _ := strconv.Atoi(strings.Fields(part)[0])
					sum += c
				}
				if sum != more {
					t.Errorf("more line %q counts %d, says %d", m[0], sum, more)
				}
			}
			if listed+more != n {
				t.Fatalf("%d listed + %d more = %d, want %d", listed, more, listed+more, n)
			}
			if n == 200 && more == 0 {
				t.Fatal("200 long incidents fit in one message?")
			}
			if i, j := strings.Index(text, "<b>P3 "), strings.LastIndex(text, "<b>P2 "); i >= 0 && j > i {
				t.Fatal("P2 incident listed after a P3 one")
			}
		})
	}
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
	if txt := got[1]["text"].(string); !strings.Contains(txt, "pulse test notification from edge-1.example.com") {
		t.Fatalf("test message text %q", txt)
	}
}

// TestAnswers: the Bot API's status codes decide retries (429 after
// parameters.retry_after, 5xx; not 400/401/403/404) and the description is
// what the error shows.
func TestAnswers(t *testing.T) {
	apiErr := func(code int, desc string, retryAfter int) string {
		s := fmt.Sprintf(`{"ok":false,"error_code":%d,"description":%q`, code, desc)
		if retryAfter > 0 {
			s += fmt.Sprintf(`,"parameters":{"retry_after":%d}`, retryAfter)
		}
		return s + "}"
	}
	notifytest.Answers(t, `telegram "ops": `, []notifytest.Answer{
		{Name: "400 chat not found", Status: 400, Body: apiErr(400, "Bad Request: chat not found", 0), Answer: "Bad Request: chat not found"},
		{Name: "400 bad markup", Status: 400, Body: apiErr(400, "Bad Request: can't parse entities", 0), Answer: "Bad Request: can't parse entities"},
		{Name: "401", Status: 401, Body: apiErr(401, "Unauthorized", 0), Answer: "Unauthorized"},
		{Name: "403", Status: 403, Body: apiErr(403, "Forbidden: bot was kicked from the channel chat", 0), Answer: "Forbidden: bot was kicked from the channel chat"},
		{Name: "404", Status: 404, Body: apiErr(404, "Not Found", 0), Answer: "Not Found"},
		{Name: "429", Status: 429, Body: apiErr(429, "Too Many Requests: retry after 17", 17), Retryable: true, RetryAfter: 17 * time.Second, Answer: "Too Many Requests: retry after 17"},
		{Name: "500", Status: 500, Body: apiErr(500, "Internal Server Error", 0), Retryable: true, Answer: "Internal Server Error"},
		{Name: "502 html", Status: 502, Body: "<html>bad gateway</html>", Retryable: true, Answer: "<html>bad gateway</html>"},
		{Name: "200 not ok", Status: 200, Body: `{"ok":false,"error_code":400,"description":"odd"}`, Answer: "odd"},
		{Name: "200 not json", Status: 200, Body: "hello", Answer: "hello"},
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
		n, _ := New(Config{Name: "ops", BotToken: token, ChatID: chatID, APIURL: "http://" + addr}, notifytest.Options(nil))
		if err := n.Send(context.Background(), notifytest.TestMessage()); err == nil || !notify.Retryable(err) {
			t.Fatalf("connection refused: %v, want retryable", err)
		}
	})
}

// The bot token sits in the request path: it must not show in any error,
// stored answer or log line, even when the server echoes it.
func TestNoSecretLeaks(t *testing.T) {
	secrets := []string{token, "AAHs3cr3tB0tT0k3nXyZ"}
	echo := func(status int) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, `{"ok":false,"error_code":%d,"description":"no bot /bot%s/sendMessage"}`, status, token)
		}
	}
	for _, status := range []int{401, 404, 429, 500, 200} {
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
	for name, api := range notifytest.UnreachableURLs(t, "") {
		t.Run(name, func(t *testing.T) {
			log, buf := notifytest.Logger()
			n, err := New(Config{Name: "ops", BotToken: token, ChatID: chatID, APIURL: api, Timeout: 200 * time.Millisecond}, notifytest.Options(log))
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

// TestConfigFrom: ConfigFrom trusts the validated table; New still refuses
// a Config without token or chat, and defaults the API server.
func TestConfigFrom(t *testing.T) {
	c := ConfigFrom(&config.Notifier{Name: "ops", Type: "telegram", BotToken: token, ChatID: chatID, APIURL: "https://tg.example", Timeout: config.Duration(time.Second)})
	if c.Name != "ops" || c.BotToken.Reveal() != token || c.ChatID != chatID || c.APIURL != "https://tg.example" || c.Timeout != time.Second {
		t.Fatalf("%+v", c)
	}
	if _, err := New(Config{Name: "ops", ChatID: chatID}, notify.Options{}); err == nil || !strings.Contains(err.Error(), "bot_token is required") {
		t.Fatalf("missing bot_token: %v", err)
	}
	if _, err := New(Config{Name: "ops", BotToken: token}, notify.Options{}); err == nil || !strings.Contains(err.Error(), "chat_id is required") {
		t.Fatalf("missing chat_id: %v", err)
	}
	n, err := New(Config{Name: "ops", BotToken: token, ChatID: chatID}, notify.Options{})
	if err != nil || n.url != "https://api.telegram.org/bot"+token+"/sendMessage" {
		t.Fatalf("default API URL: %v", err)
	}
}

// An answer naming the method is shown as it is: only the token is redacted.
func TestAnswerKeepsMethodName(t *testing.T) {
	_, n := setup(t, func(w http.ResponseWriter) {
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":404,"description":"Not Found: method sendMessage"}`)
	}, nil)
	err := n.Send(context.Background(), notifytest.TestMessage())
	var se *notify.SendError
	if !errors.As(err, &se) || se.Answer != "Not Found: method sendMessage" || se.Retryable {
		t.Fatalf("%v", err)
	}
}
