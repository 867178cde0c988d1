package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// loadConfig writes body to a pulse.toml in a fresh folder and loads it.
func loadConfig(t *testing.T, body string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	return cfg
}

func TestRunRecordsResultsWhileAReaderReads(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	cfg := loadConfig(t, fmt.Sprintf(`
[agent]
database = "pulse.db"
[[check]]
name = "web"
type = "http"
url = %q
interval = "1s"
timeout = "2s"
`, srv.URL))
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	// A second handle, as `pulse status` in another process would open it,
	// sees results while the agent writes.
	reader, err := store.Open(cfg.Agent.Database, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	deadline := time.Now().Add(10 * time.Second)
	var seen int
	for time.Now().Before(deadline) {
		res, err := reader.Results(context.Background(), "web", time.Now().Add(-time.Minute), time.Now().Add(time.Minute), 100)
		if err != nil {
			t.Fatalf("reader: %v", err)
		}
		if seen = len(res); seen >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if seen < 2 {
		t.Fatalf("reader saw %d results while the agent ran, want >= 2", seen)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not stop within 5s of cancel")
	}
	// Every run the target saw is on disk after the stop.
	st, err := store.Open(cfg.Agent.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.Results(context.Background(), "web", time.Now().Add(-time.Minute), time.Now().Add(time.Minute), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(res)) != hits.Load() {
		t.Errorf("stored %d results, target saw %d requests", len(res), hits.Load())
	}
	for _, r := range res {
		if r.State != checks.OK {
			t.Errorf("result %v: state %v, want ok", r.Start, r.State)
		}
	}
}

func TestRunStopsWithinTheTimeoutOfAnInFlightCheck(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case arrived <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := loadConfig(t, fmt.Sprintf(`
[agent]
database = "pulse.db"
[[check]]
name = "stuck"
type = "http"
url = %q
interval = "1s"
timeout = "1500ms"
`, srv.URL))
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-arrived: // the first run is in flight
	case <-time.After(10 * time.Second):
		t.Fatal("the check's request never reached the target")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(1500*time.Millisecond + 2*time.Second):
		t.Fatal("agent did not stop within the check timeout + 2s")
	}
	st, err := store.Open(cfg.Agent.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := st.Results(context.Background(), "stuck", time.Now().Add(-time.Minute), time.Now().Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		t.Fatal("the in-flight check's result was not stored")
	}
	if res[len(res)-1].State != checks.Crit {
		t.Errorf("timed-out run stored as %v, want crit", res[len(res)-1].State)
	}
}

func TestRunOnceKeepsStateAcrossRestarts(t *testing.T) {
	cfg := loadConfig(t, `
[agent]
database = "pulse.db"
[[check]]
name = "fails"
type = "command"
command = ["/bin/sh", "-c", "echo CRITICAL; exit 2"]
fail_after = 3
`)
	for i := 1; i <= 2; i++ {
		a, err := New(Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	got := a.rts["fails"].state
	if got.NonOK != 2 || got.State != checks.Crit {
		t.Errorf("state after two runs in two processes: NonOK=%d State=%v, want 2 crit", got.NonOK, got.State)
	}
}

// persistable compares CheckState field by field; a new field must be added
// there too, or a state change could go unsaved.
func TestPersistableKnowsEveryCheckStateField(t *testing.T) {
	if n := reflect.TypeOf(alert.CheckState{}).NumField(); n != 12 {
		t.Fatalf("alert.CheckState has %d fields; update persistable and this test", n)
	}
	p := alert.Policy{FailAfter: 2, RecoverAfter: 2}
	base := alert.CheckState{State: checks.OK, OK: 5}
	more := base
	more.OK = 6
	if persistable(base, more, p) {
		t.Error("an ok streak growing past the thresholds should not be persisted")
	}
	crit := base
	crit.State = checks.Crit
	if !persistable(base, crit, p) {
		t.Error("a state change must be persisted")
	}
}
