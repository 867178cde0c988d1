package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// `pulse incidents update ID --status resolved` from another process
// resolves the incident as `pulse resolve` does: the agent sends the
// resolve to the channels told of the opening.
func TestResolvedUpdateSendsTheResolve(t *testing.T) {
	payloads := make(chan []byte, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		payloads <- b
	}))
	defer recv.Close()
	cfg := loadConfig(t, fmt.Sprintf(`[agent]
name = "upd"
database = "pulse.db"
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
`, recv.URL))
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
	event := func() string {
		t.Helper()
		var doc struct {
			Event    string `json:"event"`
			Incident struct {
				ID int64 `json:"id"`
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
		if doc.Incident.ID != 1 {
			t.Fatalf("incident %d", doc.Incident.ID)
		}
		return doc.Event
	}
	if ev := event(); ev != "opened" {
		t.Fatalf("first webhook: %q", ev)
	}

	cli, err := store.Open(cfg.Agent.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.AddUpdate(context.Background(), store.Update{IncidentID: 1, Status: "resolved", Message: "fixed", Public: true, Author: "alice"}); err != nil {
		t.Fatal(err)
	}
	if ev := event(); ev != "resolved" {
		t.Fatalf("after the resolved update: %q", ev)
	}
	inc, err := cli.Incident(context.Background(), 1)
	if err != nil || inc.Status != store.StatusResolved || inc.ResolvedBy != "alice" {
		t.Fatalf("incident = %+v, %v", inc, err)
	}
}
