package server

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, to seed 90 days in SQL

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// Benchmark fixture: 1,000 checks (960 tcp in 12 tag groups and untagged,
// 40 metric checks of which 20 tagged throughput) with 90 days of daily
// rollups (histograms included), today's hourly rollups from real results
// (a run every 10 minutes since midnight), a value every 5 minutes for 30
// days for each metric check and 300 incidents over the 90 days.
const (
	benchChecks  = 1000
	benchMetrics = 40
)

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

func benchConfig() string {
	var b strings.Builder
	b.WriteString("[agent]\ndatabase = \"pulse.db\"\n")
	for i := range benchChecks {
		if i < benchChecks-benchMetrics {
			tags := fmt.Sprintf(`tags = ["svc%02d"]`, i%13)
			if i%13 == 12 {
				tags = ""
			}
			fmt.Fprintf(&b, "[[check]]\nname = \"c%04d\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\n%s\n", i, tags)
			continue
		}
		tags := `tags = ["business"]`
		if i%2 == 0 {
			tags = `tags = ["web", "throughput"]`
		}
		fmt.Fprintf(&b, "[[check]]\nname = \"c%04d\"\ntype = \"metric\"\nsource = \"sql\"\ndriver = \"sqlite\"\ndsn = \"file:app.db\"\nquery = \"SELECT 1\"\n%s\n", i, tags)
	}
	return b.String()
}

// seedBench builds the fixture's database once in dir.
func seedBench(b *testing.B, dir string) error {
	f := openDashFixture(b, dir, benchConfig())
	ctx := context.Background()
	midnight := now.Truncate(24 * time.Hour)
	for i := range benchChecks {
		name := fmt.Sprintf("c%04d", i)
		for ts := midnight; ts.Before(now); ts = ts.Add(10 * time.Minute) {
			r := checks.Result{Check: name, Start: ts, Duration: time.Duration(5+(i+ts.Minute())%40) * time.Millisecond, State: checks.OK}
			if (i+ts.Hour())%97 == 0 {
				r.State, r.Message = checks.Crit, "connection refused"
			}
			if err := f.st.Submit(store.Record{Result: r}); err != nil {
				return err
			}
		}
	}
	if err := f.st.Flush(ctx); err != nil {
		return err
	}
	for i := range 300 {
		opened := now.Add(-time.Duration(i*7) * time.Hour)
		inc := store.Incident{Check: fmt.Sprintf("c%04d", i*3), Type: "tcp", Severity: fmt.Sprintf("P%d", 1+i%4), State: "crit", Message: "refused", OpenedAt: opened}
		if i > 5 {
			inc.Status, inc.AckedAt, inc.ResolvedAt = "resolved", opened.Add(time.Duration(i%30)*time.Minute), opened.Add(time.Duration(30+i%90)*time.Minute)
		}
		if err := f.st.Submit(store.Record{Apply: func(tx store.Tx) error { _, err := tx.InsertIncident(&inc); return err }}); err != nil {
			return err
		}
	}
	if err := f.st.Flush(ctx); err != nil {
		return err
	}
	f.st.Close()

	db, err := sql.Open("sqlite3", f.cfg.Agent.Database+"?_busy_timeout=10000")
	if err != nil {
		return err
	}
	defer db.Close()
	today := midnight.Unix() / 86400
	for _, q := range []string{
		// 89 finished days per check, its histogram one of today's hours'.
		`WITH RECURSIVE d(day) AS (SELECT ?1 - 89 UNION ALL SELECT day + 1 FROM d WHERE day + 1 < ?1)
		INSERT INTO rollups_daily(check_id, day, runs, failures, warn, crit, lat_sum, lat_max, hist)
		SELECT c.id, d.day, 144, (c.id + d.day) % 3, 0, (c.id + d.day) % 3, 144 * (10000 + (c.id * 7 + d.day) % 30000), 90000,
			(SELECT hist FROM rollups r WHERE r.check_id = c.id AND r.hour = ?1 * 24 + d.day % 12)
		FROM checks c CROSS JOIN d`,
		`INSERT OR REPLACE INTO meta(key, value) VALUES('rollups_daily_through', ?1)`,
		// Values every 5 minutes for 30 days for the metric checks.
		`WITH RECURSIVE t(ts) AS (SELECT (?1 - 29) * 86400000 UNION ALL SELECT ts + 300000 FROM t WHERE ts + 300000 < ?1 * 86400000)
		INSERT OR IGNORE INTO results(check_id, ts, dur, state, value)
		SELECT c.id, t.ts, 1000, 0, 100 + (t.ts / 3600000) % 24 + c.id % 10 FROM checks c CROSS JOIN t WHERE c.name >= 'c0960'`,
	} {
		if _, err := db.Exec(q, today); err != nil {
			return fmt.Errorf("%.60s: %w", q, err)
		}
	}
	return nil
}

// BenchmarkDash renders each dashboard of 1,000 checks × 90 days: "warm"
// with the finished days cached and today's trend point read within its
// minute (partialTTL), "cold" on a new server each time, every cache empty
// (the first render after a start). The rendered-page cache (10 s) is
// bypassed in both, so every render reads the states and KPIs (BuildStatus)
// afresh.
func BenchmarkDash(b *testing.B) {
	benchOnce.Do(func() {
		benchDir = b.TempDir()
		benchErr = seedBench(b, benchDir)
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	cfg, err := config.Load(filepath.Join(benchDir, "pulse.toml"))
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.Open(cfg.Agent.Database, store.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	newServer := func() *Server {
		return New(Options{Store: st, Config: func() *config.Config { return cfg }, Now: func() time.Time { return now }})
	}
	for _, page := range []string{"executive", "operations"} {
		for _, cold := range []bool{false, true} {
			name := page
			if cold {
				name += "/cold"
			}
			b.Run(name, func(b *testing.B) {
				srv := newServer()
				render := func() int {
					srv.dash.pages = nil
					if cold {
						srv = newServer() // every cache empty: the first render after a start
					}
					rec := httptest.NewRecorder()
					srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/dash/"+page, nil))
					if rec.Code != 200 {
						b.Fatalf("GET /dash/%s = %d: %.300s", page, rec.Code, rec.Body)
					}
					return rec.Body.Len()
				}
				size := render()
				if n := strings.Count(string(srv.dash.pages[page].body), "<tr class=\""); n < 13 {
					b.Fatalf("%d rows", n)
				}
				// CPU time as well as wall time: on a shared machine the wall
				// time is mostly waiting for a core.
				cpu0 := cpuTime()
				b.ResetTimer()
				for range b.N {
					render()
				}
				b.StopTimer()
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64(size)/1024, "KiB/page")
			})
		}
	}
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
