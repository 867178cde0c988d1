package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// BenchmarkStatusPagePastIncidents renders the status page (no cache) with
// 500 past incidents of public checks in the last 90 days, each with three
// public updates (markdown) and a public postmortem of about 2 KB: the
// history section at its largest (pastIncidentsMax).
func BenchmarkStatusPagePastIncidents(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(testConfig, "")), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(cfg.Agent.Database, store.Options{Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	const n = pastIncidentsMax
	ids := make([]int64, 0, n)
	done := make(chan error, 1)
	err = st.Submit(store.Record{Apply: func(tx store.Tx) error {
		for i := range n {
			opened := now.Add(-time.Duration(i+1) * 4 * time.Hour) // 500 × 4h ≈ 83 days
			check := []string{"api", "db"}[i%2]
			id, err := tx.InsertIncident(&store.Incident{Check: check, Type: "tcp", Severity: "P2", State: "crit",
				Status: store.StatusResolved, Message: "connection refused", OpenedAt: opened, ResolvedAt: opened.Add(37 * time.Minute)})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}, Done: func(err error) { done <- err }})
	if err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	pm := "# Root cause\n\nA deploy at 14:02 shipped a **bad** connection pool setting.\n\n## Timeline\n\n"
	for len(pm) < 2000 {
		pm += "- 14:02 deploy; 14:05 errors rise; 14:09 paged; 14:20 rolled back, see [the runbook](https://example.com/runbook).\n"
	}
	for i, id := range ids {
		opened := now.Add(-time.Duration(i+1) * 4 * time.Hour)
		for j, status := range []string{"investigating", "identified", "resolved"} {
			if _, err := st.AddUpdate(ctx, store.Update{IncidentID: id, At: opened.Add(time.Duration(j+1) * 10 * time.Minute), Status: status,
				Message: fmt.Sprintf("Update %d: connections to the **%s** pool are refused; <we> are on it.", j, status), Public: true, Author: "alice"}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := st.SetPostmortem(ctx, id, pm, "alice", true); err != nil {
			b.Fatal(err)
		}
	}
	srv := New(Options{Store: st, Config: func() *config.Config { return cfg }, Now: func() time.Time { return now }})
	page, err := srv.renderPage(ctx, cfg, now)
	if err != nil {
		b.Fatal(err)
	}
	if got := countString(string(page), `<details class="pm">`); got != n {
		b.Fatalf("%d postmortems on the page, want %d", got, n)
	}
	for b.Loop() {
		if _, err := srv.renderPage(ctx, cfg, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(page))/1024, "page-KiB")
}

func countString(s, sub string) int { return strings.Count(s, sub) }
