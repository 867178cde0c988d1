package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

// receiver records every request it gets and answers status.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	hdrs   []http.Header
	status int
	retry  string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.hdrs = append(r.hdrs, req.Header.Clone())
	status, retry := r.status, r.retry
	r.mu.Unlock()
	if req.Method != http.MethodPost {
		status = http.StatusMethodNotAllowed
	}
	if retry != "" {
		w.Header().Set("Retry-After", retry)
	}
	w.WriteHeader(status)
	io.WriteString(w, `{"error":"nope"}`)
}

// newNotifier returns a webhook notifier for url and the buffer its logs go to.
func newNotifier(t *testing.T, url string) (*Notifier, *notifytest.LogBuffer) {
	t.Helper()
	log, buf := notifytest.Logger()
	n, err := New(Config{Name: "hook", URL: config.Secret(url), Timeout: 2 * time.Second,
		Headers: map[string]config.Secret{"Authorization": "Bearer s3cr3t-token"}}, notifytest.Options(log))
	if err != nil {
		t.Fatal(err)
	}
	return n, buf
}

func TestPayloadGolden(t *testing.T) {
	docs, err := Payloads(notifytest.Message(notifytest.Item(alert.DeliverOpened), notifytest.Item(alert.DeliverResolved)))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, d := range docs {
		var v any
		if err := json.Unmarshal(d, &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(v, "", "  ")
		out.Write(b)
		out.WriteString("\n")
	}
	notifytest.Golden(t, "payloads.json", []byte(out.String()))
}

func TestSendPostsOneDocumentPerItemWithHeaders(t *testing.T) {
	rc := &receiver{status: 204}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n, _ := newNotifier(t, srv.URL+"/pulse")
	m := notifytest.Message(notifytest.Item(alert.DeliverOpened), notifytest.Item(alert.DeliverAcknowledged))
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(rc.bodies) != 2 {
		t.Fatalf("receiver got %d requests, want 2", len(rc.bodies))
	}
	for i, want := range []string{"opened", "acknowledged"} {
		var p struct {
			Version  int             `json:"version"`
			Event    string          `json:"event"`
			Incident notify.Incident `json:"incident"`
			Check    notify.Check    `json:"check"`
		}
		if err := json.Unmarshal(rc.bodies[i], &p); err != nil {
			t.Fatalf("document %d is not JSON: %v", i, err)
		}
		if p.Version != 1 || p.Event != want {
			t.Errorf("document %d: version %d event %q, want 1 %q", i, p.Version, p.Event, want)
		}
		it := m.Items[i]
		if p.Incident.ID != it.Incident.ID || p.Incident.Key != it.Incident.Key || p.Incident.Severity != it.Incident.Severity {
			t.Errorf("document %d incident = %+v, want %+v", i, p.Incident, it.Incident)
		}
		if p.Check.Name != it.Check.Name || p.Check.Type != it.Check.Type || p.Check.Runbook != it.Check.Runbook {
			t.Errorf("document %d check = %+v, want %+v", i, p.Check, it.Check)
		}
		h := rc.hdrs[i]
		if h.Get("Authorization") != "Bearer s3cr3t-token" || h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "pulse" {
			t.Errorf("document %d headers = %v", i, h)
		}
	}
}

func TestSendClassifiesAnswersWithoutLeakingSecrets(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retry      string
		retryable  bool
		retryAfter time.Duration
	}{
		{"server error retries", 503, "", true, 0},
		{"rate limit honours Retry-After", 429, "7", true, 7 * time.Second},
		{"client error is permanent", 400, "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{status: tc.status, retry: tc.retry}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			url := srv.URL + "/hook/secret-path-123"
			n, logs := newNotifier(t, url)
			err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
			if err == nil {
				t.Fatal("send succeeded against a failing receiver")
			}
			if notify.Retryable(err) != tc.retryable {
				t.Errorf("retryable = %v, want %v (%v)", notify.Retryable(err), tc.retryable, err)
			}
			if got := notify.RetryAfter(err); got != tc.retryAfter {
				t.Errorf("retry after = %v, want %v", got, tc.retryAfter)
			}
			notifytest.NoSecret(t, err, logs.String(), url, "secret-path-123", "s3cr3t-token")
		})
	}
}

func TestSendToAClosedPortIsRetryableAndSecretFree(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook/secret-path-123"
	srv.Close()
	n, logs := newNotifier(t, url)
	err := n.Send(context.Background(), notifytest.TestMessage())
	if err == nil || !notify.Retryable(err) {
		t.Fatalf("send to a closed port: %v, want a retryable error", err)
	}
	notifytest.NoSecret(t, err, logs.String(), url, "secret-path-123")
}

// `pulse notify test` sends a document with a line for people and no
// zero-valued incident.
func TestTestDocument(t *testing.T) {
	rc := &receiver{status: 200}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	n, _ := newNotifier(t, srv.URL+"/pulse")
	if err := n.Send(context.Background(), notifytest.TestMessage()); err != nil {
		t.Fatal(err)
	}
	if len(rc.bodies) != 1 {
		t.Fatalf("%d requests, want 1", len(rc.bodies))
	}
	var doc map[string]any
	if err := json.Unmarshal(rc.bodies[0], &doc); err != nil {
		t.Fatal(err)
	}
	if doc["event"] != "test" || doc["text"] != "pulse test notification from edge-1.example.com" || doc["version"] != 1.0 {
		t.Fatalf("test document %v", doc)
	}
	if _, ok := doc["incident"]; ok {
		t.Fatalf("test document carries an incident: %v", doc)
	}
}

// A receiver that quotes the request back (URL, token) must not get the
// secrets into the stored answer.
func TestEchoedSecretsAreRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, "bad credentials "+r.Header.Get("Authorization")+" for "+r.URL.Path+" (token s3cr3t-token)")
	}))
	defer srv.Close()
	url := srv.URL + "/hook/secret-path-123"
	n, logs := newNotifier(t, url)
	err := n.Send(context.Background(), notifytest.Message(notifytest.Item(alert.DeliverOpened)))
	var se *notify.SendError
	if !errors.As(err, &se) || se.Retryable || se.Status != 401 || !strings.Contains(se.Answer, "bad credentials") {
		t.Fatalf("got %#v, want a permanent 401 with the answer", err)
	}
	notifytest.NoSecret(t, err, logs.String(), url, "secret-path-123", "s3cr3t-token", "Bearer s3cr3t-token")
}

func TestAckURLField(t *testing.T) {
	docs, err := Payloads(notifytest.Message(notifytest.Item(alert.DeliverOpened), notifytest.Item(alert.DeliverResolved)))
	if err != nil {
		t.Fatal(err)
	}
	var got []struct {
		Incident map[string]any `json:"incident"`
	}
	for _, d := range docs {
		var v struct {
			Incident map[string]any `json:"incident"`
		}
		if err := json.Unmarshal(d, &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if len(got) != 2 {
		t.Fatalf("%d documents, want 2", len(got))
	}
	if u := got[0].Incident["ack_url"]; u != notifytest.AckURL {
		t.Errorf("opened: incident.ack_url = %v, want %q", u, notifytest.AckURL)
	}
	if u, ok := got[1].Incident["ack_url"]; ok {
		t.Errorf("resolved: incident.ack_url = %v, want it left out", u)
	}
}
