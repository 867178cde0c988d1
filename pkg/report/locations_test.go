package report

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// A check with locations shows one line per location in status, the
// status detail and the digest; its copies are no checks of their own.
func TestStatusAndDigestShowLocations(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "pulse.toml"), []byte(`
[agent]
store = "postgres://pulse@db1/pulse"
location = "fra"
timezone = "UTC"
[[check]]
name = "home"
type = "http"
url = "https://example.com/"
interval = "1m"
locations = ["fra", "nyc", "sgp", "lon"]
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	st, err := store.Open(filepath.Join(dir, "pulse.db"), store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, r := range []checks.Result{
		{Check: "home", Start: now.Add(-30 * time.Second), Duration: 120 * time.Millisecond, State: checks.OK, Message: "ok from fra, nyc (quorum 3 of 4)"},
		{Check: "home@fra", Start: now.Add(-20 * time.Second), Duration: 120 * time.Millisecond, State: checks.OK, Message: "200 OK"},
		{Check: "home@nyc", Start: now.Add(-10 * time.Second), Duration: 2 * time.Second, State: checks.Crit, Message: "status 503, expected 200"},
		{Check: "home@sgp", Start: now.Add(-5 * time.Minute), Duration: 98 * time.Millisecond, State: checks.OK, Message: "200 OK"},
	} {
		if err := st.Submit(store.Record{Result: r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	s, err := BuildStatus(context.Background(), st, cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	var home *CheckStatus
	for i := range s.Rows {
		if strings.Contains(s.Rows[i].Name, "@") {
			t.Errorf("a copy is a row of its own: %s", s.Rows[i].Name)
		}
		if s.Rows[i].Name == "home" {
			home = &s.Rows[i]
		}
	}
	if home == nil || len(home.Locations) != 4 {
		t.Fatalf("home = %+v", home)
	}
	if got, want := LocationsSummary(home.Locations), "fra ok 120ms · nyc crit 2.0s · sgp stale 5m · lon no result"; got != want {
		t.Errorf("LocationsSummary = %q, want %q", got, want)
	}
	text := s.Text(ui.NewStyles(false), StatusTextOptions{})
	for _, want := range []string{"@fra", "@nyc", "@sgp", "@lon", "● ok", "✖ crit", "? stale", "… pending"} {
		if !strings.Contains(text, want) {
			t.Errorf("status text has no %q:\n%s", want, text)
		}
	}

	d, err := BuildDigest(context.Background(), st, cfg, DigestOptions{Date: "2026-12-06", Now: now.Add(13 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	cp := d.Check("home")
	if cp == nil || len(cp.Locations) != 4 || cp.Locations[1].Name != "nyc" || cp.Locations[1].Runs != 1 || cp.Locations[1].Crit != 1 {
		t.Fatalf("digest check home = %+v", cp)
	}
	if d.Check("home@nyc") != nil {
		t.Error("a copy is a check of the digest")
	}
	for _, out := range []string{d.Text(ui.NewStyles(false)), d.HTML()} {
		if !strings.Contains(out, "@nyc") {
			t.Errorf("digest shows no location:\n%s", out)
		}
	}
}
