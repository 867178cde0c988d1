// Package e2e runs the pulse binary as an operator would: `pulse run` against
// httptest targets and receivers, a second process for `pulse ack`, and
// SIGKILL for the crash test.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/e2e/internal/pulsebin"
	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

var pulseBin string

// raceReport starts what a binary built with -race prints on a data race.
const raceReport = pulsebin.RaceReport

func TestMain(m *testing.M) { pulsebin.Main(m, "../cmd/pulse", &pulseBin) }

const routingKey = "e2eR0utingKey0123456789abcdef012"

// target is the service pulse watches; Set(503) breaks it.
type target struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int32
}

func newTarget(t *testing.T) *target {
	tg := &target{}
	tg.status.Store(200)
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tg.hits.Add(1)
		w.WriteHeader(int(tg.status.Load()))
		io.WriteString(w, "ok")
	}))
	t.Cleanup(tg.Close)
	return tg
}

// pdEvent is a PagerDuty Events API v2 request as received.
type pdEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"`
	DedupKey    string `json:"dedup_key"`
	Payload     *struct {
		Summary       string         `json:"summary"`
		Source        string         `json:"source"`
		Severity      string         `json:"severity"`
		Timestamp     string         `json:"timestamp"`
		Component     string         `json:"component"`
		Group         string         `json:"group"`
		Class         string         `json:"class"`
		CustomDetails map[string]any `json:"custom_details"`
	} `json:"payload"`
	at time.Time
}

// pagerDuty validates every event against the Events API v2 rules and
// answers 202, or 503 while down is set.
type pagerDuty struct {
	*httptest.Server
	t        *testing.T
	down     atomic.Bool
	mu       sync.Mutex
	accepted []pdEvent
	refused  int
	ch       chan pdEvent
}

func newPagerDuty(t *testing.T) *pagerDuty {
	pd := &pagerDuty{t: t, ch: make(chan pdEvent, 100)}
	pd.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if pd.down.Load() {
			pd.mu.Lock()
			pd.refused++
			pd.mu.Unlock()
			w.WriteHeader(503)
			io.WriteString(w, `{"status":"unavailable"}`)
			return
		}
		var ev pdEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Errorf("pagerduty: invalid JSON %q", b)
			w.WriteHeader(400)
			return
		}
		if msg := validatePD(&ev); msg != "" {
			t.Errorf("pagerduty: %s in %s", msg, b)
			w.WriteHeader(400)
			io.WriteString(w, `{"status":"invalid event","message":"`+msg+`"}`)
			return
		}
		ev.at = time.Now()
		pd.mu.Lock()
		pd.accepted = append(pd.accepted, ev)
		pd.mu.Unlock()
		pd.ch <- ev
		w.WriteHeader(202)
		io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"`+ev.DedupKey+`"}`)
	}))
	t.Cleanup(pd.Close)
	return pd
}

func validatePD(ev *pdEvent) string {
	switch {
	case ev.RoutingKey != routingKey:
		return "wrong routing_key"
	case ev.DedupKey == "" || len(ev.DedupKey) > 255:
		return "dedup_key missing or too long"
	}
	switch ev.EventAction {
	case "acknowledge", "resolve":
		return ""
	case "trigger":
	default:
		return "event_action " + ev.EventAction
	}
	p := ev.Payload
	if p == nil {
		return "trigger without payload"
	}
	if p.Summary == "" || len(p.Summary) > 1024 {
		return "payload.summary missing or longer than 1024"
	}
	if p.Source == "" {
		return "payload.source missing"
	}
	switch p.Severity {
	case "critical", "error", "warning", "info":
	default:
		return "payload.severity " + p.Severity
	}
	if _, err := time.Parse(time.RFC3339, p.Timestamp); err != nil {
		return "payload.timestamp not RFC 3339"
	}
	return ""
}

func (pd *pagerDuty) next(t *testing.T, action string, within time.Duration) pdEvent {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-pd.ch:
			if ev.EventAction == action {
				return ev
			}
			t.Logf("pagerduty: %s %s (waiting for %s)", ev.EventAction, ev.DedupKey, action)
		case <-deadline:
			t.Fatalf("no pagerduty %s within %v", action, within)
		}
	}
}

func (pd *pagerDuty) count(action string) int {
	pd.mu.Lock()
	defer pd.mu.Unlock()
	n := 0
	for _, ev := range pd.accepted {
		if ev.EventAction == action {
			n++
		}
	}
	return n
}

// slack checks incoming-webhook payloads: a text fallback and blocks.
type slack struct {
	*httptest.Server
	ch chan map[string]any
}

func newSlack(t *testing.T) *slack {
	s := &slack{ch: make(chan map[string]any, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("slack: invalid JSON: %v", err)
			w.WriteHeader(400)
			return
		}
		text, _ := m["text"].(string)
		blocks, _ := m["blocks"].([]any)
		if text == "" || len(blocks) == 0 || len(blocks) > 50 {
			t.Errorf("slack: want text and 1..50 blocks, got %v", m)
		}
		s.ch <- m
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *slack) next(t *testing.T, contains string, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-s.ch:
			b, _ := json.Marshal(m)
			if strings.Contains(string(b), contains) {
				return string(b)
			}
			t.Logf("slack: %s (waiting for %q)", m["text"], contains)
		case <-deadline:
			t.Fatalf("no slack message with %q within %v", contains, within)
		}
	}
}

type setup struct {
	dir, config string
	tg          *target
	pd          *pagerDuty
	sl          *slack
}

// newSetup is a setup on SQLite, the default store.
func newSetup(t *testing.T, extra string) *setup {
	return newSetupOn(t, `database = "pulse.db"`, extra)
}

// newSetupOnPostgres is a setup whose agent keeps its history in a
// PostgreSQL schema of its own.
func newSetupOnPostgres(t *testing.T, extra string) *setup {
	s := newSetupOn(t, fmt.Sprintf("store = %q", storetest.PostgresURL(t)), extra)
	t.Cleanup(func() {
		if m, _ := filepath.Glob(filepath.Join(s.dir, "*.db*")); len(m) > 0 {
			t.Errorf("an agent on PostgreSQL wrote SQLite files: %v", m)
		}
	})
	return s
}

// newSetupOn writes the config of an agent on the store of storeLine.
func newSetupOn(t *testing.T, storeLine, extra string) *setup {
	s := &setup{dir: t.TempDir(), tg: newTarget(t), pd: newPagerDuty(t), sl: newSlack(t)}
	s.config = filepath.Join(s.dir, "pulse.toml")
	cfg := fmt.Sprintf(`[agent]
name = "e2e"
%s

[[check]]
name = "api"
type = "http"
url = %q
interval = "1s"
timeout = "2s"
severity = "P1"
fail_after = 1
recover_after = 1
tags = ["edge"]
runbook = "https://runbooks.example.com/api"

[[notifier]]
name = "oncall"
type = "pagerduty"
routing_key = %q
url = %q

[[notifier]]
name = "ops"
type = "slack"
webhook_url = %q

[escalation.P1]
notify = ["oncall", "ops"]
within = "0s"
%s`, storeLine, s.tg.URL, routingKey, s.pd.URL, s.sl.URL+"/services/T000/B000/XXXX", extra)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// agent is a running `pulse run`.
type agent struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

func (s *setup) start(t *testing.T) *agent {
	t.Helper()
	a := &agent{stderr: &bytes.Buffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(pulseBin, "--config", s.config, "--log-level", "debug", "run")
	a.cmd.Dir = s.dir
	a.cmd.Stderr = &syncWriter{w: a.stderr}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); close(a.done) }()
	t.Cleanup(func() {
		a.stop()
		if strings.Contains(a.log(), raceReport) {
			t.Errorf("pulse run reported a data race")
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", a.log())
		}
	})
	return a
}

func (a *agent) log() string {
	return a.stderr.String()
}

func (a *agent) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(10 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
	}
}

func (a *agent) kill() {
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *setup) waitHealthyRuns(t *testing.T, n int32) {
	t.Helper()
	s.waitRuns(t, n)
}

// waitRuns waits until the target has answered n requests in all.
func (s *setup) waitRuns(t *testing.T, n int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.tg.hits.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the agent ran the check %d times in 10s, want %d", s.tg.hits.Load(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *setup) pulse(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(pulseBin, append([]string{"--config", s.config}, args...)...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "USER=e2e-operator")
	out, err := cmd.CombinedOutput()
	if bytes.Contains(out, []byte(raceReport)) {
		t.Errorf("pulse %s reported a data race:\n%s", strings.Join(args, " "), out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// The flows below run on both stores: SQLite, and PostgreSQL when
// PULSE_TEST_POSTGRES_DSN is set.
func TestOutageTriggersAndResolves(t *testing.T) { outageTriggersAndResolves(t, newSetup) }
func TestAckFromAnotherProcessReachesPagerDuty(t *testing.T) {
	ackFromAnotherProcess(t, newSetup)
}
func TestCrashLosesNothingAndSendsOnce(t *testing.T) { crashLosesNothing(t, newSetup) }

func TestOnPostgres(t *testing.T) {
	storetest.PostgresURL(t) // skips without a server
	t.Run("outage triggers and resolves", func(t *testing.T) { outageTriggersAndResolves(t, newSetupOnPostgres) })
	t.Run("ack from another process", func(t *testing.T) { ackFromAnotherProcess(t, newSetupOnPostgres) })
	t.Run("crash loses nothing, sends once", func(t *testing.T) { crashLosesNothing(t, newSetupOnPostgres) })
}

func outageTriggersAndResolves(t *testing.T, newSetup func(*testing.T, string) *setup) {
	s := newSetup(t, "")
	s.start(t)
	s.waitHealthyRuns(t, 2)

	s.tg.status.Store(503)
	trig := s.pd.next(t, "trigger", 10*time.Second)
	p := trig.Payload
	if trig.DedupKey != "e2e-1" || p.Severity != "critical" || p.Component != "api" || p.Class != "http" || p.Group != "edge" {
		t.Fatalf("trigger = %+v %+v", trig, p)
	}
	host, _ := os.Hostname()
	if p.Source != host || !strings.Contains(p.Summary, "api") || !strings.Contains(p.Summary, "503") {
		t.Fatalf("trigger payload = %+v", p)
	}
	for _, k := range []string{"state", "message", "incident_id", "runbook"} {
		if _, ok := p.CustomDetails[k]; !ok {
			t.Errorf("custom_details has no %q: %v", k, p.CustomDetails)
		}
	}
	s.sl.next(t, "api", 10*time.Second)

	s.tg.status.Store(200)
	res := s.pd.next(t, "resolve", 10*time.Second)
	if res.DedupKey != trig.DedupKey {
		t.Fatalf("resolve dedup_key %q, trigger had %q", res.DedupKey, trig.DedupKey)
	}
	s.sl.next(t, "RESOLVED", 10*time.Second)

	out, code := s.pulse(t, "incidents", "--json")
	if code != 0 {
		t.Fatalf("pulse incidents: exit %d: %s", code, out)
	}
	var incs []map[string]any
	if err := json.Unmarshal([]byte(out), &incs); err != nil || len(incs) != 1 {
		t.Fatalf("pulse incidents --json = %s (%v)", out, err)
	}
	if incs[0]["status"] != "resolved" || incs[0]["notifications_sent"].(float64) != 4 {
		t.Fatalf("incident = %v, want resolved with 4 notifications sent", incs[0])
	}
}

func ackFromAnotherProcess(t *testing.T, newSetup func(*testing.T, string) *setup) {
	s := newSetup(t, `repeat = "30m"
`)
	s.start(t)
	s.waitHealthyRuns(t, 1)
	s.tg.status.Store(503)
	trig := s.pd.next(t, "trigger", 10*time.Second)

	out, code := s.pulse(t, "ack", "1", "--note", "on it")
	acked := time.Now()
	if code != 0 {
		t.Fatalf("pulse ack: exit %d: %s", code, out)
	}
	ack := s.pd.next(t, "acknowledge", 5*time.Second)
	took := ack.at.Sub(acked)
	t.Logf("ack command → PagerDuty acknowledge: %v", took)
	if took > 2*time.Second {
		t.Fatalf("the agent took %v to act on the ack, want ≤ 2s", took)
	}
	if ack.DedupKey != trig.DedupKey {
		t.Fatalf("acknowledge dedup_key %q, trigger %q", ack.DedupKey, trig.DedupKey)
	}
	if out, code := s.pulse(t, "ack", "99"); code != 1 {
		t.Fatalf("pulse ack 99: exit %d, want 1: %s", code, out)
	}
	out, _ = s.pulse(t, "incidents", "show", "1")
	for _, want := range []string{"acknowledged", "by e2e-operator: on it", "notified"} {
		if !strings.Contains(out, want) {
			t.Errorf("pulse incidents show 1 lacks %q:\n%s", want, out)
		}
	}
	// A manual resolve reaches PagerDuty too.
	if out, code := s.pulse(t, "resolve", "1"); code != 0 {
		t.Fatalf("pulse resolve: exit %d: %s", code, out)
	}
	if res := s.pd.next(t, "resolve", 5*time.Second); res.DedupKey != trig.DedupKey {
		t.Fatalf("resolve dedup_key %q", res.DedupKey)
	}
	if out, code := s.pulse(t, "ack", "1"); code != 1 || !strings.Contains(out, "resolved") {
		t.Fatalf("pulse ack of a resolved incident: exit %d: %s", code, out)
	}
}

func crashLosesNothing(t *testing.T, newSetup func(*testing.T, string) *setup) {
	s := newSetup(t, "")
	s.pd.down.Store(true)
	a := s.start(t)
	s.waitHealthyRuns(t, 1)
	s.tg.status.Store(503)
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.pd.mu.Lock()
		refused := s.pd.refused
		s.pd.mu.Unlock()
		if refused > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the trigger never reached the (failing) receiver")
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.kill()
	s.pd.down.Store(false)

	s.start(t)
	s.pd.next(t, "trigger", 20*time.Second)
	// Let the restarted agent run a few more checks of the still broken
	// target: the incident continues, nothing is sent again. Each run's
	// request reaching the target says the one before it was evaluated,
	// and the dispatcher has passed over the outbox since the trigger.
	s.waitRuns(t, s.tg.hits.Load()+4)
	if n := s.pd.count("trigger"); n != 1 {
		t.Fatalf("pagerduty accepted %d triggers, want exactly 1", n)
	}
}
