package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

// Another agent (here a plain Store on the same schema, as another process
// would open it) commits an outbox row to a channel this agent holds: the
// outbox listener wakes this agent's dispatcher, which would otherwise
// sleep until the next due row (an hour when none is). The budget
// from commit to send is 50 ms; the bound asserted here is generous so a
// loaded CI machine does not flake: BenchmarkOutboxWakeLatency in
// pkg/store measures the wake itself.
func TestOutboxRowOfAnotherAgentLeavesAtOnce(t *testing.T) {
	target := storetest.PostgresURL(t)
	got := make(chan time.Time, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- time.Now()
	}))
	defer recv.Close()
	cfg := loadConfig(t, fmt.Sprintf(`[agent]
name = "holder"
store = %q
[[check]]
name = "api"
type = "tcp"
address = "127.0.0.1:1"
interval = "1h"
[[notifier]]
name = "hook"
type = "webhook"
url = %q
`, target, recv.URL))
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if a.cl == nil {
		t.Fatal("agent on PostgreSQL is not clustered")
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.store.Start(ctx)
	memberDone, incDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(memberDone); a.runMember(ctx) }()
	go func() { defer close(incDone); a.inc.run(ctx) }()
	defer func() { cancel(); <-memberDone; <-incDone; a.close() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := a.cl.OwnsChannel("hook"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent holds no lease on channel hook after 10s")
		}
	}

	other, err := store.Open(target, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.Start(ctx)
	var lat []time.Duration
	for i := range 5 {
		committed := make(chan time.Time, 1)
		now := time.Now()
		err := other.Submit(store.Record{Apply: func(tx store.Tx) error {
			_, err := tx.Enqueue(store.OutboxEntry{Notifier: "hook", DueAt: now,
				Item: notify.Item{Event: "opened", At: now, Incident: notify.Incident{ID: int64(i + 1)}}})
			return err
		}, Done: func(err error) {
			if err != nil {
				t.Error(err)
			}
			committed <- time.Now()
		}})
		if err != nil {
			t.Fatal(err)
		}
		at := <-committed
		select {
		case sent := <-got:
			lat = append(lat, max(sent.Sub(at), 0))
		case <-time.After(2 * time.Second):
			t.Fatalf("row %d committed by another process not sent within 2s", i+1)
		}
	}
	t.Logf("commit → webhook received: %v", lat)
	slices.Sort(lat)
	t.Logf("median %v, max %v (budget 50ms)", lat[len(lat)/2], lat[len(lat)-1])
}
