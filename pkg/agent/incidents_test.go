package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/acklink"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// TestP1LatencyFromStoredResultToReceiver measures the time from the
// commit of a failing result that opens a P1 incident to the receiver's
// request, for 20 incidents, and checks the median against the 100ms
// promise. Run: go test -race -run TestP1Latency -v ./pkg/agent/
func TestP1LatencyFromStoredResultToReceiver(t *testing.T) {
	const n = 20
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	got := make(chan struct{}, n)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var ev struct {
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &ev); err != nil || ev.EventAction != "trigger" {
			t.Errorf("receiver: %s", b)
		}
		mu.Lock()
		arrived[ev.DedupKey] = at
		mu.Unlock()
		w.WriteHeader(202)
		io.WriteString(w, `{"status":"success"}`)
		got <- struct{}{}
	}))
	defer recv.Close()

	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\nname = \"lat\"\ndatabase = \"pulse.db\"\n")
	for i := range n {
		fmt.Fprintf(&b, "[[check]]\nname = \"c%02d\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\ninterval = \"1h\"\nseverity = \"P1\"\nfail_after = 1\n", i)
	}
	fmt.Fprintf(&b, "[[notifier]]\nname = \"oncall\"\ntype = \"pagerduty\"\nrouting_key = \"lat0123456789abcdef0123456789abc\"\nurl = %q\n", recv.URL)
	fmt.Fprintf(&b, "[escalation.P1]\nnotify = [\"oncall\"]\nwithin = \"0s\"\n")
	cfg := loadConfig(t, b.String())
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

	var lat []time.Duration
	for i := range n {
		name := fmt.Sprintf("c%02d", i)
		rt := a.lookup(name)
		now := time.Now()
		res := checks.Result{Check: name, Start: now, State: checks.Crit, Message: "connection refused"}
		rt.mu.Lock()
		next, events := alert.Evaluate(rt.state, res, *rt.policy, now)
		rt.state = next
		rt.mu.Unlock()
		if len(events) != 1 || events[0].Kind != alert.Opened {
			t.Fatalf("events = %+v", events)
		}
		// What Agent.record submits. The clock starts when the incident's
		// writes are done, inside the transaction, just before its commit:
		// the figure includes the commit.
		apply := a.inc.apply(rt, res, events, now)
		var at time.Time
		stored := make(chan error, 1)
		if err := a.store.Submit(store.Record{Result: res,
			Apply: func(tx store.Tx) error { err := apply(tx); at = time.Now(); return err },
			Done:  func(err error) { stored <- err }}); err != nil {
			t.Fatal(err)
		}
		if err := <-stored; err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("incident %d: no trigger within 5s", i+1)
		}
		mu.Lock()
		arr, ok := arrived[fmt.Sprintf("lat-%d", i+1)]
		mu.Unlock()
		if !ok {
			t.Fatalf("incident %d: no trigger with dedup key lat-%d (got %v)", i+1, i+1, arrived)
		}
		lat = append(lat, arr.Sub(at))
	}
	slices.Sort(lat)
	median := (lat[n/2-1] + lat[n/2]) / 2
	t.Logf("stored result → P1 request, %d incidents: median %v, min %v, max %v", n, median, lat[0], lat[n-1])
	if median > 100*time.Millisecond {
		t.Fatalf("median %v, want ≤ 100ms", median)
	}
	inc, err := a.store.Incident(context.Background(), 1)
	if err != nil || inc.Check != "c00" || inc.Severity != "P1" {
		t.Fatalf("incident #1 = %+v, %v", inc, err)
	}
	a.mu.RLock()
	st := a.rts["c00"].state
	a.mu.RUnlock()
	if st.IncidentID != 1 {
		t.Fatalf("c00's state has incident %d, want 1 (SetIncident)", st.IncidentID)
	}
}

func TestAckURL(t *testing.T) {
	key := bytes.Repeat([]byte{3}, acklink.MinKeyLen)
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	m := &incidents{}
	open := &store.Incident{ID: 7, Status: store.StatusOpen}
	item := func(event, sev string) *notify.Item {
		return &notify.Item{Event: event, Incident: notify.Incident{Severity: sev}}
	}
	if u := m.ackURL(open, item(alert.DeliverOpened, "P1"), at); u != "" {
		t.Fatalf("links off, got %q", u)
	}
	m.ack.Store(&ackLinks{base: "https://status.example.com/ack/", key: key})

	tests := []struct {
		inc   *store.Incident
		event string
		sev   string
		want  bool
	}{
		{open, alert.DeliverOpened, "P1", true},
		{open, alert.DeliverRaised, "P2", true},
		{open, alert.DeliverReminder, "P2", true},
		{open, alert.DeliverEscalated, "P1", true},
		{open, alert.DeliverOpened, "P3", false},
		{open, alert.DeliverOpened, "P4", false},
		{open, alert.DeliverFlapping, "P1", false},
		{open, alert.DeliverResolved, "P1", false},
		{open, alert.DeliverAcknowledged, "P1", false},
		{&store.Incident{ID: 7, Status: store.StatusAcknowledged}, alert.DeliverReminder, "P1", false},
		{&store.Incident{ID: 7, Status: store.StatusResolved}, alert.DeliverResolved, "P1", false},
		{&store.Incident{Status: store.StatusOpen}, alert.DeliverFlapping, "P1", false},
	}
	for _, tt := range tests {
		u := m.ackURL(tt.inc, item(tt.event, tt.sev), at)
		if !tt.want {
			if u != "" {
				t.Errorf("%s %s %s: got link %q, want none", tt.inc.Status, tt.event, tt.sev, u)
			}
			continue
		}
		tok, ok := strings.CutPrefix(u, "https://status.example.com/ack/")
		if !ok {
			t.Fatalf("%s %s: link %q", tt.event, tt.sev, u)
		}
		id, err := acklink.Verify(key, tok, at.Add(acklink.TTL-time.Second))
		if err != nil || id != 7 {
			t.Errorf("%s %s: Verify = %d, %v; want 7", tt.event, tt.sev, id, err)
		}
		if _, err := acklink.Verify(key, tok, at.Add(acklink.TTL)); !errors.Is(err, acklink.ErrExpired) {
			t.Errorf("%s %s: link still valid after TTL: %v", tt.event, tt.sev, err)
		}
	}
}
