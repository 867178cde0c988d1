package agent

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/server"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// A P1 incident's webhook carries incident.ack_url; POSTing it to the
// listener acknowledges the incident the way `pulse ack` does.
func TestAckLinkEndToEnd(t *testing.T) {
	payloads := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		payloads <- b
	}))
	defer recv.Close()

	keyFile := filepath.Join(t.TempDir(), "pulse.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, fmt.Sprintf(`[agent]
name = "ack"
database = "pulse.db"
listen = "127.0.0.1:9108" # not bound: New does not listen
public_url = "https://status.example.com/pulse/"
secret_file = %q
[[check]]
name = "api"
type = "tcp"
address = "127.0.0.1:1"
interval = "1h"
severity = "P1"
fail_after = 1
[[notifier]]
name = "hook"
type = "webhook"
url = %q
[escalation.P1]
notify = ["hook"]
within = "0s"
`, keyFile, recv.URL))
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ctx, cancel := context.WithCancel(context.Background())
	a.store.Start(ctx)
	done := make(chan struct{})
	go func() { defer close(done); a.inc.run(ctx) }()
	defer func() { cancel(); <-done }()

	rt := a.lookup("api")
	now := time.Now()
	res := checks.Result{Check: "api", Start: now, State: checks.Crit, Message: "connection refused"}
	rt.mu.Lock()
	next, events := alert.Evaluate(rt.state, res, *rt.policy, now)
	rt.state = next
	rt.mu.Unlock()
	stored := make(chan error, 1)
	if err := a.store.Submit(store.Record{Result: res, Apply: a.inc.apply(rt, res, events, now),
		Done: func(err error) { stored <- err }}); err != nil {
		t.Fatal(err)
	}
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Event    string `json:"event"`
		Incident struct {
			ID     int64  `json:"id"`
			AckURL string `json:"ack_url"`
		} `json:"incident"`
	}
	select {
	case b := <-payloads:
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("payload %s: %v", b, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook within 5s")
	}
	if doc.Event != "opened" || doc.Incident.ID != 1 {
		t.Fatalf("payload: %+v", doc)
	}
	u, err := url.Parse(doc.Incident.AckURL)
	if err != nil || u.Scheme != "https" || u.Host != "status.example.com" || !strings.HasPrefix(u.Path, "/pulse/ack/") {
		t.Fatalf("ack_url = %q", doc.Incident.AckURL)
	}

	srv := server.New(server.Options{Store: a.store, Config: func() *config.Config { return cfg }})
	path := strings.TrimPrefix(u.Path, "/pulse")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if inc, _ := a.store.Incident(context.Background(), 1); rec.Code != 200 || inc.Status != store.StatusOpen {
		t.Fatalf("GET = %d, incident %q: GET must show, not acknowledge", rec.Code, inc.Status)
	}
	req := httptest.NewRequest("POST", path, strings.NewReader("by=alice"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	inc, err := a.store.Incident(context.Background(), 1)
	if err != nil || rec.Code != 200 || inc.Status != store.StatusAcknowledged || inc.AckedBy != "alice" {
		t.Fatalf("POST = %d; incident %q by %q, %v; want acknowledged by alice", rec.Code, inc.Status, inc.AckedBy, err)
	}
}
