package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/notify"
)

// The tests of CopyToPostgres are named TestPostgres... so that the
// PostgreSQL run of the suite (TestSuiteOnPostgres) does not repeat them.

var copyNames = []string{"api", "db", "web", "cron"}

// copyFixture builds, with the store's own API, a SQLite history with
// something in every table, and returns its path once closed.
func copyFixture(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pulse.db")
	s, err := Open(path, Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.WatchStart(ctx, "cron", "heartbeat"); err != nil {
		t.Fatal(err)
	}
	// Three days and a bit of results every 20 minutes: ok, warn, crit,
	// with values, messages and perf.
	var recs []Record
	i := 0
	for ts := t0.Add(-3*24*time.Hour - 7*time.Minute); ts.Before(t0); ts = ts.Add(20 * time.Minute) {
		for c, name := range copyNames {
			i++
			r := result(name, ts.Add(time.Duration(c)*time.Second+time.Duration(i%1000)*time.Millisecond), checks.OK,
				time.Duration(1000+(i*37)%90_000)*time.Microsecond)
			switch {
			case i%17 == 0:
				r.State, r.Message = checks.Crit, "status 503, expected 200"
			case i%23 == 0:
				r.State, r.Message = checks.Warn, fmt.Sprintf("slow: %d ms ≥ 500 ms", 500+i%7)
			case i%41 == 0:
				r.State, r.Message = checks.Unknown, "dial tcp: lookup db: no such host"
			}
			if c%2 == 0 {
				r.SetValue(float64(i%1000) / 7)
			}
			if name == "db" {
				r.Perf = []checks.Perf{{Label: "conns", Value: float64(i % 50), Max: "100"}, {Label: "lag", Value: 0.25, UOM: "s", Warn: "1"}}
			}
			recs = append(recs, Record{Result: r})
		}
	}
	submit(t, s, recs...)
	if n, err := s.CompactRollups(ctx, t0); err != nil || n == 0 {
		t.Fatalf("CompactRollups = %d, %v", n, err)
	}

	// Incidents with timelines, one acknowledged, one resolved; the
	// newest one deleted by hand never gives its id again.
	id1 := openIncident(t, s, "api", "P1", t0.Add(-2*time.Hour))
	id2 := openIncident(t, s, "db", "P2", t0.Add(-time.Hour))
	id3 := openIncident(t, s, "web", "P3", t0.Add(-30*time.Minute))
	submit(t, s, Record{Apply: func(tx Tx) error {
		if err := tx.AddEvent(id1, t0.Add(-110*time.Minute), EventNotified, "opened → ops"); err != nil {
			return err
		}
		return tx.AddEvent(id2, t0.Add(-50*time.Minute), EventEscalated, "to P1")
	}})
	if _, err := s.Ack(ctx, id1, "alice", "on it", t0.Add(-100*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ctx, id2, "bob", t0.Add(-10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	_ = id3

	// Outbox rows: pending, sent, about no incident.
	item := func(id int64, event string) notify.Item {
		return notify.Item{Event: event, At: t0, Incident: notify.Incident{ID: id, Key: "agent-1", Severity: "P1"},
			Check: notify.Check{Name: "api", Type: "http"}}
	}
	var sent int64
	submit(t, s, Record{Apply: func(tx Tx) error {
		var err error
		if _, err = tx.Enqueue(OutboxEntry{Notifier: "ops", IncidentID: id1, Item: item(id1, "opened"), DueAt: t0.Add(time.Minute), Batchable: true}); err != nil {
			return err
		}
		if sent, err = tx.Enqueue(OutboxEntry{Notifier: "oncall", IncidentID: id2, Item: item(id2, "opened"), DueAt: t0}); err != nil {
			return err
		}
		_, err = tx.Enqueue(OutboxEntry{Notifier: "ops", Item: item(0, "flapping"), DueAt: t0})
		return err
	}})
	if err := s.MarkSent(ctx, []int64{sent}, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}

	// What people wrote (issue 17): an update, a postmortem, a subscriber,
	// an annotation.
	for _, q := range []string{
		`INSERT INTO incident_updates(incident_id, at, status, message, public, author) VALUES(1, 1, 'investigating', 'looking', 1, 'alice')`,
		`INSERT INTO postmortems(incident_id, body, written_at, author) VALUES(2, '# what happened', 2, 'bob')`,
		`INSERT INTO subscribers(kind, address, created_at, confirmed_at) VALUES('email', 'a@example.com', 3, 4)`,
		`INSERT INTO annotations(at, tag, message, author) VALUES(5, 'deploy', 'v1.2.3', 'ci')`,
	} {
		if _, err := s.w.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	// Silences: the newest removed, so SQLite's sequence is past the max id.
	if _, err := s.AddSilence(ctx, Silence{Pattern: "api-*", Until: t0.Add(time.Hour), Reason: "deploy", CreatedBy: "ann", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	gone, err := s.AddSilence(ctx, Silence{Pattern: "tag:db", Until: t0.Add(time.Hour), CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveSilence(ctx, gone); err != nil {
		t.Fatal(err)
	}

	if err := s.RecordPing(ctx, "cron", PingStart, t0.Add(-time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordPing(ctx, "cron", PingSuccess, t0, "backup done: 3 GB"); err != nil {
		t.Fatal(err)
	}
	submit(t, s, Record{Apply: func(tx Tx) error {
		if err := tx.SaveState("api", []byte(`{"state":"crit","since":1}`)); err != nil {
			return err
		}
		return tx.SaveState("db", []byte(`{"state":"ok"}`))
	}})
	if err := s.SetMeta(ctx, "daily_report", "2026-02-28"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// storeView is what the store's read methods return, for comparing two stores.
func storeView(t *testing.T, s *Store) map[string]any {
	t.Helper()
	ctx := context.Background()
	from, to := t0.Add(-30*24*time.Hour), t0.Add(time.Hour)
	v := map[string]any{}
	must := func(name string, x any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s on %s: %v", name, s.Path(), err)
		}
		v[name] = x
	}
	cs, err := s.Checks(ctx)
	must("Checks", cs, err)
	for _, name := range copyNames {
		rs, err := s.Results(ctx, name, from, to, 0)
		must("Results "+name, rs, err)
		rl, err := s.Rollups(ctx, name, from, to)
		must("Rollups "+name, rl, err)
		p, err := s.LastPings(ctx, name)
		must("LastPings "+name, p, err)
	}
	all, err := s.AllRollups(ctx, from, to)
	must("AllRollups", all, err)
	for i, span := range [][2]time.Time{{from, to}, {t0.Add(-50 * time.Hour), t0.Add(-90 * time.Minute)}} {
		tot, err := s.Totals(ctx, span[0], span[1])
		must(fmt.Sprintf("Totals %d", i), tot, err)
	}
	incs, err := s.Incidents(ctx, IncidentFilter{})
	must("Incidents", incs, err)
	for _, inc := range incs {
		tl, err := s.Timeline(ctx, inc.ID)
		must(fmt.Sprintf("Timeline %d", inc.ID), tl, err)
		ns, err := s.IncidentNotifications(ctx, inc.ID)
		must(fmt.Sprintf("IncidentNotifications %d", inc.ID), ns, err)
	}
	sl, err := s.Silences(ctx, t0)
	must("Silences", sl, err)
	st, err := s.LoadStates(ctx)
	must("LoadStates", st, err)
	po, err := s.PendingOutbox(ctx)
	must("PendingOutbox", po, err)
	for _, k := range []string{"daily_report", dailyThroughKey, dailyCheckKey} {
		m, ok, err := s.GetMeta(ctx, k)
		must("GetMeta "+k, fmt.Sprint(m, ok), err)
	}
	return v
}

func copyTo(t *testing.T, path, url string, opts CopyOptions) (CopyStats, error) {
	t.Helper()
	return CopyToPostgres(context.Background(), path, url, opts)
}

// rowsIn counts the rows of every copied table at url.
func rowsIn(t *testing.T, url string) map[string]int64 {
	t.Helper()
	s, err := Open(url, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]int64{}
	for _, table := range copyTables {
		out[table] = count(t, s, `SELECT count(*) FROM `+table)
	}
	return out
}

func TestPostgresCopy(t *testing.T) {
	url := pgTarget(t)
	path := copyFixture(t)
	var reports []CopyProgress
	stats, err := copyTo(t, path, url, CopyOptions{Progress: func(p CopyProgress) { reports = append(reports, p) }})
	if err != nil {
		t.Fatal(err)
	}
	src := openTest(t, path, Options{ReadOnly: true})
	dst := openTest(t, url, Options{ReadOnly: true})

	// Per-table counts: every table, each as in the file, reported as done.
	if len(stats.Tables) != len(copyTables) || len(reports) != len(copyTables) {
		t.Fatalf("stats = %+v, reports = %+v", stats, reports)
	}
	var sum int64
	for i, tc := range stats.Tables {
		want := count(t, src, `SELECT count(*) FROM `+tc.Table)
		if tc.Table != copyTables[i] || tc.Rows != want || want == 0 {
			t.Errorf("table %s: copied %d rows, the file holds %d (every table of the fixture must hold rows)", tc.Table, tc.Rows, want)
		}
		if r := reports[i]; r.Table != tc.Table || !r.Done || r.Rows != tc.Rows || r.Total != tc.Rows {
			t.Errorf("report %d = %+v", i, r)
		}
		sum += tc.Rows
	}
	if stats.Rows != sum || stats.Schema != SchemaVersion() || stats.Source != path {
		t.Errorf("stats = %+v", stats)
	}

	want, got := storeView(t, src), storeView(t, dst)
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s differs after the copy:\nSQLite:     %+v\nPostgreSQL: %+v", k, want[k], got[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("views have %d and %d entries", len(got), len(want))
	}
}

// TestPostgresCopyIDs: after the copy, rows inserted through the store on
// PostgreSQL get ids past the copied ones (and past the ids SQLite handed
// out to rows since deleted).
func TestPostgresCopyIDs(t *testing.T) {
	url := pgTarget(t)
	path := copyFixture(t)
	if _, err := copyTo(t, path, url, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, url, Options{Now: func() time.Time { return t0 }})
	ctx := context.Background()
	maxOf := func(table string) int64 { return count(t, s, `SELECT max(id) FROM `+table) }
	incMax, evMax, outMax, chkMax, msgMax := maxOf("incidents"), maxOf("incident_events"), maxOf("outbox"), maxOf("checks"), maxOf("messages")

	id := openIncident(t, s, "new-check", "P2", t0) // a check, an incident, an event
	var out int64
	submit(t, s, Record{Apply: func(tx Tx) error {
		var err error
		out, err = tx.Enqueue(OutboxEntry{Notifier: "ops", IncidentID: id, Item: notify.Item{Event: "opened"}, DueAt: t0})
		return err
	}})
	r := result("new-check", t0, checks.Crit, time.Millisecond)
	r.Message = "a message never seen before"
	submit(t, s, Record{Result: r})
	if id != incMax+1 {
		t.Errorf("new incident #%d, want #%d", id, incMax+1)
	}
	if out != outMax+1 {
		t.Errorf("new outbox row %d, want %d", out, outMax+1)
	}
	if n := maxOf("incident_events"); n != evMax+1 {
		t.Errorf("new timeline event %d, want %d", n, evMax+1)
	}
	if n := count(t, s, `SELECT id FROM checks WHERE name = 'new-check'`); n <= chkMax {
		t.Errorf("new check id %d, want > %d", n, chkMax)
	}
	if n := count(t, s, `SELECT id FROM messages WHERE text = 'a message never seen before'`); n <= msgMax {
		t.Errorf("new message id %d, want > %d", n, msgMax)
	}
	// Silence 2 was removed in SQLite: 3 is next, as it would have been there.
	sid, err := s.AddSilence(ctx, Silence{Pattern: "x", Until: t0.Add(time.Hour), CreatedAt: t0})
	if err != nil || sid != 3 {
		t.Errorf("new silence %d, %v; want 3", sid, err)
	}
}

// TestPostgresCopyRefusesNonEmpty: a second copy into the same schema is
// refused, saying why, and changes nothing.
func TestPostgresCopyRefusesNonEmpty(t *testing.T) {
	url := pgTarget(t)
	path := copyFixture(t)
	if _, err := copyTo(t, path, url, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	before := rowsIn(t, url)
	_, err := copyTo(t, path, url, CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), "already holds pulse data") || !strings.Contains(err.Error(), "empty database or schema") {
		t.Fatalf("second copy: %v", err)
	}
	if after := rowsIn(t, url); !reflect.DeepEqual(after, before) {
		t.Fatalf("rows after a refused copy = %v, before %v", after, before)
	}
}

// TestPostgresCopyRefusesRunningAgent: the agent lock on the file (or on
// the target) held means an agent runs there: refused.
func TestPostgresCopyRefusesRunningAgent(t *testing.T) {
	url := pgTarget(t)
	path := copyFixture(t)
	for _, locked := range []string{path, url} {
		lock, err := LockAgent(locked)
		if err != nil {
			t.Fatal(err)
		}
		_, err = copyTo(t, path, url, CopyOptions{})
		lock.Unlock()
		var le *LockedError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), "stop it first") {
			t.Fatalf("copy while %s is locked: %v, want a *LockedError", locked, err)
		}
	}
	// Refused before anything was written: the target has no tables yet.
	var se *SchemaError
	if s, err := Open(url, Options{ReadOnly: true}); !errors.As(err, &se) || se.Have != 0 {
		if s != nil {
			s.Close()
		}
		t.Fatalf("target after refused copies: %v, want schema 0", err)
	}
}

// TestPostgresCopyRollsBack: a copy that fails midway (here its context
// ends after the first table) leaves the target without a row, and its
// identities as they were; the next copy succeeds.
func TestPostgresCopyRollsBack(t *testing.T) {
	url := pgTarget(t)
	path := copyFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := CopyToPostgres(ctx, path, url, CopyOptions{Progress: func(p CopyProgress) {
		if p.Done && p.Table == "checks" {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) && !strings.Contains(fmt.Sprint(err), "context canceled") {
		t.Fatalf("copy with its context cancelled: %v", err)
	}
	for table, n := range rowsIn(t, url) {
		if n != 0 {
			t.Errorf("%d rows in %s after a failed copy", n, table)
		}
	}
	// The identities did not move: a new incident there is #1.
	func() {
		s, err := Open(url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if id := openIncident(t, s, "x", "P1", t0); id != 1 {
			t.Errorf("first incident after a failed copy is #%d, want #1", id)
		}
		// Empty it again for the next copy.
		for _, table := range []string{"incident_events", "incidents", "checks"} {
			if _, err := s.w.Exec(`DELETE FROM ` + table); err != nil {
				t.Fatal(err)
			}
		}
	}()
	if _, err := copyTo(t, path, url, CopyOptions{}); err != nil {
		t.Fatalf("copy after a failed one: %v", err)
	}
}

// TestPostgresCopyRefusesSchema: a file this binary would have to upgrade,
// or none at all, is refused with a message saying what to do.
func TestPostgresCopyRefusesSchema(t *testing.T) {
	url := pgTarget(t)
	path := copyFixture(t)
	setUserVersion(t, path, SchemaVersion()-1)
	_, err := copyTo(t, path, url, CopyOptions{})
	var se *SchemaError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "pulse run") {
		t.Fatalf("copy of an old schema: %v", err)
	}
	_, err = copyTo(t, filepath.Join(t.TempDir(), "none.db"), url, CopyOptions{})
	if err == nil || !strings.Contains(err.Error(), "no SQLite database at") {
		t.Fatalf("copy of no file: %v", err)
	}
}

// TestPostgresCopyHidesPassword: errors name the target without its password.
func TestPostgresCopyHidesPassword(t *testing.T) {
	path := copyFixture(t)
	_, err := copyTo(t, path, "postgres://pulse:hunter2@127.0.0.1:1/pulse?sslmode=disable&connect_timeout=2", CopyOptions{})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("copy to a closed port: %v", err)
	}
}

// BenchmarkPostgresCopy copies a file of 1,000,000 results (100 checks,
// 10,000 each at a minute's interval, one in 50 failing with a message)
// into PostgreSQL.
func BenchmarkPostgresCopy(b *testing.B) {
	const nChecks, perCheck = 100, 10_000
	path := filepath.Join(b.TempDir(), "pulse.db")
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for c := range nChecks {
		if _, err := s.WatchStart(context.Background(), fmt.Sprintf("check-%03d", c), "http"); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.w.Exec(`INSERT INTO messages(id, text, last_ts) VALUES(1, 'status 503, expected 200', 0)`); err != nil {
		b.Fatal(err)
	}
	if _, err := s.w.Exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO results(check_id, ts, dur, state, value, msg, perf)
		SELECT c.id, ? + n.i * 60000, 1000 + (n.i * 37) % 90000, CASE WHEN n.i % 50 = 0 THEN 3 ELSE 0 END,
			CASE WHEN c.id % 4 = 0 THEN n.i % 1000 * 1.5 END, CASE WHEN n.i % 50 = 0 THEN 1 END, NULL
		FROM checks c CROSS JOIN n`, perCheck-1, msOf(t0)); err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		url := pgTarget(b)
		b.StartTimer()
		st, err := CopyToPostgres(context.Background(), path, url, CopyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if st.Tables[2].Rows != nChecks*perCheck {
			b.Fatalf("copied %d results", st.Tables[2].Rows)
		}
	}
	b.ReportMetric(float64(nChecks*perCheck)*float64(b.N)/b.Elapsed().Seconds(), "results/s")
}
