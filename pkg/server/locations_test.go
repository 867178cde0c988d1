package server

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// The status page shows each location of a check with locations under it,
// and no row of its own for a copy.
func TestStatusPageLocations(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "pulse.toml"), []byte(`
[agent]
store = "postgres://pulse@db1/pulse"
location = "fra"
[[check]]
name = "home"
type = "http"
url = "https://example.com/"
interval = "1m"
locations = ["fra", "nyc", "<sgp>"]
`), nil)
	if err == nil {
		t.Fatal("a location named <sgp> was accepted")
	}
	cfg, err = config.Parse(filepath.Join(dir, "pulse.toml"), []byte(`
[agent]
store = "postgres://pulse@db1/pulse"
location = "fra"
[[check]]
name = "home"
type = "http"
url = "https://example.com/"
interval = "1m"
locations = ["fra", "nyc", "sgp"]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "pulse.db"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, r := range []checks.Result{
		{Check: "home", Start: now.Add(-30 * time.Second), Duration: 120 * time.Millisecond, State: checks.Crit, Message: "crit from fra, nyc (quorum 2 of 3): refused"},
		{Check: "home@fra", Start: now.Add(-20 * time.Second), Duration: 120 * time.Millisecond, State: checks.Crit, Message: "refused"},
		{Check: "home@nyc", Start: now.Add(-10 * time.Second), Duration: 80 * time.Millisecond, State: checks.Crit, Message: "refused"},
	} {
		if err := st.Submit(store.Record{Result: r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Store: st, Config: func() *config.Config { return cfg }, Metrics: NewMetrics(st, nil), Now: func() time.Time { return now }})
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 {
		t.Fatalf("GET / = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{`<span class="dot crit"></span>fra crit 120ms`, `<span class="dot crit"></span>nyc crit 80ms`, `<span class="dot pending"></span>sgp no result`} {
		if !strings.Contains(body, want) {
			t.Errorf("page has no %q:\n%s", want, grep(body, "locs"))
		}
	}
	if strings.Contains(body, "home@") {
		t.Errorf("page shows a copy:\n%s", grep(body, "home@"))
	}
}
