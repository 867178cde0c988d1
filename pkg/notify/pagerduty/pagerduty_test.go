package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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

const routingKey = "R0UT1NGK3Y0123456789abcdefabcdef"

// receiver is an Events API stand-in: it validates every request against
// the published schema and answers with the status answer gives.
type receiver struct {
	t      *testing.T
	root   schema
	schema schema
	answer func(n int, ev map[string]any, w http.ResponseWriter)

	mu     sync.Mutex
	events []map[string]any
}

func newReceiver(t *testing.T, answer func(n int, ev map[string]any, w http.ResponseWriter)) (*receiver, *httptest.Server) {
	root, s := eventSchema(t)
	r := &receiver{t: t, root: root, schema: s, answer: answer}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v2/enqueue" {
		r.t.Errorf("request %s %s, want POST /v2/enqueue", req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("Content-Type %q", ct)
	}
	body, _ := io.ReadAll(req.Body)
	ev := checkEvent(r.t, r.root, r.schema, body)
	r.mu.Lock()
	r.events = append(r.events, ev)
	n := len(r.events)
	r.mu.Unlock()
	if r.answer != nil {
		r.answer(n, ev, w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"`+ev["dedup_key"].(string)+`"}`)
}

func (r *receiver) got() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any(nil), r.events...)
}

func newNotifier(t *testing.T, url string, opts notify.Options) *Notifier {
	t.Helper()
	n, err := New(Config{Name: "oncall", RoutingKey: routingKey, URL: config.Secret(url), Timeout: 2 * time.Second}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGolden(t *testing.T) {
	root, s := eventSchema(t)
	tests := []struct {
		name string
		msg  *notify.Message
	}{
		{"opened", notifytest.Message(notifytest.Item(alert.DeliverOpened))},
		{"acknowledged", notifytest.Message(notifytest.Item(alert.DeliverAcknowledged))},
		{"resolved", notifytest.Message(notifytest.Item(alert.DeliverResolved))},
		{"test", notifytest.TestMessage()},
		{"batch", notifytest.Message(
			notifytest.Item(alert.DeliverRaised), notifytest.Item(alert.DeliverReminder),
			notifytest.Item(alert.DeliverEscalated), notifytest.Item(alert.DeliverFlapping))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events, err := Events(tt.msg, routingKey, notifytest.Options(nil))
			if err != nil {
				t.Fatal(err)
			}
			// The golden file holds the exact request bodies, indented.
			var out bytes.Buffer
			for _, ev := range events {
				b, err := httpx.JSON(ev)
				if err != nil {
					t.Fatal(err)
				}
				checkEvent(t, root, s, b)
				if err := json.Indent(&out, b, "", "  "); err != nil {
					t.Fatal(err)
				}
				out.WriteByte('\n')
			}
			notifytest.Golden(t, tt.name+".json", out.Bytes())
		})
	}
}

func TestEventFields(t *testing.T) {
	tests := []struct {
		event, action, severity string
	}{
		{alert.DeliverOpened, "trigger", "critical"},
		{alert.DeliverRaised, "trigger", "critical"},
		{alert.DeliverReminder, "trigger", "critical"},
		{alert.DeliverEscalated, "trigger", "critical"},
		{alert.DeliverFlapping, "trigger", "critical"},
		{alert.DeliverAcknowledged, "acknowledge", ""},
		{alert.DeliverResolved, "resolve", ""},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			events, err := Events(notifytest.Message(notifytest.Item(tt.event)), routingKey, notifytest.Options(nil))
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 {
				t.Fatalf("%d events, want 1", len(events))
			}
			ev := events[0]
			if ev.EventAction != tt.action || ev.DedupKey != "edge-1-42" || ev.RoutingKey != routingKey {
				t.Fatalf("event %+v", ev)
			}
			if tt.action != "trigger" {
				if ev.Payload != nil || ev.Links != nil {
					t.Fatalf("%s carries a payload or links", tt.action)
				}
				return
			}
			p := ev.Payload
			if p.Severity != tt.severity || p.Source != "edge-1.example.com" || p.Component != "api-health" ||
				p.Group != "api" || p.Class != "http" || p.Timestamp == "" || ev.Client != "pulse" {
				t.Fatalf("payload %+v", p)
			}
			if !strings.HasPrefix(p.Summary, "[P1] api-health crit: status 503, expected 200") {
				t.Fatalf("summary %q", p.Summary)
			}
			d := p.CustomDetails
			if d.State != "crit" || d.IncidentID != 42 || d.Value == nil || *d.Value != 503 || d.Runbook == "" || d.Message == "" {
				t.Fatalf("custom details %+v", d)
			}
			if len(ev.Links) != 1 || ev.Links[0].Href != notifytest.Check().Runbook || ev.Links[0].Text != "Runbook" {
				t.Fatalf("links %+v", ev.Links)
			}
		})
	}
}

func TestSeverities(t *testing.T) {
	for sev, want := range map[string]string{"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"} {
		it := notifytest.Item(alert.DeliverOpened)
		it.Incident.Severity = sev
		events, err := Events(notifytest.Message(it), routingKey, notifytest.Options(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := events[0].Payload.Severity; got != want {
			t.Errorf("%s → %q, want %q", sev, got, want)
		}
	}
}

func TestLimits(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Incident.Message = strings.Repeat("é", 3000) // 2 bytes each: the cut falls inside runes
	it.Incident.Key = strings.Repeat("k", 300)
	events, err := Events(notifytest.Message(it), routingKey, notifytest.Options(nil))
	if err != nil {
		t.Fatal(err)
	}
	sum := events[0].Payload.Summary
	if len(sum) > maxSummary || !utf8.ValidString(sum) || !strings.HasSuffix(sum, "…") {
		t.Fatalf("summary of %d bytes, valid UTF-8 %v", len(sum), utf8.ValidString(sum))
	}
	key := events[0].DedupKey
	if len(key) > maxDedupKey {
		t.Fatalf("dedup key of %d bytes", len(key))
	}
	// The resolve must carry the same key as the trigger.
	it.Event = alert.DeliverResolved
	again, _ := Events(notifytest.Message(it), routingKey, notifytest.Options(nil))
	if again[0].DedupKey != key {
		t.Fatalf("resolve key %q differs from trigger key %q", again[0].DedupKey, key)
	}
	other := it
	other.Incident.Key = strings.Repeat("k", 299) + "j"
	third, _ := Events(notifytest.Message(other), routingKey, notifytest.Options(nil))
	if third[0].DedupKey == key {
		t.Fatal("two long keys sharing a prefix hashed to the same dedup key")
	}
}

func TestSend(t *testing.T) {
	rcv, srv := newReceiver(t, nil)
	n := newNotifier(t, srv.URL+"/v2/enqueue", notifytest.Options(nil))
	batch := notifytest.Batch(200)
	msg := notifytest.Message(append(batch, notifytest.Item(alert.DeliverAcknowledged))...)
	if err := n.Send(context.Background(), msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := rcv.got()
	if len(got) != 201 {
		t.Fatalf("receiver got %d events, want 201 (one per item)", len(got))
	}
	// Sent in the message's order.
	for i, ev := range got[:200] {
		if ev["dedup_key"] != batch[i].Incident.Key {
			t.Fatalf("event %d has dedup_key %v, want %s", i, ev["dedup_key"], batch[i].Incident.Key)
		}
	}
	if got[200]["event_action"] != "acknowledge" {
		t.Fatalf("last event %v", got[200])
	}
}

func TestSendTestMessage(t *testing.T) {
	rcv, srv := newReceiver(t, nil)
	n := newNotifier(t, srv.URL+"/v2/enqueue", notifytest.Options(nil))
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
	got := rcv.got()
	if len(got) != 2 || got[0]["event_action"] != "trigger" || got[1]["event_action"] != "resolve" ||
		got[0]["dedup_key"] != got[1]["dedup_key"] {
		t.Fatalf("test sent %v, want a trigger then its resolve", got)
	}
	p := got[0]["payload"].(map[string]any)
	if p["summary"] != "pulse test notification from edge-1.example.com" || p["severity"] != "info" {
		t.Fatalf("test payload %v", p)
	}
}

func TestRetryClassification(t *testing.T) {
	notifytest.Answers(t, "", []notifytest.Answer{
		{Name: "503", Status: 503, Body: "upstream unavailable", Retryable: true, Answer: "upstream unavailable"},
		{Name: "429 retry-after seconds", Status: 429, Header: map[string]string{"Retry-After": "7"}, Retryable: true, RetryAfter: 7 * time.Second},
		{Name: "429 retry-after date", Status: 429,
			Header:    map[string]string{"Retry-After": notifytest.Now().Add(30 * time.Second).Format(http.TimeFormat)},
			Retryable: true, RetryAfter: 30 * time.Second},
		{Name: "400 permanent", Status: 400,
			Body:   `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}`,
			Answer: `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}`},
		{Name: "200 is not 202", Status: 200, Body: "ok", Answer: "ok"},
	}, func(t *testing.T, answer func(w http.ResponseWriter)) error {
		_, srv := newReceiver(t, func(_ int, _ map[string]any, w http.ResponseWriter) { answer(w) })
		n := newNotifier(t, srv.URL+"/v2/enqueue", notifytest.Options(nil))
		return n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
	})
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		n := newNotifier(t, "http://"+addr+"/v2/enqueue", notifytest.Options(nil))
		err = n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
		if err == nil || !notify.Retryable(err) {
			t.Fatalf("connection refused: %v, want a retryable error", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := notifytest.StalledServer(t)
		n, err := New(Config{Name: "oncall", RoutingKey: routingKey, URL: config.Secret(srv.URL), Timeout: 50 * time.Millisecond}, notifytest.Options(nil))
		if err != nil {
			t.Fatal(err)
		}
		err = n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
		if !notify.Retryable(err) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("timeout: %v, want retryable and DeadlineExceeded", err)
		}
	})
}

// A retryable failure stops the batch at once (the whole message will be
// retried); a permanent one lets the other items through.
func TestSendStops(t *testing.T) {
	items := []notify.Item{notifytest.Item(alert.DeliverOpened), notifytest.Item(alert.DeliverResolved)}
	tests := []struct {
		name      string
		first     int
		requests  int
		retryable bool
	}{
		{"retryable first", 503, 1, true},
		{"permanent first", 400, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv, srv := newReceiver(t, func(n int, _ map[string]any, w http.ResponseWriter) {
				if n == 1 {
					w.WriteHeader(tt.first)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			n := newNotifier(t, srv.URL+"/v2/enqueue", notifytest.Options(nil))
			err := n.Send(context.Background(), notifytest.Message(items...))
			if err == nil || notify.Retryable(err) != tt.retryable {
				t.Fatalf("err %v, want retryable=%v", err, tt.retryable)
			}
			if got := len(rcv.got()); got != tt.requests {
				t.Fatalf("%d requests, want %d", got, tt.requests)
			}
		})
	}
}

func TestNoSecretLeaks(t *testing.T) {
	const pathToken = "s3cr3t-path-token"
	tests := []struct {
		name   string
		url    func(t *testing.T) string
		answer func(w http.ResponseWriter, body []byte)
	}{
		{"answer echoes the request", nil, func(w http.ResponseWriter, body []byte) {
			w.WriteHeader(400)
			_, _ = w.Write(body) // a receiver that echoes what it got
		}},
		{"5xx echoes the request", nil, func(w http.ResponseWriter, body []byte) {
			w.WriteHeader(502)
			_, _ = w.Write(body)
		}},
		{"connection refused", func(t *testing.T) string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			return "http://" + l.Addr().String() + "/" + pathToken
		}, nil},
		{"bad url", func(*testing.T) string { return "http://[::1" + pathToken }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := ""
			if tt.url != nil {
				url = tt.url(t)
			} else {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					tt.answer(w, b)
				}))
				t.Cleanup(srv.Close)
				url = srv.URL + "/" + pathToken
			}
			log, buf := notifytest.Logger()
			n := newNotifier(t, url, notifytest.Options(log))
			err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			if err == nil {
				t.Fatal("send succeeded")
			}
			notifytest.NoSecret(t, err, buf.String(), routingKey, pathToken)
		})
	}
}

func TestDigestRefused(t *testing.T) {
	rcv, srv := newReceiver(t, nil)
	n := newNotifier(t, srv.URL+"/v2/enqueue", notifytest.Options(nil))
	err := n.Send(context.Background(), notifytest.Digest())
	if err == nil || notify.Retryable(err) {
		t.Fatalf("digest: %v, want a permanent error", err)
	}
	if len(rcv.got()) != 0 {
		t.Fatal("digest was posted")
	}
}

// TestConfigFrom: ConfigFrom trusts the validated table; New still
// refuses a Config without a routing key.
func TestConfigFrom(t *testing.T) {
	if _, err := New(ConfigFrom(&config.Notifier{Name: "oncall", Type: "pagerduty"}), notify.Options{}); err == nil {
		t.Fatal("missing routing_key accepted")
	}
	c := ConfigFrom(&config.Notifier{Name: "oncall", Type: "pagerduty", RoutingKey: routingKey, Timeout: config.Duration(time.Second)})
	if c.RoutingKey.Reveal() != routingKey || c.Timeout != time.Second {
		t.Fatalf("%+v", c)
	}
}
