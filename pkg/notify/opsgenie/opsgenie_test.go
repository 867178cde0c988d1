package opsgenie

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
	"unicode/utf8"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/httpx"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

const apiKey = "eb243592-faa2-4ba2-a551-1afdf565c889"

// call is one request the stand-in received.
type call struct {
	method, path, rawQuery, escapedPath string
	header                              http.Header
	body                                map[string]any
}

// receiver is an Alert API stand-in: it answers 202 with a requestId as
// Opsgenie does, unless answer says otherwise.
type receiver struct {
	t      *testing.T
	answer func(n int, c call, w http.ResponseWriter)

	mu    sync.Mutex
	calls []call
}

func newReceiver(t *testing.T, answer func(n int, c call, w http.ResponseWriter)) (*receiver, *httptest.Server) {
	r := &receiver{t: t, answer: answer}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	c := call{method: req.Method, path: req.URL.Path, rawQuery: req.URL.RawQuery,
		escapedPath: req.URL.EscapedPath(), header: req.Header.Clone()}
	if err := json.Unmarshal(b, &c.body); err != nil {
		r.t.Errorf("body is not a JSON object: %v: %s", err, b)
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	n := len(r.calls)
	r.mu.Unlock()
	if r.answer != nil {
		r.answer(n, c, w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}`)
}

func (r *receiver) got() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func newNotifier(t *testing.T, url, team string, opts notify.Options) *Notifier {
	t.Helper()
	n, err := New(Config{Name: "genie", APIKey: apiKey, URL: url, Team: team, Timeout: 2 * time.Second}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGolden: the exact request lines and bodies of each kind of message.
func TestGolden(t *testing.T) {
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
			reqs, err := Requests(tt.msg, "sre", notifytest.Options(nil))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			for _, r := range reqs {
				b, err := httpx.JSON(r.Body)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&out, "%s %s\n", r.Method(), r.Path())
				if err := json.Indent(&out, b, "", "  "); err != nil {
					t.Fatal(err)
				}
				out.WriteByte('\n')
			}
			notifytest.Golden(t, tt.name+".json", out.Bytes())
		})
	}
}

// TestCreateFields checks a create body field by field against the Create
// Alert fields of the Alert API.
func TestCreateFields(t *testing.T) {
	for _, event := range []string{alert.DeliverOpened, alert.DeliverRaised, alert.DeliverReminder,
		alert.DeliverEscalated, alert.DeliverFlapping} {
		t.Run(event, func(t *testing.T) {
			reqs, err := Requests(notifytest.Message(notifytest.Item(event)), "sre", notifytest.Options(nil))
			if err != nil {
				t.Fatal(err)
			}
			count := 1
			if event == alert.DeliverRaised {
				// A deduplicated create keeps the old priority: the
				// raise is a priority update after it.
				count = 2
				p := reqs[len(reqs)-1]
				if p.Action != ActionPriority || p.Method() != http.MethodPut ||
					p.Path() != "/v2/alerts/edge-1-42/priority?identifierType=alias" || *p.Body.(*Priority) != (Priority{Priority: "P1"}) {
					t.Fatalf("priority update %+v %+v", p, p.Body)
				}
			}
			if len(reqs) != count || reqs[0].Action != ActionCreate || reqs[0].Method() != http.MethodPost || reqs[0].Path() != "/v2/alerts" {
				t.Fatalf("requests %+v", reqs)
			}
			a := reqs[0].Body.(*Alert)
			if a.Alias != "edge-1-42" || reqs[0].Alias != "edge-1-42" {
				t.Fatalf("alias %q, want the incident key edge-1-42", a.Alias)
			}
			if !strings.HasPrefix(a.Message, "[P1] api-health crit: status 503") || len(a.Message) > maxMessage {
				t.Fatalf("message %q", a.Message)
			}
			if event == alert.DeliverFlapping && !strings.HasSuffix(a.Message, "(flapping)") {
				t.Fatalf("flapping message %q", a.Message)
			}
			if a.Priority != "P1" || a.Source != "edge-1.example.com" || a.Entity != "api-health" || a.User != "pulse" {
				t.Fatalf("alert %+v", a)
			}
			if !strings.Contains(a.Description, "status 503, expected 200 <html> & more") ||
				!strings.Contains(a.Description, "Runbook: "+notifytest.Check().Runbook) {
				t.Fatalf("description %q", a.Description)
			}
			if strings.Join(a.Tags, ",") != "api,infrastructure" {
				t.Fatalf("tags %v", a.Tags)
			}
			if len(a.Responders) != 1 || a.Responders[0] != (Responder{Name: "sre", Type: "team"}) {
				t.Fatalf("responders %+v", a.Responders)
			}
			want := map[string]string{
				"event": event, "severity": "P1", "state": "crit", "check": "api-health", "check_type": "http",
				"incident_id": "42", "agent": "edge-1", "value": "503", "opened_at": "2026-11-25T10:00:00Z",
				"runbook": notifytest.Check().Runbook,
			}
			for k, v := range want {
				if a.Details[k] != v {
					t.Errorf("details[%s] = %q, want %q", k, a.Details[k], v)
				}
			}
			if len(a.Details) != len(want) {
				t.Errorf("details %v", a.Details)
			}
		})
	}
	// Without a team, no responders: the API integration's own team gets
	// the alert.
	reqs, _ := Requests(notifytest.Message(notifytest.Item(alert.DeliverOpened)), "", notifytest.Options(nil))
	if b, _ := httpx.JSON(reqs[0].Body); strings.Contains(string(b), "responders") {
		t.Fatalf("responders without a team: %s", b)
	}
}

// TestActionFields: acknowledge and close address the alert by alias,
// escaped, with identifierType=alias.
func TestActionFields(t *testing.T) {
	tests := []struct {
		event, action, user, note string
	}{
		{alert.DeliverAcknowledged, ActionAcknowledge, "alice", "looking into it"},
		{alert.DeliverResolved, ActionClose, "pulse", "resolved by pulse after 12m"},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			reqs, err := Requests(notifytest.Message(notifytest.Item(tt.event)), "sre", notifytest.Options(nil))
			if err != nil {
				t.Fatal(err)
			}
			r := reqs[0]
			if len(reqs) != 1 || r.Action != tt.action || r.Alias != "edge-1-42" {
				t.Fatalf("requests %+v", reqs)
			}
			if want := "/v2/alerts/edge-1-42/" + tt.action + "?identifierType=alias"; r.Path() != want {
				t.Fatalf("path %q, want %q", r.Path(), want)
			}
			a := r.Body.(*Action)
			if *a != (Action{User: tt.user, Source: "edge-1.example.com", Note: tt.note}) {
				t.Fatalf("body %+v", a)
			}
		})
	}
	it := notifytest.Item(alert.DeliverResolved)
	it.Incident.Key = "edge 1/42?x=#"
	reqs, _ := Requests(notifytest.Message(it), "", notifytest.Options(nil))
	if got, want := reqs[0].Path(), "/v2/alerts/edge%201%2F42%3Fx=%23/close?identifierType=alias"; got != want {
		t.Fatalf("path %q, want %q", got, want)
	}
}

func TestPriorities(t *testing.T) {
	for sev, want := range map[string]string{"P1": "P1", "P2": "P2", "P3": "P3", "P4": "P4", "": "P3", "X": "P3"} {
		it := notifytest.Item(alert.DeliverOpened)
		it.Incident.Severity = sev
		reqs, err := Requests(notifytest.Message(it), "", notifytest.Options(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := reqs[0].Body.(*Alert).Priority; got != want {
			t.Errorf("%q → %q, want %q", sev, got, want)
		}
	}
}

// TestLimits: every field stays within the API's limits, cut on UTF-8
// boundaries, and a long alias stays one per incident.
func TestLimits(t *testing.T) {
	it := notifytest.Item(alert.DeliverOpened)
	it.Incident.Message = strings.Repeat("é", 10000) // 2 bytes each: cuts fall inside runes
	it.Incident.Key = strings.Repeat("k", 600)
	it.Check.Name = strings.Repeat("n", 600)
	it.Check.Runbook = "https://runbooks.example.com/" + strings.Repeat("r", 9000)
	it.Note = strings.Repeat("n", 30000)
	for i := range 30 {
		it.Check.Tags = append(it.Check.Tags, fmt.Sprintf("tag-%d-%s", i, strings.Repeat("t", 60)))
	}
	m := notifytest.Message(it)
	m.Source = strings.Repeat("s", 200)
	reqs, err := Requests(m, "", notifytest.Options(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := reqs[0].Body.(*Alert)
	for name, f := range map[string]struct {
		s   string
		max int
	}{
		"message": {a.Message, maxMessage}, "alias": {a.Alias, maxAlias}, "description": {a.Description, maxDescription},
		"entity": {a.Entity, maxEntity}, "source": {a.Source, maxSource}, "note": {a.Note, maxNote},
	} {
		if len(f.s) > f.max || !utf8.ValidString(f.s) {
			t.Errorf("%s: %d bytes (max %d), valid UTF-8 %v", name, len(f.s), f.max, utf8.ValidString(f.s))
		}
	}
	if len(a.Tags) != maxTags {
		t.Errorf("%d tags", len(a.Tags))
	}
	for _, tag := range a.Tags {
		if len(tag) > maxTag {
			t.Errorf("tag of %d bytes", len(tag))
		}
	}
	total := 0
	for k, v := range a.Details {
		total += len(k) + len(v)
	}
	if total > maxDetails {
		t.Errorf("details of %d bytes", total)
	}
	// The close must name the alert the create opened; another long key
	// sharing the prefix must not.
	it.Event = alert.DeliverResolved
	again, _ := Requests(notifytest.Message(it), "", notifytest.Options(nil))
	if again[0].Alias != a.Alias {
		t.Fatalf("close alias %q differs from create alias %q", again[0].Alias, a.Alias)
	}
	other := it
	other.Incident.Key = strings.Repeat("k", 599) + "j"
	third, _ := Requests(notifytest.Message(other), "", notifytest.Options(nil))
	if third[0].Alias == a.Alias {
		t.Fatal("two long keys sharing a prefix got the same alias")
	}
}

// TestSend: over HTTP, each item is one call with the GenieKey header, the
// JSON content type, and the method and path of its action.
func TestSend(t *testing.T) {
	rcv, srv := newReceiver(t, nil)
	n := newNotifier(t, srv.URL+"/", "", notifytest.Options(nil)) // a trailing slash is tolerated
	batch := notifytest.Batch(50)
	items := append(batch, notifytest.Item(alert.DeliverAcknowledged))
	if err := n.Send(context.Background(), notifytest.Message(items...)); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := rcv.got()
	if len(got) != len(items) {
		t.Fatalf("receiver got %d calls, want %d (one per item)", len(got), len(items))
	}
	for i, c := range got {
		if c.method != http.MethodPost {
			t.Errorf("call %d: method %s", i, c.method)
		}
		if h := c.header.Get("Authorization"); h != "GenieKey "+apiKey {
			t.Errorf("call %d: Authorization %q", i, h)
		}
		if ct := c.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("call %d: Content-Type %q", i, ct)
		}
		it := items[i]
		switch it.Event {
		case alert.DeliverResolved:
			if c.path != "/v2/alerts/"+it.Incident.Key+"/close" || c.rawQuery != "identifierType=alias" {
				t.Errorf("call %d: %s?%s, want the close of %s", i, c.path, c.rawQuery, it.Incident.Key)
			}
		case alert.DeliverAcknowledged:
			if c.path != "/v2/alerts/edge-1-42/acknowledge" || c.rawQuery != "identifierType=alias" ||
				c.body["user"] != "alice" || c.body["note"] != "looking into it" {
				t.Errorf("call %d: %s?%s %v", i, c.path, c.rawQuery, c.body)
			}
		default:
			if c.path != "/v2/alerts" || c.rawQuery != "" || c.body["alias"] != it.Incident.Key ||
				c.body["priority"] != it.Incident.Severity {
				t.Errorf("call %d: %s %v", i, c.path, c.body)
			}
		}
	}
	// A raise is the create, then a PUT of the priority.
	raised := notifytest.Item(alert.DeliverRaised)
	raised.Incident.Severity = "P2"
	before := len(rcv.got())
	if err := n.Send(context.Background(), notifytest.Message(raised)); err != nil {
		t.Fatal(err)
	}
	calls := rcv.got()[before:]
	if len(calls) != 2 || calls[0].method != http.MethodPost || calls[0].body["priority"] != "P2" ||
		calls[1].method != http.MethodPut || calls[1].path != "/v2/alerts/edge-1-42/priority" ||
		calls[1].rawQuery != "identifierType=alias" || calls[1].body["priority"] != "P2" ||
		calls[1].header.Get("Authorization") != "GenieKey "+apiKey {
		t.Fatalf("raise sent %+v", calls)
	}
	got = rcv.got()

	// The alias reaches the server escaped, as one path segment.
	it := notifytest.Item(alert.DeliverAcknowledged)
	it.Incident.Key = "edge-1/42 ?"
	if err := n.Send(context.Background(), notifytest.Message(it)); err != nil {
		t.Fatal(err)
	}
	last := rcv.got()[len(got)]
	if last.escapedPath != "/v2/alerts/edge-1%2F42%20%3F/acknowledge" || last.rawQuery != "identifierType=alias" {
		t.Fatalf("escaped path %q query %q", last.escapedPath, last.rawQuery)
	}
}

func TestSendTestMessage(t *testing.T) {
	rcv, srv := newReceiver(t, nil)
	n := newNotifier(t, srv.URL, "sre", notifytest.Options(nil))
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
	got := rcv.got()
	if len(got) != 2 || got[0].path != "/v2/alerts" || got[1].path != "/v2/alerts/edge-1-test/close" {
		t.Fatalf("test sent %+v, want a create then its close", got)
	}
	b := got[0].body
	if b["message"] != "pulse test notification from edge-1.example.com" || b["priority"] != "P5" ||
		b["alias"] != "edge-1-test" || b["entity"] != "pulse" {
		t.Fatalf("test alert %v", b)
	}
}

// TestRetryClassification follows Opsgenie's documented answers
// (docs/response): 202 accepted; 429 (rate limited) and 5xx retry; 400,
// 401, 402, 403, 404, 422 are the request's, key's or plan's fault and are
// not retried.
func TestRetryClassification(t *testing.T) {
	answers := []notifytest.Answer{
		{Name: "500", Status: 500, Body: `{"message":"Internal Server Error"}`, Retryable: true},
		{Name: "503", Status: 503, Retryable: true},
		{Name: "429", Status: 429, Body: `{"message":"Request limit exceeded"}`, Retryable: true},
		{Name: "429 retry-after", Status: 429, Header: map[string]string{"Retry-After": "7"}, Retryable: true, RetryAfter: 7 * time.Second},
		{Name: "400", Status: 400, Body: `{"message":"Request body is not processable"}`},
		{Name: "401", Status: 401, Body: `{"message":"Could not authenticate","took":0.0,"requestId":"x"}`},
		{Name: "402", Status: 402, Body: `{"message":"plan does not allow this"}`},
		{Name: "403", Status: 403, Body: `{"message":"Key has no access to create alerts"}`},
		{Name: "404", Status: 404},
		{Name: "422", Status: 422, Body: `{"message":"Request body is not processable","errors":{"message":"Message can not be empty."}}`},
		{Name: "200 is not 202", Status: 200, Body: "ok"},
	}
	for _, event := range []string{alert.DeliverOpened, alert.DeliverAcknowledged, alert.DeliverResolved} {
		t.Run(event, func(t *testing.T) {
			notifytest.Answers(t, "", answers, func(t *testing.T, answer func(w http.ResponseWriter)) error {
				_, srv := newReceiver(t, func(_ int, _ call, w http.ResponseWriter) { answer(w) })
				n := newNotifier(t, srv.URL, "", notifytest.Options(nil))
				return n.Send(context.Background(), notifytest.Message(notifytest.Item(event)))
			})
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		n := newNotifier(t, "http://"+addr, "", notifytest.Options(nil))
		err = n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
		if err == nil || !notify.Retryable(err) {
			t.Fatalf("connection refused: %v, want a retryable error", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		srv := notifytest.StalledServer(t)
		n, err := New(Config{Name: "genie", APIKey: apiKey, URL: srv.URL, Timeout: 50 * time.Millisecond}, notifytest.Options(nil))
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
		{"permanent first", 422, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv, srv := newReceiver(t, func(n int, _ call, w http.ResponseWriter) {
				if n == 1 {
					w.WriteHeader(tt.first)
					return
				}
				w.WriteHeader(http.StatusAccepted)
			})
			n := newNotifier(t, srv.URL, "", notifytest.Options(nil))
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

// TestNoSecretLeaks: the key never shows in errors, answers or logs, even
// when the receiver echoes the request's headers back.
func TestNoSecretLeaks(t *testing.T) {
	echo := func(status int) func(w http.ResponseWriter, r *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "Authorization: "+r.Header.Get("Authorization")+" key="+
				strings.TrimPrefix(r.Header.Get("Authorization"), "GenieKey "))
		}
	}
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		url     string
	}{
		{name: "401 echoes the key", handler: echo(401)},
		{name: "502 echoes the key", handler: echo(502)},
		{name: "connection refused", url: func() string {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			return "http://" + l.Addr().String()
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if tt.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(tt.handler))
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			log, buf := notifytest.Logger()
			n := newNotifier(t, url, "", notifytest.Options(log))
			for _, event := range []string{alert.DeliverOpened, alert.DeliverAcknowledged, alert.DeliverResolved} {
				err := n.Send(context.Background(), notifytest.Message(notifytest.Item(event)))
				if err == nil {
					t.Fatal("send succeeded")
				}
				notifytest.NoSecret(t, err, buf.String(), apiKey)
			}
		})
	}
	// A successful send logs nothing secret either.
	_, srv := newReceiver(t, nil)
	log, buf := notifytest.Logger()
	n := newNotifier(t, srv.URL, "", notifytest.Options(log))
	if err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened))); err != nil {
		t.Fatal(err)
	}
	notifytest.NoSecret(t, nil, buf.String(), apiKey)
	if s := fmt.Sprintf("%v %+v", n.cfg, n.cfg); strings.Contains(s, apiKey) {
		t.Fatalf("config prints the key: %s", s)
	}
}

func TestDigestRefused(t *testing.T) {
	rcv, srv := newReceiver(t, nil)
	n := newNotifier(t, srv.URL, "", notifytest.Options(nil))
	err := n.Send(context.Background(), notifytest.Digest())
	if err == nil || notify.Retryable(err) {
		t.Fatalf("digest: %v, want a permanent error", err)
	}
	if len(rcv.got()) != 0 {
		t.Fatal("digest was posted")
	}
}

// TestConfigFrom: ConfigFrom trusts the validated table; New still refuses
// a Config without a key, and the default URL is the US instance.
func TestConfigFrom(t *testing.T) {
	if _, err := New(ConfigFrom(&config.Notifier{Name: "genie", Type: "opsgenie"}), notify.Options{}); err == nil {
		t.Fatal("missing api_key accepted")
	}
	c := ConfigFrom(&config.Notifier{Name: "genie", Type: "opsgenie", APIKey: apiKey, APIURL: EUURL, Team: "sre",
		Timeout: config.Duration(time.Second)})
	if c.APIKey.Reveal() != apiKey || c.URL != EUURL || c.Team != "sre" || c.Timeout != time.Second {
		t.Fatalf("%+v", c)
	}
	n, err := New(Config{Name: "genie", APIKey: apiKey}, notify.Options{})
	if err != nil || n.base != DefaultURL {
		t.Fatalf("base %q, err %v", n.base, err)
	}
}
