package server

import (
	"bytes"
	"context"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
)

// TestDashCacheSameData: a server that renders from its caches (finished
// days, the 30-day totals summed from them, the edge hours) gives the same
// page data and pages as one that reads everything afresh, and its status
// (states, KPIs, error budget) is BuildStatus on the store itself: at noon,
// half an hour after midnight (yesterday in its grace hour, not cached yet)
// and after the day has been compacted into daily rows.
func TestDashCacheSameData(t *testing.T) {
	f := newDashFixture(t, "")
	seedDash(t, f)
	ctx := context.Background()
	clock := now
	clockFn := func() time.Time { return clock }
	warm := New(Options{Store: f.st, Config: func() *config.Config { return f.cfg }, Now: clockFn})
	render := func(srv *Server, page string) []byte {
		t.Helper()
		srv.dash.pages = nil
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/dash/"+page, nil))
		if rec.Code != 200 {
			t.Fatalf("GET /dash/%s = %d: %.300s", page, rec.Code, rec.Body)
		}
		return rec.Body.Bytes()
	}
	for _, step := range []struct {
		name    string
		at      time.Time
		compact bool
	}{
		{"noon", now, false},
		{"noon again", now.Add(2 * time.Minute), false},
		{"grace hour", now.Add(12*time.Hour + 30*time.Minute), false},
		{"compacted", now.Add(14 * time.Hour), true},
		{"next day", now.Add(24 * time.Hour), false},
	} {
		clock = step.at
		if step.compact {
			if _, err := f.st.CompactRollups(ctx, clock); err != nil {
				t.Fatal(err)
			}
		}
		for _, page := range []string{"executive", "operations"} {
			render(warm, page) // fills the caches at clock
			cold := New(Options{Store: f.st, Config: func() *config.Config { return f.cfg }, Now: clockFn})
			if a, b := render(warm, page), render(cold, page); !bytes.Equal(a, b) {
				t.Errorf("%s: /dash/%s from the caches differs from a fresh render", step.name, page)
			}
		}

		// The page data: the cached server's inputs against fresh reads.
		warm.dash.mu.Lock()
		stats, err := warm.dailyStats(ctx, f.st, clock)
		if err != nil {
			t.Fatal(err)
		}
		cached, err := report.BuildStatus(ctx, totalsSource{DashStore: f.st, s: warm, now: clock}, f.cfg, clock)
		if err != nil {
			t.Fatal(err)
		}
		edge := warm.dash.edge
		warm.dash.mu.Unlock()
		if edge == nil {
			t.Errorf("%s: the 30-day totals were not summed from the cache", step.name)
		}
		plain, err := report.BuildStatus(ctx, f.st, f.cfg, clock)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cached, plain) {
			t.Errorf("%s: status from the cached totals differs:\n%+v\nwant\n%+v", step.name, cached.KPIs, plain.KPIs)
		}
		want, err := New(Options{Store: f.st, Config: func() *config.Config { return f.cfg }, Now: clockFn}).dailyStats(ctx, f.st, clock)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(stats, want) {
			t.Errorf("%s: cached daily stats differ from a fresh read", step.name)
			for name, v := range want.ByCheck {
				for i := range v {
					if got := stats.ByCheck[name]; got == nil || got[i] != v[i] {
						t.Errorf("%s day %d: %+v, want %+v", name, i, got[i], v[i])
						break
					}
				}
			}
		}
		for _, p := range []struct {
			name string
			data func(st *report.Status) (any, error)
		}{
			{"executive", func(st *report.Status) (any, error) {
				return report.BuildExecDash(ctx, f.st, f.cfg, st, stats, clock)
			}},
			{"operations", func(st *report.Status) (any, error) { return report.BuildOpsDash(ctx, f.st, f.cfg, st, stats) }},
		} {
			a, err := p.data(cached)
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.data(plain)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%s: %s page data differs with the cached totals", step.name, p.name)
			}
		}
		if step.name == "noon" {
			if r := plain.Rows; len(r) == 0 || r[0].Uptime30d == nil {
				t.Fatalf("no 30-day uptime to compare: %+v", r)
			}
		}
	}
}
