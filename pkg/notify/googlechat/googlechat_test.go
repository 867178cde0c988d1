package googlechat

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
	apiKey   = "AIzaSyGCh4tK3yS3cr3tXYZ"
	apiToken = "tOk3nS3cr3t-AbCdEf_123"
	hookPath = "/v1/spaces/AAAAspace/messages"
	query    = "key=" + apiKey + "&token=" + apiToken
)

// allowedTags are the tags pulse writes in card text (Google Chat's HTML
// subset); anything else would be markup from a check's text.
var allowedTags = regexp.MustCompile(`</?(b|i|br)>|<font color="#[0-9A-F]{6}">|</font>|<a href="[^"<>]*">|</a>`)

// validate checks a webhook body field by field against Google Chat's
// Message resource (text, cardsV2, thread) and returns it decoded.
func validate(t *testing.T, body []byte) map[string]any {
	t.Helper()
	if len(body) > 32000 {
		t.Errorf("message of %d bytes, limit 32000", len(body))
	}
	var msg map[string]any
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("payload is not JSON: %v", err)
	}
	for k := range msg {
		switch k {
		case "text", "cardsV2", "thread":
		default:
			t.Errorf("unexpected top-level field %q", k)
		}
	}
	text, _ := msg["text"].(string)
	cards, _ := msg["cardsV2"].([]any)
	if text == "" && len(cards) == 0 {
		t.Errorf("neither text nor cardsV2")
	}
	if n := utf8.RuneCountInString(text); n > MaxText {
		t.Errorf("text of %d characters, limit %d", n, MaxText)
	}
	checkPlain(t, "text", text)
	if th, ok := msg["thread"].(map[string]any); ok {
		if k, _ := th["threadKey"].(string); k == "" || len(th) != 1 {
			t.Errorf("thread %v", th)
		}
	}
	for i, rc := range cards {
		c, _ := rc.(map[string]any)
		where := fmt.Sprintf("cardsV2[%d]", i)
		if id, _ := c["cardId"].(string); id == "" {
			t.Errorf("%s: cardId missing", where)
		}
		cd, _ := c["card"].(map[string]any)
		if h, ok := cd["header"].(map[string]any); ok {
			if title, _ := h["title"].(string); title == "" {
				t.Errorf("%s: header without title", where)
			}
		}
		sections, _ := cd["sections"].([]any)
		if len(sections) == 0 {
			t.Errorf("%s: no sections", where)
		}
		for j, rs := range sections {
			s, _ := rs.(map[string]any)
			widgets, _ := s["widgets"].([]any)
			if len(widgets) == 0 {
				t.Errorf("%s.sections[%d]: no widgets", where, j)
			}
			for k, rw := range widgets {
				w, _ := rw.(map[string]any)
				ww := fmt.Sprintf("%s.sections[%d].widgets[%d]", where, j, k)
				if len(w) != 1 {
					t.Errorf("%s: want exactly one widget kind, got %v", ww, w)
				}
				switch {
				case w["textParagraph"] != nil:
					txt, _ := w["textParagraph"].(map[string]any)["text"].(string)
					checkHTML(t, ww, txt)
				case w["decoratedText"] != nil:
					d := w["decoratedText"].(map[string]any)
					txt, _ := d["text"].(string)
					if txt == "" {
						t.Errorf("%s: decoratedText without text", ww)
					}
					checkHTML(t, ww, txt)
				case w["buttonList"] != nil:
					for _, rb := range w["buttonList"].(map[string]any)["buttons"].([]any) {
						b := rb.(map[string]any)
						u, _ := b["onClick"].(map[string]any)["openLink"].(map[string]any)["url"].(string)
						if b["text"] == "" || !strings.HasPrefix(u, "https://") {
							t.Errorf("%s: button %v", ww, b)
						}
					}
				default:
					t.Errorf("%s: unknown widget %v", ww, w)
				}
			}
		}
	}
	return msg
}

// checkHTML fails on a tag or an unescaped & outside pulse's own tags.
func checkHTML(t *testing.T, where, s string) {
	t.Helper()
	if n := len(s); n > MaxCardText+200 {
		t.Errorf("%s: card text of %d bytes", where, n)
	}
	rest := allowedTags.ReplaceAllString(s, "")
	if strings.ContainsAny(rest, "<>") {
		t.Errorf("%s: unescaped < or > in %q", where, notify.Truncate(rest, 200))
	}
	for i := strings.IndexByte(rest, '&'); i >= 0; i = strings.IndexByte(rest, '&') {
		if !regexp.MustCompile(`^&(amp|lt|gt|#34|#39|quot);`).MatchString(rest[i:]) {
			t.Errorf("%s: unescaped & in %q", where, notify.Truncate(rest[i:], 40))
			return
		}
		rest = rest[i+1:]
	}
}

// checkPlain fails on a mention or a link the text markup would act on.
func checkPlain(t *testing.T, where, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		if strings.IndexByte("<*_~`@", s[i]) >= 0 && !strings.HasPrefix(s[i+1:], "\u200b") {
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
	urls   []string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != hookPath {
		r.t.Errorf("request %s %s", req.Method, req.URL.Path)
	}
	if q := req.URL.Query(); q.Get("key") != apiKey || q.Get("token") != apiToken {
		r.t.Errorf("key and token not passed on: %s", req.URL.RawQuery)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("Content-Type %q", ct)
	}
	body, _ := io.ReadAll(req.Body)
	msg := validate(r.t, body)
	r.mu.Lock()
	r.got = append(r.got, msg)
	r.urls = append(r.urls, req.URL.RawQuery)
	r.mu.Unlock()
	if r.answer != nil {
		r.answer(w)
		return
	}
	_, _ = io.WriteString(w, `{"name": "spaces/AAAAspace/messages/1.1", "thread": {"name": "spaces/AAAAspace/threads/1"}}`)
}

func setup(t *testing.T, answer func(w http.ResponseWriter), log *slog.Logger) (*receiver, *Notifier) {
	t.Helper()
	rcv := &receiver{t: t, answer: answer}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	n, err := New(Config{Name: "ops", WebhookURL: config.Secret(srv.URL + hookPath + "?" + query), Timeout: 2 * time.Second}, notifytest.Options(log))
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

func widgetsOf(p Payload) map[string]string {
	m := map[string]string{}
	for _, w := range p.CardsV2[0].Card.Sections[0].Widgets {
		if w.DecoratedText != nil {
			m[w.DecoratedText.TopLabel] = w.DecoratedText.Text
		}
	}
	return m
}

func TestSingleFields(t *testing.T) {
	p := Render(notifytest.Message(notifytest.Item(alert.DeliverOpened)), "ops", notifytest.Options(nil))
	if p.Text != "🔴 P1 OPEN api-health (#42)" {
		t.Errorf("text %q", p.Text)
	}
	if p.Thread == nil || p.Thread.ThreadKey != "edge-1-42" {
		t.Errorf("thread %+v, want the incident's key", p.Thread)
	}
	c := p.CardsV2[0]
	if c.CardID != "incident-42" || c.Card.Header.Title != "🔴 P1 OPEN api-health" || c.Card.Header.Subtitle != "pulse on edge-1.example.com" {
		t.Errorf("card %+v", c)
	}
	ws := c.Card.Sections[0].Widgets
	if ws[0].TextParagraph == nil || ws[0].TextParagraph.Text != "status 503, expected 200 &lt;html&gt; &amp; more" {
		t.Errorf("message widget %+v", ws[0])
	}
	want := map[string]string{
		"Severity": "P1",
		"Check":    "api-health (http)",
		"State":    `<font color="#D32F2F">crit</font>`,
		"Open for": "12m, since 2026-11-25 10:00 UTC",
		"Incident": "#42",
	}
	got := widgetsOf(p)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q = %q, want %q", k, got[k], v)
		}
	}
	var button string
	for _, w := range ws {
		if w.ButtonList != nil {
			button = w.ButtonList.Buttons[0].OnClick.OpenLink.URL
		}
	}
	if button != "https://runbooks.example.com/api-health?team=api&view=<full>" {
		t.Errorf("runbook button %q", button)
	}
}

func TestEvents(t *testing.T) {
	ack := Render(notifytest.Message(notifytest.Item(alert.DeliverAcknowledged)), "ops", notifytest.Options(nil))
	if w := widgetsOf(ack); w["Acknowledged by"] != "alice" || w["Note"] != "looking into it" || ack.Thread.ThreadKey != "edge-1-42" {
		t.Errorf("ack %v thread %+v", w, ack.Thread)
	}
	res := Render(notifytest.Message(notifytest.Item(alert.DeliverResolved)), "ops", notifytest.Options(nil))
	if res.Text != "✅ RESOLVED api-health (#42)" || widgetsOf(res)["Duration"] != "12m" || res.Thread.ThreadKey != "edge-1-42" {
		t.Errorf("resolved %q %v %+v", res.Text, widgetsOf(res), res.Thread)
	}
	test := Render(notifytest.TestMessage(), "ops", notifytest.Options(nil))
	if test.Text != "pulse test notification from edge-1.example.com: notifier ops can post to this space." || test.Thread != nil {
		t.Errorf("test %+v", test)
	}
	b := Render(notifytest.Message(notifytest.Batch(3)...), "ops", notifytest.Options(nil))
	if b.Thread != nil || !strings.HasPrefix(b.Text, "pulse: 3 incidents: ") {
		t.Errorf("batch %q thread %+v (a batch is not any one incident's)", b.Text, b.Thread)
	}
}

// Resolve and opening share the thread: the URL asks Google Chat to reply
// in the thread of the key, or start it.
func TestThreading(t *testing.T) {
	rcv, n := setup(t, nil, nil)
	for _, ev := range []string{alert.DeliverOpened, alert.DeliverResolved} {
		if err := n.Send(context.Background(), notifytest.Message(notifytest.Item(ev))); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for i := range 2 {
		if rcv.urls[i] != query+"&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD" {
			t.Errorf("query %q", rcv.urls[i])
		}
		if k := rcv.got[i]["thread"].(map[string]any)["threadKey"]; k != "edge-1-42" {
			t.Errorf("threadKey %v", k)
		}
	}
	if rcv.urls[2] != query {
		t.Errorf("unthreaded message query %q", rcv.urls[2])
	}
}

func TestEscaping(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Check.Name = "<users/all> *bold*"
	it.Incident.Message = `<users/all> <a href="https://evil.example">x</a> <https://evil.example|click> & more`
	p := Render(notifytest.Message(it), "ops", notifytest.Options(nil))
	b, _ := httpx.JSON(p)
	for _, bad := range []string{"<users/all>", `<a href="https://evil`, "<https://evil"} {
		if bytes.Contains(b, []byte(bad)) {
			t.Errorf("%q reached Google Chat unescaped: %s", bad, b)
		}
	}
	validate(t, b)
}

func TestLargeBatch(t *testing.T) {
	for _, n := range []int{2, 20, 21, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			rcv, nt := setup(t, nil, nil)
			if err := nt.Send(context.Background(), notifytest.Message(notifytest.Batch(n)...)); err != nil {
				t.Fatal(err)
			}
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			if len(rcv.got) != 1 {
				t.Fatalf("%d messages, want one", len(rcv.got))
			}
			b, _ := json.Marshal(rcv.got[0])
			shown := len(regexp.MustCompile(`#\d+ · `).FindAll(b, -1))
			more := 0
			if m := regexp.MustCompile(`…and (\d+) more`).FindSubmatch(b); m != nil {
				more, _ = strconv.Atoi(string(m[1]))
			}
			if shown+more != n {
				t.Fatalf("%d shown + %d more, want %d", shown, more, n)
			}
			if n <= MaxItems && more != 0 {
				t.Fatalf("%d incidents fit but were summarised", n)
			}
		})
	}
}

func TestAnswers(t *testing.T) {
	notifytest.Answers(t, `googlechat "ops": `, []notifytest.Answer{
		{Name: "invalid argument", Status: 400, Body: `{"error": {"code": 400, "message": "Invalid JSON payload", "status": "INVALID_ARGUMENT"}}`},
		{Name: "unauthenticated", Status: 401, Body: `{"error": {"code": 401, "status": "UNAUTHENTICATED"}}`},
		{Name: "permission denied", Status: 403, Body: `{"error": {"code": 403, "status": "PERMISSION_DENIED"}}`},
		{Name: "space gone", Status: 404, Body: `{"error": {"code": 404, "status": "NOT_FOUND"}}`},
		{Name: "resource exhausted", Status: 429, Header: map[string]string{"Retry-After": "30"}, Body: `{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}`, Retryable: true, RetryAfter: 30 * time.Second},
		{Name: "429 without header", Status: 429, Body: `{"error": {"code": 429}}`, Retryable: true},
		{Name: "500", Status: 500, Body: "internal", Retryable: true},
		{Name: "503", Status: 503, Body: `{"error": {"code": 503, "status": "UNAVAILABLE"}}`, Retryable: true},
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
		n, _ := New(Config{Name: "ops", WebhookURL: config.Secret("http://" + addr + hookPath + "?" + query)}, notifytest.Options(nil))
		if err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened))); err == nil || !notify.Retryable(err) {
			t.Fatalf("connection refused: %v, want retryable", err)
		}
	})
}

// key= and token= are the credential: neither may show in an error, an
// answer or a log line, alone or together.
func TestNoSecretLeaks(t *testing.T) {
	secrets := []string{apiKey, apiToken, query}
	for _, status := range []int{400, 403, 429, 500} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			log, buf := notifytest.Logger()
			_, n := setup(t, func(w http.ResponseWriter) {
				w.WriteHeader(status)
				_, _ = io.WriteString(w, `{"error": {"message": "bad key `+apiKey+` or token `+apiToken+` for `+hookPath+`?`+query+`"}}`)
			}, log)
			err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			if err == nil {
				t.Fatal("send succeeded")
			}
			notifytest.NoSecret(t, err, buf.String(), secrets...)
		})
	}
	for name, url := range notifytest.UnreachableURLs(t, hookPath+"?"+query) {
		t.Run(name, func(t *testing.T) {
			log, buf := notifytest.Logger()
			n, err := New(Config{Name: "ops", WebhookURL: config.Secret(url)}, notifytest.Options(log))
			if err != nil {
				t.Fatal(err)
			}
			err = n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			if err == nil {
				t.Fatal("send succeeded")
			}
			notifytest.NoSecret(t, err, buf.String(), secrets...)
		})
	}
}

func TestConfigFrom(t *testing.T) {
	c := ConfigFrom(&config.Notifier{Name: "ops", Type: "googlechat", WebhookURL: "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t", Timeout: config.Duration(time.Second)})
	if c.Name != "ops" || c.WebhookURL.Reveal() != "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t" || c.Timeout != time.Second {
		t.Fatalf("%+v", c)
	}
	if _, err := New(ConfigFrom(&config.Notifier{Name: "ops", Type: "googlechat"}), notify.Options{}); err == nil {
		t.Fatal("missing webhook_url accepted")
	}
}
