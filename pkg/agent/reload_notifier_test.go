package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// TestReloadDroppingANotifierWithRowsPending: a reload removes a notifier
// while one of its messages is in flight and another is queued behind it.
// The send in flight finishes and is recorded as its receiver answered (it
// is not marked failed under its feet); nothing more goes to the removed
// notifier; the queued row is marked failed once, naming the notifier, and
// nothing stays pending.
func TestReloadDroppingANotifierWithRowsPending(t *testing.T) {
	var requests atomic.Int32
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		started <- struct{}{}
		<-release
	}))
	defer recv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	path := filepath.Join(t.TempDir(), "pulse.toml")
	const checksTOML = `[agent]
database = "pulse.db"
[[check]]
name = "api"
type = "tcp"
address = "127.0.0.1:1"
interval = "1h"
severity = "P1"
fail_after = 1
[[check]]
name = "db"
type = "tcp"
address = "127.0.0.1:1"
interval = "1h"
severity = "P1"
fail_after = 1
`
	cfg := configFile(t, path, checksTOML+fmt.Sprintf(`[[notifier]]
name = "pager"
type = "webhook"
url = %q
timeout = "20s"
[escalation.P1]
notify = ["pager"]
within = "0s"
`, recv.URL))()
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ctx, cancel := context.WithCancel(context.Background())
	a.store.Start(ctx)

	// Two P1 incidents (each sent alone) queued before the dispatcher
	// starts, so that its first round hands both to one sender.
	for _, name := range []string{"api", "db"} {
		rt := a.lookup(name)
		now := time.Now()
		res := checks.Result{Check: name, Start: now, State: checks.Crit, Message: "connection refused"}
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
	}
	done := make(chan struct{})
	go func() { defer close(done); a.inc.run(ctx) }()
	defer func() { cancel(); <-done }()

	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook request within 10s")
	}
	bg := context.Background()
	// status returns the outbox rows' statuses, by status.
	status := func() map[string][]store.OutboxRowInfo {
		t.Helper()
		out := map[string][]store.OutboxRowInfo{}
		for _, id := range []int64{1, 2} {
			rows, err := a.store.IncidentNotifications(bg, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				out[r.Status] = append(out[r.Status], r)
			}
		}
		return out
	}

	// The reload drops "pager" while its first message is in flight.
	if err := a.Reload(bg, configFile(t, path, checksTOML)()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // rounds woken by the reload run meanwhile
	rows := status()
	if len(rows[store.OutboxPending]) != 2 {
		t.Fatalf("while the send is in flight: rows %+v; want both still pending (the one in flight is not given up under its sender)", rows)
	}

	close(release)
	waitFor(t, 10*time.Second, "the outbox to settle", func() bool {
		n, err := a.store.OutboxPending(bg)
		return err == nil && n == 0
	})
	rows = status()
	if len(rows[store.OutboxSent]) != 1 || len(rows[store.OutboxFailed]) != 1 {
		t.Fatalf("rows %+v: want the one in flight sent and the queued one failed", rows)
	}
	sent, failed := rows[store.OutboxSent][0], rows[store.OutboxFailed][0]
	if sent.Attempts != 1 {
		t.Errorf("sent row: %d attempts, want 1", sent.Attempts)
	}
	if !strings.Contains(failed.LastError, `notifier "pager"`) || !strings.Contains(failed.LastError, "no longer configured") {
		t.Errorf("failed row's last_error %q: want it to name the notifier and say it is no longer configured", failed.LastError)
	}
	if failed.Attempts != 1 {
		t.Errorf("failed row: %d attempts, want 1 (given up once)", failed.Attempts)
	}
	time.Sleep(300 * time.Millisecond)
	if n := requests.Load(); n != 1 {
		t.Fatalf("the receiver got %d requests: a notifier removed by a reload must get nothing after the send in flight", n)
	}
}
