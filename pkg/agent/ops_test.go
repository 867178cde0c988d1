package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// notifySocket listens on a unixgram NOTIFY_SOCKET in a temporary folder,
// as systemd does, and returns the datagrams it receives.
func notifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	out := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(out)
				return
			}
			out <- string(buf[:n])
		}
	}()
	return out
}

// sdNotify is what pkg/cli passes as Options.Notify under systemd.
func sdNotify(t *testing.T) func(string) {
	return func(state string) {
		if _, err := daemon.SdNotify(false, state); err != nil {
			t.Errorf("sd_notify %q: %v", state, err)
		}
	}
}

// freePort returns a 127.0.0.1 address nobody listens on (config
// validation refuses port 0).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// okTarget is a TCP port that accepts connections.
func okTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func TestSdNotifyReadyWatchdogStatusStopping(t *testing.T) {
	msgs := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "200000") // feed every 100 ms
	t.Setenv("WATCHDOG_PID", "")
	cfg := loadConfig(t, fmt.Sprintf(`
[agent]
database = "pulse.db"
[[check]]
name = "tcp-ok"
type = "tcp"
address = %q
interval = "1s"
`, okTarget(t)))
	a, err := New(Options{Config: cfg, Notify: sdNotify(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	var got []string
	deadline := time.After(10 * time.Second)
	for !slices.Contains(got, "WATCHDOG=1") || !hasPrefix(got, "STATUS=1 checks: 1 ok") {
		select {
		case m := <-msgs:
			got = append(got, m)
		case <-deadline:
			t.Fatalf("no WATCHDOG=1 and ok STATUS= within 10s; got %q", got)
		}
	}
	ready, wd := slices.Index(got, "READY=1"), slices.Index(got, "WATCHDOG=1")
	if ready < 0 || wd < ready {
		t.Errorf("READY=1 at %d, first WATCHDOG=1 at %d: want READY=1 first; got %q", ready, wd, got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for m := range drain(msgs) {
		got = append(got, m)
	}
	if !slices.Contains(got, "STOPPING=1") {
		t.Errorf("no STOPPING=1 after cancel; got %q", got)
	}
}

func hasPrefix(ms []string, p string) bool {
	return slices.ContainsFunc(ms, func(m string) bool { return strings.HasPrefix(m, p) })
}

// drain returns what is already queued on ch.
func drain(ch <-chan string) map[string]bool {
	out := map[string]bool{}
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return out
			}
			out[m] = true
		case <-time.After(200 * time.Millisecond):
			return out
		}
	}
}

// recorder collects Options.Notify calls.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) notify(s string) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

func TestWatchdogFedOnlyWhileHealthy(t *testing.T) {
	clock := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		tick       time.Time // the scheduler's last tick
		probe      error
		wantFeed   bool
		wantStatus string
	}{
		{"healthy", clock.Add(-time.Second), nil, true, "STATUS=1 checks: 0 ok, 0 warn, 0 crit, 0 unknown; 0 incidents open; database "},
		{"scheduler never ran", time.Time{}, nil, false, "STATUS=unhealthy: scheduler not running"},
		{"scheduler stalled", clock.Add(-45 * time.Second), nil, false, "STATUS=unhealthy: scheduler stalled: last tick 45s ago (expected within 30s)"},
		{"database refuses writes", clock.Add(-time.Second), errors.New("disk I/O error"), false,
			"STATUS=unhealthy: database does not accept writes: disk I/O error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, "[agent]\ndatabase = \"pulse.db\"\n[[check]]\nname = \"c\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n")
			rec := &recorder{}
			a, err := New(Options{Config: cfg, Notify: rec.notify})
			if err != nil {
				t.Fatal(err)
			}
			defer a.close()
			probes := 0
			a.health = &health{
				now:      func() time.Time { return clock },
				lastTick: func() time.Time { return tt.tick },
				probe:    func(context.Context) error { probes++; return tt.probe },
			}
			err = a.watchdogTick(context.Background(), true)
			if (err == nil) != tt.wantFeed {
				t.Errorf("watchdogTick = %v, want healthy %v", err, tt.wantFeed)
			}
			got := rec.take()
			if fed := slices.Contains(got, "WATCHDOG=1"); fed != tt.wantFeed {
				t.Errorf("WATCHDOG=1 sent = %v, want %v (got %q)", fed, tt.wantFeed, got)
			}
			if !hasPrefix(got, tt.wantStatus) {
				t.Errorf("notify = %q, want a line starting %q", got, tt.wantStatus)
			}
			if tt.tick.IsZero() || tt.tick.Before(clock.Add(-tickWindow)) {
				if probes != 0 {
					t.Errorf("probed the database %d times with the scheduler down", probes)
				}
			}
		})
	}
}

func TestHealthProbeWritesThroughTheWriter(t *testing.T) {
	cfg := loadConfig(t, "[agent]\ndatabase = \"pulse.db\"\n")
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	now := clock
	a.health = &health{now: func() time.Time { return now }, lastTick: func() time.Time { return now }, probe: a.probeWrite}
	ctx := context.Background()
	if err := a.Health(ctx); err != nil {
		t.Fatalf("Health of a working agent = %v", err)
	}
	if _, ok, err := a.store.GetMeta(ctx, probeKey); err != nil || !ok {
		t.Fatalf("write probe left no %s row (ok=%v err=%v)", probeKey, ok, err)
	}
	// Within probeMaxAge the answer is reused: a closed database is not
	// noticed yet...
	a.close()
	now = clock.Add(probeMaxAge / 2)
	if err := a.Health(ctx); err != nil {
		t.Errorf("Health within probeMaxAge = %v, want the cached nil", err)
	}
	// ...and is once the answer is stale.
	now = clock.Add(probeMaxAge + time.Second)
	err = a.Health(ctx)
	if err == nil || !strings.Contains(err.Error(), "database does not accept writes") || !errors.Is(err, store.ErrClosed) {
		t.Errorf("Health with a closed database = %v, want database does not accept writes: %v", err, store.ErrClosed)
	}
}

func TestHealthProbeHungReportsPending(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	h := &health{
		now:      time.Now,
		lastTick: time.Now,
		probe: func(context.Context) error {
			started.Add(1)
			<-release
			return nil
		},
	}
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := h.check(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "database write pending") {
			t.Errorf("check %d with a hung writer = %v, want database write pending", i, err)
		}
	}
	if n := started.Load(); n != 1 {
		t.Errorf("%d probes started for 3 checks of a hung writer, want 1", n)
	}
	close(release)
	if err := h.check(context.Background()); err != nil {
		t.Errorf("check after the writer answered = %v", err)
	}
}

// While the writer holds a batch the database refuses (disk full), the
// health check says so at once instead of waiting for a probe queued
// behind that batch: a supervisor with a short timeout gets its 503.
func TestHealthAnswersAtOnceWhileTheDatabaseRefuses(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	full := errors.New("database or disk is full")
	h := &health{
		now:      time.Now,
		lastTick: time.Now,
		probe:    func(context.Context) error { <-release; return nil },
		refusing: func() error { return full },
	}
	start := time.Now()
	err := h.check(context.Background())
	if !errors.Is(err, full) || !strings.Contains(err.Error(), "database does not accept writes") {
		t.Fatalf("check = %v, want database does not accept writes: %v", err, full)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("check took %s, want an answer at once", took)
	}
}

// The same when the writer finds the database refusing only after the
// probe was queued behind its batch.
func TestHealthAnswersOnceTheWriterFindsTheDatabaseRefusing(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	full := errors.New("database or disk is full")
	var refused atomic.Bool
	h := &health{
		now:      time.Now,
		lastTick: time.Now,
		probe:    func(context.Context) error { <-release; return nil },
		refusing: func() error {
			if refused.Load() {
				return full
			}
			return nil
		},
	}
	time.AfterFunc(100*time.Millisecond, func() { refused.Store(true) })
	start := time.Now()
	err := h.check(context.Background())
	if !errors.Is(err, full) {
		t.Fatalf("check = %v, want database does not accept writes: %v", err, full)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("check took %s, want an answer soon after the writer's refusal", took)
	}
}

func TestSelfHeartbeat(t *testing.T) {
	var hits atomic.Int32
	status := atomic.Int32{}
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/ping/abc-secret" || r.Header.Get("User-Agent") != "pulse" {
			t.Errorf("heartbeat request %s %s UA %q", r.Method, r.URL.Path, r.Header.Get("User-Agent"))
		}
		hits.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	cfg := loadConfig(t, fmt.Sprintf("[agent]\ndatabase = \"pulse.db\"\nheartbeat_url = %q\n", srv.URL+"/ping/abc-secret"))
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	healthy := true
	a.health = &health{now: time.Now, lastTick: func() time.Time {
		if healthy {
			return time.Now()
		}
		return time.Time{}
	}, probe: func(context.Context) error { return nil }}
	ctx := context.Background()
	client := srv.Client()

	tests := []struct {
		name     string
		healthy  bool
		status   int32
		wantHits int32
		wantErr  string
	}{
		{"healthy: pinged", true, 200, 1, ""},
		{"unhealthy: silent", false, 200, 0, "scheduler not running"},
		{"receiver error", true, 503, 1, "HTTP 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			healthy = tt.healthy
			status.Store(tt.status)
			before := hits.Load()
			err := a.heartbeatTick(ctx, client)
			if got := hits.Load() - before; got != tt.wantHits {
				t.Errorf("%d pings, want %d", got, tt.wantHits)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("heartbeatTick = %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("unreachable: error hides the URL", func(t *testing.T) {
		healthy = true
		cfg2 := *a.Config()
		cfg2.Agent.HeartbeatURL = config.Secret("http://" + freePort(t) + "/ping/abc-secret")
		a.mu.Lock()
		a.cfg = &cfg2
		a.mu.Unlock()
		err := a.heartbeatTick(ctx, client)
		if err == nil || strings.Contains(err.Error(), "abc-secret") {
			t.Errorf("heartbeatTick to a closed port = %v, want an error without the URL", err)
		}
	})
}

// fill records n results of each check, one a minute, ending at end.
func fill(t *testing.T, st *store.Store, names []string, end time.Time, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		at := end.Add(-time.Duration(n-i) * time.Minute)
		for _, name := range names {
			r := checks.Result{Check: name, Start: at, Duration: time.Duration(1000+i%977) * time.Microsecond, State: checks.OK}
			r.SetValue(float64(i))
			if err := st.Submit(store.Record{Result: r}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPruneAppliesRetentionAndMaxDBSize(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cfg := loadConfig(t, "[agent]\ndatabase = \"pulse.db\"\nretention = \"1d\"\n")
	a, err := New(Options{Config: cfg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ctx := context.Background()
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	fill(t, a.store, names, now, 3*24*60) // three days, 34,560 results
	count := func() (n int, oldest time.Time) {
		for _, name := range names {
			res, err := a.store.Results(ctx, name, now.Add(-10*24*time.Hour), now.Add(time.Hour), 0)
			if err != nil {
				t.Fatal(err)
			}
			n += len(res)
			if len(res) > 0 && (oldest.IsZero() || res[0].Start.Before(oldest)) {
				oldest = res[0].Start
			}
		}
		return n, oldest
	}

	t.Run("retention", func(t *testing.T) {
		st, err := a.prune(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, oldest := count()
		if want := len(names) * 24 * 60; n != want {
			t.Errorf("%d results left after retention 1d, want %d", n, want)
		}
		if oldest.Before(now.Add(-24 * time.Hour)) {
			t.Errorf("oldest result %v is older than the retention", oldest)
		}
		if st.Results != int64(len(names)*2*24*60) {
			t.Errorf("PruneStats.Results = %d, want %d", st.Results, len(names)*2*24*60)
		}
	})
	t.Run("max_db_size", func(t *testing.T) {
		if err := a.store.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		size, err := a.store.Size()
		if err != nil {
			t.Fatal(err)
		}
		limit := size / 2
		cfg2 := *a.Config()
		cfg2.Agent.MaxDBSize = config.ByteSize(limit)
		a.mu.Lock()
		a.cfg = &cfg2
		a.mu.Unlock()
		before, oldestBefore := count()
		st, err := a.prune(ctx)
		if err != nil {
			t.Fatal(err)
		}
		after, oldest := count()
		if st.BySize == 0 || after >= before {
			t.Fatalf("max_db_size %d (size %d) pruned %d by size; results %d → %d", limit, size, st.BySize, before, after)
		}
		if st.Size > limit {
			t.Errorf("database is %d bytes after pruning to max_db_size %d", st.Size, limit)
		}
		// The oldest go first: what is left is the newest, for every check.
		for _, name := range names {
			res, err := a.store.Results(ctx, name, now.Add(-time.Minute), now.Add(time.Minute), 0)
			if err != nil || len(res) == 0 {
				t.Errorf("check %s lost its newest result (err %v)", name, err)
			}
		}
		if !oldest.After(oldestBefore.Add(time.Hour)) {
			t.Errorf("oldest result %v before, %v after: pruning by size did not take the oldest", oldestBefore, oldest)
		}
	})
}

func TestListenerServesWhileRunning(t *testing.T) {
	addr := freePort(t)
	cfg := loadConfig(t, fmt.Sprintf(`
[agent]
database = "pulse.db"
listen = %q
[[check]]
name = "backup"
type = "heartbeat"
period = "1d"
grace = "1h"
`, addr))
	runAgent(t, Options{Config: cfg})
	base := "http://" + addr
	get := func(method, path string) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		for i := 0; i < 50; i++ { // the listener binds before READY; Run is in another goroutine
			req, _ := http.NewRequest(method, base+path, nil)
			if resp, err = http.DefaultClient.Do(req); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get("GET", "/healthz")
		if code == 200 && body == "ok\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz = %d %q 10s after start", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := get("POST", "/ping/backup/fail"); code != 200 {
		t.Fatalf("POST /ping/backup/fail = %d", code)
	}
	// The fail ping is evaluated at once, not at the check's next run.
	for {
		_, body := get("GET", "/metrics")
		if strings.Contains(body, `pulse_check_up{check="backup",type="heartbeat"} 0`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backup not down in /metrics after a fail ping:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := get("GET", "/ping/nope"); code != 404 {
		t.Errorf("GET /ping/nope = %d, want 404", code)
	}
}

func TestRunFailsWhenListenAddressIsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rec := &recorder{}
	cfg := loadConfig(t, fmt.Sprintf("[agent]\ndatabase = \"pulse.db\"\nlisten = %q\n", ln.Addr().String()))
	a, err := New(Options{Config: cfg, Notify: rec.notify})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "[agent].listen") {
		t.Errorf("Run with a taken port = %v, want an error naming [agent].listen", err)
	}
	if slices.Contains(rec.take(), "READY=1") {
		t.Error("READY=1 sent although the listener could not bind")
	}
}
