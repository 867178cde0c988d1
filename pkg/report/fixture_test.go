package report

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const fixtureTOML = `
[agent]
name = "test-agent"
database = "pulse.db"
timezone = "Europe/Berlin"
public_url = "https://status.example.com"

[[check]]
name = "api"
type = "http"
url = "http://127.0.0.1:9/health"
tags = ["api", "edge"]

[[check]]
name = "db"
type = "sql"
driver = "sqlite"
dsn = "file:app.db"
query = "SELECT 1"
tags = ["db"]

[[check]]
name = "orders"
type = "metric"
source = "sql"
driver = "sqlite"
dsn = "file:app.db"
query = "SELECT count(*) FROM orders"
compare = "1d"
crit_if_drop = 50

[[check]]
name = "never-ran"
type = "tcp"
address = "127.0.0.1:9"

[[notifier]]
name = "team"
type = "webhook"
url = "http://127.0.0.1:9/hook"

[report]
notify = ["team"]
`

// fixtureConfig parses fixtureTOML, anchored in dir.
func fixtureConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(dir, "pulse.toml"), []byte(fixtureTOML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("parse fixture config: %v", err)
	}
	return cfg
}

// The fixture's day: 2026-03-29 in Europe/Berlin, the 23-hour day when
// clocks go forward, from 2026-03-28T23:00Z to 2026-03-29T22:00Z.
var (
	fixDay0 = time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC)
	fixDay1 = time.Date(2026, 3, 29, 22, 0, 0, 0, time.UTC)
	fixPrev = time.Date(2026, 3, 27, 23, 0, 0, 0, time.UTC) // the day before, 24 hours
)

type fixture struct {
	cfg   *config.Config
	st    *store.Store
	clock *time.Time
}

// newFixture fills a real database through the store's write path:
//
//   - api (http): every 10 minutes both days, 100ms the day before, 120ms on
//     the day, except three crit runs of 2s at 08:00Z, 08:10Z, 08:20Z;
//   - db (sql): added mid-day, every 10 minutes from 10:00Z, 20ms, one warn
//     run of 150ms at 15:00Z;
//   - orders (metric): hourly at :30, 100 the day before, 80 on the day
//     except 40 at 12:30Z;
//   - never-ran: configured, no results;
//   - incidents #1 api P1 08:05Z, acked 08:10Z by alice, resolved 08:50Z;
//     #2 orders P4 from 22:30Z the day before to 23:30Z (spans midnight);
//     #3 db P3 opened 20:00Z, still open;
//   - one failed notification of #1 to team;
//   - postmortems written on the day: #2 (public), #1 (private).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	cfg := fixtureConfig(t, dir)
	f := &fixture{cfg: cfg, clock: new(time.Time)}
	*f.clock = fixDay1
	st, err := store.Open(filepath.Join(dir, "pulse.db"), store.Options{Now: func() time.Time { return *f.clock }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st

	submit := func(r checks.Result) {
		t.Helper()
		if err := st.Submit(store.Record{Result: r}); err != nil {
			t.Fatal(err)
		}
	}
	for ts := fixPrev; ts.Before(fixDay1); ts = ts.Add(10 * time.Minute) {
		r := checks.Result{Check: "api", Start: ts, Duration: 100 * time.Millisecond, State: checks.OK, Message: "200 OK"}
		if !ts.Before(fixDay0) {
			r.Duration = 120 * time.Millisecond
		}
		if ts.Day() == 29 && ts.Hour() == 8 && ts.Minute() <= 20 {
			r.State, r.Duration, r.Message = checks.Crit, 2*time.Second, "status 503, expected 200"
		}
		submit(r)
		if ts.Minute() == 30 {
			v := 100.0
			if !ts.Before(fixDay0) {
				v = 80
				if ts.Day() == 29 && ts.Hour() == 12 {
					v = 40
				}
			}
			o := checks.Result{Check: "orders", Start: ts, Duration: 5 * time.Millisecond, State: checks.OK}
			o.SetValue(v)
			submit(o)
		}
		if ts.Day() == 29 && ts.Hour() >= 10 {
			d := checks.Result{Check: "db", Start: ts, Duration: 20 * time.Millisecond, State: checks.OK}
			if ts.Hour() == 15 && ts.Minute() == 0 {
				d.State, d.Duration, d.Message = checks.Warn, 150*time.Millisecond, "query took 150ms, expected under 100ms"
			}
			d.SetValue(1)
			submit(d)
		}
	}
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var incID int64
	apply := func(fn func(tx store.Tx) error) {
		t.Helper()
		done := make(chan error, 1)
		if err := st.Submit(store.Record{Apply: fn, Done: func(err error) { done <- err }}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	apply(func(tx store.Tx) error {
		id, err := tx.InsertIncident(&store.Incident{Check: "orders", Type: "metric", Severity: "P4", State: "warn", Status: store.StatusResolved,
			Message: "orders dropped 45% against 1d ago", OpenedAt: at("2026-03-28T22:30:00Z"), ResolvedAt: at("2026-03-28T23:30:00Z")})
		_ = id
		return err
	})
	*f.clock = at("2026-03-29T08:05:00Z")
	apply(func(tx store.Tx) error {
		var err error
		incID, err = tx.InsertIncident(&store.Incident{Check: "api", Type: "http", Severity: "P1", State: "crit", Status: store.StatusResolved,
			Message: "status 503, expected 200", OpenedAt: at("2026-03-29T08:05:00Z"), AckedAt: at("2026-03-29T08:10:00Z"), AckedBy: "alice",
			ResolvedAt: at("2026-03-29T08:50:00Z")})
		if err != nil {
			return err
		}
		_, err = tx.Enqueue(store.OutboxEntry{Notifier: "team", IncidentID: incID, DueAt: at("2026-03-29T08:05:00Z"),
			Item: notify.Item{Event: alert.DeliverOpened, At: at("2026-03-29T08:05:00Z")}})
		return err
	})
	apply(func(tx store.Tx) error {
		_, err := tx.InsertIncident(&store.Incident{Check: "db", Type: "sql", Severity: "P3", State: "warn",
			Message: "query took 150ms, expected under 100ms", OpenedAt: at("2026-03-29T20:00:00Z")})
		return err
	})
	ctx := context.Background()
	if err := st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := st.PendingOutbox(ctx)
	if err != nil || len(rows) != 1 {
		t.Fatalf("pending outbox = %d rows, %v; want 1", len(rows), err)
	}
	if err := st.MarkFailed(ctx, []int64{rows[0].ID}, "receiver answered 404", "not found", at("2026-03-29T08:06:00Z")); err != nil {
		t.Fatal(err)
	}
	// Postmortems: #2's public one on the day, #1's private one on the day,
	// and #1's written the day before (rewritten later, so it counts on
	// the day it was last written).
	for _, pm := range []struct {
		at     string
		id     int64
		body   string
		public bool
	}{
		{"2026-03-28T12:00:00Z", 1, "draft", false},
		{"2026-03-29T09:30:00Z", incID, "# API outage: a bad <b>deploy</b>\n\nWe rolled back.", true},
		{"2026-03-29T18:00:00Z", 1, "\n## Orders dip\n\nA marketing email went out late.", false},
	} {
		*f.clock = at(pm.at)
		if _, err := st.SetPostmortem(ctx, pm.id, pm.body, "alice", pm.public); err != nil {
			t.Fatal(err)
		}
	}
	*f.clock = fixDay1
	return f
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
