// Package faults is the fault suite of issue 14: it runs the real pulse
// binary under hostile conditions (a full disk, kill -9 in a loop, a second
// agent on the same database, plugins that leave children behind, targets
// that answer with terminal escape sequences, secrets in the config) and
// checks what docs/RELIABILITY.md promises. Each test logs its figures in
// one parseable line that starts with "FIGURE name:".
//
// Everything talks to 127.0.0.1 only. The full-disk tests mount a tmpfs and
// skip when they cannot (not root, no mount permission).
package faults

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
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/e2e/internal/pulsebin"
)

var pulseBin string

func TestMain(m *testing.M) { pulsebin.Main(m, "../../cmd/pulse", &pulseBin) }

// freePort returns a 127.0.0.1 port that nothing listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// waitFor polls cond every 50ms until it holds or within has passed.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// env is one test's folder and config file.
type env struct {
	dir, config string
}

func newEnv(t *testing.T, config string) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.config = filepath.Join(e.dir, "pulse.toml")
	if err := os.WriteFile(e.config, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// pulse runs one CLI command (bounded to 30s) and returns its stdout,
// stderr and exit status.
func (e *env) pulse(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pulseBin, append([]string{"--config", e.config}, args...)...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), "USER=fault-operator")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("pulse %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("pulse %s: still running after 30s", strings.Join(args, " "))
	}
	if strings.Contains(errb.String(), pulsebin.RaceReport) {
		t.Errorf("pulse %s reported a data race:\n%s", strings.Join(args, " "), errb.String())
	}
	return out.String(), errb.String(), code
}

// incident is one row of `pulse incidents --json`.
type incident struct {
	ID     int64  `json:"id"`
	Check  string `json:"check"`
	Status string `json:"status"`
}

func (e *env) incidents(t *testing.T) []incident {
	t.Helper()
	incs, err := e.tryIncidents()
	if err != nil {
		t.Fatal(err)
	}
	return incs
}

// tryIncidents is incidents for polling: the agent may not have created
// the database yet.
func (e *env) tryIncidents() ([]incident, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pulseBin, "--config", e.config, "incidents", "--json")
	cmd.Dir = e.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pulse incidents --json: %v: %s", err, errb.String())
	}
	var incs []incident
	if err := json.Unmarshal(out.Bytes(), &incs); err != nil {
		return nil, fmt.Errorf("pulse incidents --json: %v: %s", err, out.String())
	}
	return incs, nil
}

// agent is a running `pulse run`, killed in t.Cleanup if still alive.
type agent struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	code   int
}

func (e *env) start(t *testing.T, args ...string) *agent {
	t.Helper()
	return e.startEnv(t, nil, args...)
}

// startEnv is start with extra environment variables ("KEY=value").
func (e *env) startEnv(t *testing.T, extraEnv []string, args ...string) *agent {
	t.Helper()
	a := &agent{stderr: &syncBuffer{}, done: make(chan struct{})}
	a.cmd = exec.Command(pulseBin, append([]string{"--config", e.config, "--log-level", "debug", "run"}, args...)...)
	a.cmd.Dir = e.dir
	if len(extraEnv) > 0 {
		a.cmd.Env = append(os.Environ(), extraEnv...)
	}
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		a.cmd.Wait()
		a.code = a.cmd.ProcessState.ExitCode()
		close(a.done)
	}()
	t.Cleanup(func() {
		a.kill()
		if strings.Contains(a.log(), pulsebin.RaceReport) {
			t.Errorf("pulse run (pid %d) reported a data race", a.cmd.Process.Pid)
		}
		// PULSE_TEST_KEEP_LOGS=DIR keeps every agent's whole log as
		// DIR/PID.log, to read the timing of a run that passed.
		if d := os.Getenv("PULSE_TEST_KEEP_LOGS"); d != "" {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%d.log", a.cmd.Process.Pid)), []byte(a.log()), 0o644); err != nil {
				t.Logf("PULSE_TEST_KEEP_LOGS: %v", err)
			}
		}
		if t.Failed() {
			log := a.log()
			if len(log) > 6000 {
				log = "...\n" + log[len(log)-6000:]
			}
			t.Logf("agent pid %d log (tail):\n%s", a.cmd.Process.Pid, log)
		}
	})
	return a
}

func (a *agent) log() string { return a.stderr.String() }

func (a *agent) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// wait waits at most within for the process to exit; false if it has not.
func (a *agent) wait(within time.Duration) bool {
	select {
	case <-a.done:
		return true
	case <-time.After(within):
		return false
	}
}

// term sends SIGTERM and returns how long the process took to exit, or
// bound and false if it was still running then (it is killed).
func (a *agent) term(bound time.Duration) (time.Duration, bool) {
	start := time.Now()
	a.cmd.Process.Signal(syscall.SIGTERM)
	if a.wait(bound) {
		return time.Since(start), true
	}
	a.kill()
	return bound, false
}

func (a *agent) kill() {
	if a.exited() {
		return
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// httpGet fetches url with a 2s bound; status 0 when it could not.
func httpGet(url string) (int, string) {
	return httpGetWithin(url, 2*time.Second)
}

func httpGetWithin(url string, within time.Duration) (int, string) {
	c := &http.Client{Timeout: within}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// delivery is one webhook POST as the receiver saw it.
type delivery struct {
	Event    string `json:"event"`
	Incident *struct {
		ID  int64  `json:"id"`
		Key string `json:"key"`
	} `json:"incident"`
	raw      []byte
	answered int
	at       time.Time
}

// receiver is a webhook endpoint on a chosen port that records every POST
// and answers status (settable).
type receiver struct {
	srv    *httptest.Server
	status atomic.Int32
	delay  atomic.Int64 // time.Duration before answering
	mu     sync.Mutex
	all    []delivery
}

func newReceiver(t *testing.T, port int, status int) *receiver {
	t.Helper()
	r := &receiver{}
	r.status.Store(int32(status))
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("receiver on port %d: %v", port, err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		time.Sleep(time.Duration(r.delay.Load()))
		d := delivery{raw: b, at: time.Now(), answered: int(r.status.Load())}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("receiver: invalid JSON %q", b)
		}
		r.mu.Lock()
		r.all = append(r.all, d)
		r.mu.Unlock()
		w.WriteHeader(d.answered)
	}))
	r.srv.Listener.Close()
	r.srv.Listener = ln
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

// deliveries returns the accepted (2xx) deliveries of event for incident
// id (any event / any incident when empty / 0).
func (r *receiver) accepted(event string, id int64) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []delivery
	for _, d := range r.all {
		if d.answered < 200 || d.answered > 299 {
			continue
		}
		if event != "" && d.Event != event {
			continue
		}
		if id != 0 && (d.Incident == nil || d.Incident.ID != id) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func (r *receiver) payloads() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]byte, len(r.all))
	for i, d := range r.all {
		out[i] = d.raw
	}
	return out
}
