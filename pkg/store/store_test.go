package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3" // also the "sqlite3" driver, to tamper with files by hand
	"github.com/pulse-monitor/pulse/checks"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := testTarget(t)
	return openTest(t, path, Options{Now: func() time.Time { return t0 }}), path
}

func result(check string, start time.Time, state checks.State, d time.Duration) checks.Result {
	return checks.Result{Check: check, Start: start, Duration: d, State: state, Message: fmt.Sprintf("%s in %s", state, d)}
}

func submit(t testing.TB, s *Store, recs ...Record) {
	t.Helper()
	for _, r := range recs {
		if err := s.Submit(r); err != nil {
			t.Fatalf("Submit: %v", err)
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func count(t testing.TB, s *Store, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.r.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func pragma(t testing.TB, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	sqliteOnly(t, "files")
	old := syscall.Umask(0) // a careless umask must not leak the database
	defer syscall.Umask(old)
	s, path := newStore(t)
	submit(t, s, Record{Result: result("api", t0, checks.OK, time.Millisecond)})
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), got)
		}
	}
}

func TestMigrations(t *testing.T) {
	sqliteOnly(t, "pragmas")
	path := testTarget(t)
	s := openTest(t, path, Options{})
	for name, want := range map[string]string{
		"user_version": fmt.Sprint(SchemaVersion()),
		"auto_vacuum":  "2", // incremental: set before the first table
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "1", // normal
	} {
		if got := pragma(t, s.w, name); got != want {
			t.Errorf("PRAGMA %s = %s, want %s", name, got, want)
		}
	}
	if SchemaVersion() < 1 {
		t.Fatalf("SchemaVersion() = %d", SchemaVersion())
	}
	submit(t, s, Record{Result: result("api", t0, checks.OK, time.Millisecond), State: []byte(`{"n":1}`)})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Opening again migrates nothing and loses nothing.
	s2 := openTest(t, path, Options{})
	if got := pragma(t, s2.w, "user_version"); got != fmt.Sprint(SchemaVersion()) {
		t.Errorf("user_version after reopen = %s", got)
	}
	if n := count(t, s2, "SELECT count(*) FROM results"); n != 1 {
		t.Errorf("results after reopen = %d, want 1", n)
	}
}

func TestMigrationFilesNumbered(t *testing.T) {
	for _, dir := range []string{sqliteMigrations, postgresMigrations} {
		ms, err := migrations(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range ms {
			if m.version != i+1 || !strings.HasPrefix(m.name, fmt.Sprintf("%04d_", i+1)) {
				t.Errorf("%s: migration %d is %s", dir, i+1, m.name)
			}
		}
	}
}

func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	sqliteOnly(t, "user_version")
	dir := t.TempDir()
	path := filepath.Join(dir, "pulse.db")
	s := openTest(t, path, Options{})
	s.Close()
	setUserVersion(t, path, 9)
	for _, ro := range []bool{false, true} {
		t.Run(fmt.Sprintf("readonly=%v", ro), func(t *testing.T) {
			_, err := Open(path, Options{ReadOnly: ro})
			want := fmt.Sprintf("database %s was written by a newer pulse (schema 9; this pulse knows up to %d): upgrade pulse or use another --db",
				path, SchemaVersion())
			if err == nil || err.Error() != want {
				t.Fatalf("Open = %v,\nwant %s", err, want)
			}
			var se *SchemaError
			if !errors.As(err, &se) || se.Have != 9 {
				t.Errorf("error %T is not a *SchemaError with Have 9", err)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	t.Run("missing file is not created", func(t *testing.T) {
		sqliteOnly(t, "files")
		p := filepath.Join(dir, "missing.db")
		if _, err := Open(p, Options{ReadOnly: true}); err == nil {
			t.Fatal("Open of a missing file succeeded")
		}
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read-only Open created %s", p)
		}
	})
	t.Run("older schema is refused", func(t *testing.T) {
		sqliteOnly(t, "files")
		p := filepath.Join(dir, "old.db")
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(p, Options{ReadOnly: true})
		if err == nil || !strings.Contains(err.Error(), "has schema 0 but this pulse needs") ||
			!strings.Contains(err.Error(), "pulse run") {
			t.Fatalf("Open = %v", err)
		}
	})
	t.Run("reads while a writer runs, writes refused", func(t *testing.T) {
		p := testTarget(t)
		w := openTest(t, p, Options{})
		submit(t, w, Record{Result: result("api", t0, checks.Crit, time.Second)})
		r := openTest(t, p, Options{ReadOnly: true})
		last, err := r.LastResults(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got := last["api"]; got.State != checks.Crit || !got.Start.Equal(t0) {
			t.Errorf("LastResults[api] = %+v", got)
		}
		if err := r.Submit(Record{Result: result("api", t0, checks.OK, 0)}); !errors.Is(err, ErrReadOnly) {
			t.Errorf("Submit on read-only store = %v", err)
		}
		if err := r.RecordPing(context.Background(), "hb", PingSuccess, t0, ""); !errors.Is(err, ErrReadOnly) {
			t.Errorf("RecordPing on read-only store = %v", err)
		}
	})
}

func TestRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	withValue := result("db", t0, checks.Warn, 1500*time.Microsecond)
	withValue.SetValue(42.5)
	integral := result("db", t0.Add(time.Minute), checks.OK, 0)
	integral.SetValue(-7)
	perf := result("db", t0.Add(2*time.Minute), checks.Crit, 2*time.Second)
	perf.Message = "DISK CRITICAL - free space: / 120 MB (2%)"
	perf.Perf = []checks.Perf{
		{Label: "/", Value: 120, UOM: "MB", Warn: "500", Crit: "200", Min: "0", Max: "6000"},
		{Label: "time", Value: 0.012, UOM: "s"},
		{Label: "neg", Value: -3.25},
	}
	unknown := result("db", t0.Add(3*time.Minute), checks.Unknown, 10*time.Second)
	unknown.Message = "no row"
	ok := result("db", t0.Add(4*time.Minute), checks.OK, 3*time.Millisecond)
	ok.Message = "200 OK in 3ms"
	in := []checks.Result{withValue, integral, perf, unknown, ok}
	var recs []Record
	for _, r := range in {
		recs = append(recs, Record{Result: r})
	}
	submit(t, s, recs...)

	got, err := s.Results(ctx, "db", t0, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("Results returned %d results, want %d", len(got), len(in))
	}
	for i, w := range in {
		if w.State == checks.OK {
			w.Message = "" // only the latest ok result keeps its message
		}
		t.Run(fmt.Sprint(i, w.State), func(t *testing.T) { equalResult(t, got[i], w) })
	}
	last, err := s.LastResults(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equalResult(t, last["db"], ok)

	t.Run("limit keeps the newest", func(t *testing.T) {
		got, err := s.Results(ctx, "db", t0, t0.Add(time.Hour), 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !got[0].Start.Equal(unknown.Start) || !got[1].Start.Equal(ok.Start) {
			t.Errorf("Results limit 2 = %v", got)
		}
	})
	t.Run("range is half open", func(t *testing.T) {
		got, err := s.Results(ctx, "db", t0.Add(time.Minute), t0.Add(3*time.Minute), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !got[0].Start.Equal(integral.Start) || !got[1].Start.Equal(perf.Start) {
			t.Errorf("Results [1m, 3m) = %v", got)
		}
	})
	t.Run("messages are a dictionary", func(t *testing.T) {
		for i := range 5 {
			r := result("db", t0.Add(time.Duration(10+i)*time.Minute), checks.Crit, time.Second)
			r.Message = "status 503, expected 200"
			submit(t, s, Record{Result: r})
		}
		if n := count(t, s, "SELECT count(*) FROM messages WHERE text = 'status 503, expected 200'"); n != 1 {
			t.Errorf("message stored %d times", n)
		}
		if n := count(t, s, "SELECT count(*) FROM results WHERE msg = (SELECT id FROM messages WHERE text = 'status 503, expected 200')"); n != 5 {
			t.Errorf("%d results refer to the message, want 5", n)
		}
	})
	t.Run("checks", func(t *testing.T) {
		rows, err := s.Checks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Name != "db" || !rows[0].FirstSeen.Equal(t0) || rows[0].Last.State != checks.Crit {
			t.Errorf("Checks = %+v", rows)
		}
	})
}

func equalResult(t *testing.T, got, want checks.Result) {
	t.Helper()
	if got.Check != want.Check || !got.Start.Equal(want.Start) || got.Duration != want.Duration ||
		got.State != want.State || got.Message != want.Message || got.HasValue != want.HasValue || got.Value != want.Value {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if len(got.Perf) != len(want.Perf) {
		t.Fatalf("perf: got %+v, want %+v", got.Perf, want.Perf)
	}
	for i := range want.Perf {
		if got.Perf[i] != want.Perf[i] {
			t.Errorf("perf[%d] = %+v, want %+v", i, got.Perf[i], want.Perf[i])
		}
	}
}

func TestApplyFailureIsolated(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.w.Exec(`CREATE TABLE events(check_name TEXT NOT NULL, n INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	insert := func(name string, n int) func(tx Tx) error {
		return func(tx Tx) error {
			_, err := tx.tx.Exec(`INSERT INTO events VALUES(?, ?)`, name, n)
			return err
		}
	}
	errBoom := errors.New("boom")
	var mu sync.Mutex
	done := map[string]error{}
	recDone := func(name string) func(error) {
		return func(err error) { mu.Lock(); done[name] = err; mu.Unlock() }
	}
	s.mu.Lock() // hold the writer's input so all records land in one batch
	recs := []Record{
		{Result: result("a", t0, checks.Crit, time.Second), Apply: insert("a", 1), Done: recDone("a")},
		{Result: result("b", t0, checks.Crit, time.Second), Done: recDone("b"), Apply: func(tx Tx) error {
			if err := insert("b", 1)(tx); err != nil { // a partial write that must vanish
				return err
			}
			return errBoom
		}},
		{Result: result("c", t0, checks.Crit, time.Second), Apply: func(tx Tx) error {
			_, err := tx.tx.Exec(`INSERT INTO events VALUES(NULL, 1)`) // constraint violation
			return err
		}, Done: recDone("c")},
		{Result: result("d", t0, checks.OK, time.Second), Apply: insert("d", 1), Done: recDone("d")},
	}
	for _, r := range recs {
		s.queue <- item{rec: r}
	}
	s.mu.Unlock()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]error{"a": nil, "b": errBoom, "d": nil} {
		if got := done[name]; !errors.Is(got, want) {
			t.Errorf("Done(%s) got %v, want %v", name, got, want)
		}
	}
	if done["c"] == nil || !strings.Contains(strings.ToLower(done["c"].Error()), "not null") && !strings.Contains(done["c"].Error(), "not-null") {
		t.Errorf("Done(c) got %v, want a NOT NULL constraint error", done["c"])
	}
	if n := count(t, s, `SELECT count(*) FROM events`); n != 2 {
		t.Errorf("%d event rows, want 2 (a and d)", n)
	}
	if n := count(t, s, `SELECT count(*) FROM events WHERE check_name = 'b'`); n != 0 {
		t.Errorf("the failed record's partial write was kept")
	}
	if n := count(t, s, `SELECT count(*) FROM results`); n != 2 {
		t.Errorf("%d results, want 2: a failed record's result goes with it", n)
	}
}

func TestDoneAfterCommit(t *testing.T) {
	s, _ := newStore(t)
	var commits []int
	var mu sync.Mutex
	s.SetOnCommit(func(n int) { mu.Lock(); commits = append(commits, n); mu.Unlock() })
	seen := make(chan int64, 1)
	s.mu.Lock()
	s.queue <- item{rec: Record{Result: result("api", t0, checks.OK, time.Millisecond)}}
	s.queue <- item{rec: Record{Result: result("api", t0.Add(time.Second), checks.OK, time.Millisecond), Done: func(err error) {
		if err != nil {
			t.Errorf("Done(%v)", err)
		}
		// A read connection sees only committed data.
		var n int64
		if err := s.r.QueryRow(`SELECT count(*) FROM results`).Scan(&n); err != nil {
			t.Error(err)
		}
		seen <- n
	}}}
	s.mu.Unlock()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := <-seen; n != 2 {
		t.Errorf("Done saw %d committed results, want 2", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(commits) != 1 || commits[0] != 2 {
		t.Errorf("OnCommit calls %v, want [2]", commits)
	}
}

func TestCloseLosesNothing(t *testing.T) {
	path := testTarget(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	const producers, each = 10, 1000
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range each {
				r := result(fmt.Sprintf("check-%d", p), t0.Add(time.Duration(i)*time.Second), checks.State(i%4), time.Duration(i)*time.Microsecond)
				if err := s.Submit(Record{Result: r}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Submit(Record{Result: result("late", t0, checks.OK, 0)}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	s2 := openTest(t, path, Options{ReadOnly: true})
	if n := count(t, s2, `SELECT count(*) FROM results`); n != producers*each {
		t.Errorf("%d results on disk, want %d", n, producers*each)
	}
	if n := count(t, s2, `SELECT sum(runs) FROM rollups`); n != producers*each {
		t.Errorf("rollups count %d runs, want %d", n, producers*each)
	}
}

func TestConcurrentReaders(t *testing.T) {
	s, path := newStore(t)
	other := openTest(t, path, Options{ReadOnly: true}) // like `pulse status` in another process
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads sync.Map
	for i, st := range []*Store{s, other} {
		wg.Go(func() {
			n := 0
			for ctx.Err() == nil {
				if _, err := st.Checks(ctx); err != nil && ctx.Err() == nil {
					t.Errorf("reader %d: Checks: %v", i, err)
					return
				}
				if _, err := st.Results(ctx, "check-1", t0, t0.Add(24*time.Hour), 100); err != nil && ctx.Err() == nil {
					t.Errorf("reader %d: Results: %v", i, err)
					return
				}
				if _, err := st.Totals(ctx, t0, t0.Add(24*time.Hour)); err != nil && ctx.Err() == nil {
					t.Errorf("reader %d: Totals: %v", i, err)
					return
				}
				n++
			}
			reads.Store(i, n)
		})
	}
	for i := range 20_000 {
		r := result(fmt.Sprintf("check-%d", i%50), t0.Add(time.Duration(i)*time.Second), checks.OK, time.Millisecond)
		if err := s.Submit(Record{Result: r}); err != nil {
			t.Fatal(err)
		}
		if i%2000 == 0 {
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	reads.Range(func(k, v any) bool {
		if v.(int) == 0 {
			t.Errorf("reader %v never completed a read", k)
		}
		return true
	})
}

func TestLoadStatesAfterReopen(t *testing.T) {
	path := testTarget(t)
	s := openTest(t, path, Options{})
	submit(t, s,
		Record{Result: result("a", t0, checks.Crit, time.Second), State: []byte(`{"fails":1}`)},
		Record{Result: result("a", t0.Add(time.Minute), checks.Crit, time.Second), State: []byte(`{"fails":2}`)},
		Record{Result: result("b", t0, checks.OK, time.Second)}, // nil State: unchanged (none)
		Record{Result: checks.Result{Check: "c"}, State: []byte(`{"only":"state"}`)},
	)
	if err := s.Submit(Record{State: []byte(`{}`), Done: func(err error) {
		if err == nil {
			t.Error("a state without a check name was accepted")
		}
	}}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2 := openTest(t, path, Options{})
	got, err := s2.LoadStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": `{"fails":2}`, "c": `{"only":"state"}`}
	if len(got) != len(want) {
		t.Errorf("LoadStates = %q", got)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("state of %s = %q, want %q", k, got[k], v)
		}
	}
	if n := count(t, s2, `SELECT count(*) FROM results WHERE check_id = (SELECT id FROM checks WHERE name = 'c')`); n != 0 {
		t.Errorf("a state-only record stored %d results", n)
	}
}

func TestValueNear(t *testing.T) {
	s, _ := newStore(t)
	var recs []Record
	for i := range 10 { // a value every 10 minutes, plus value-less results between
		r := result("sales", t0.Add(time.Duration(i)*10*time.Minute), checks.OK, time.Millisecond)
		r.SetValue(float64(100 + i))
		recs = append(recs, Record{Result: r})
		recs = append(recs, Record{Result: result("sales", r.Start.Add(time.Minute), checks.Unknown, time.Millisecond)})
	}
	submit(t, s, recs...)
	tests := []struct {
		name  string
		check string
		at    time.Time
		tol   time.Duration
		want  float64
		found bool
	}{
		{"exact", "sales", t0.Add(30 * time.Minute), time.Minute, 103, true},
		{"closer before", "sales", t0.Add(34 * time.Minute), 10 * time.Minute, 103, true},
		{"closer after", "sales", t0.Add(36 * time.Minute), 10 * time.Minute, 104, true},
		{"value-less results skipped", "sales", t0.Add(31 * time.Minute), 2 * time.Minute, 103, true},
		{"outside tolerance", "sales", t0.Add(35 * time.Minute), 4 * time.Minute, 0, false},
		{"before history", "sales", t0.Add(-time.Hour), 10 * time.Minute, 0, false},
		{"unknown check", "nope", t0, time.Hour, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok, err := s.ValueNear(context.Background(), tt.check, tt.at, tt.tol)
			if err != nil {
				t.Fatal(err)
			}
			if v != tt.want || ok != tt.found {
				t.Errorf("ValueNear = %v, %v; want %v, %v", v, ok, tt.want, tt.found)
			}
		})
	}
}

func TestPings(t *testing.T) {
	path := testTarget(t)
	now := t0
	s := openTest(t, path, Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	first, err := s.WatchStart(ctx, "backup", "heartbeat")
	if err != nil || !first.Equal(t0) {
		t.Fatalf("WatchStart = %v, %v", first, err)
	}
	now = t0.Add(time.Hour)
	if first, _ := s.WatchStart(ctx, "backup", "heartbeat"); !first.Equal(t0) {
		t.Errorf("WatchStart again = %v, want the first time %v", first, t0)
	}
	for _, p := range []struct {
		kind string
		at   time.Time
	}{
		{PingStart, t0.Add(time.Minute)},
		{PingSuccess, t0.Add(2 * time.Minute)},
		{PingStart, t0.Add(3 * time.Minute)},
		{PingFail, t0.Add(4 * time.Minute)},
	} {
		if err := s.RecordPing(ctx, "backup", p.kind, p.at, "out"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordPing(ctx, "backup", "bogus", t0, ""); err == nil {
		t.Error("RecordPing accepted an unknown kind")
	}
	if err := s.RecordPing(ctx, "cron", PingSuccess, t0.Add(5*time.Minute), strings.Repeat("x", 2*MaxPingBody)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openTest(t, path, Options{ReadOnly: true})
	tests := []struct {
		check string
		want  checks.PingState
	}{
		{"backup", checks.PingState{LastSuccess: t0.Add(2 * time.Minute), LastStart: t0.Add(3 * time.Minute), LastFail: t0.Add(4 * time.Minute), FirstSeen: t0}},
		{"cron", checks.PingState{LastSuccess: t0.Add(5 * time.Minute), FirstSeen: t0.Add(5 * time.Minute)}},
		{"never", checks.PingState{}},
	}
	for _, tt := range tests {
		t.Run(tt.check, func(t *testing.T) {
			got, err := s.LastPings(ctx, tt.check)
			if err != nil {
				t.Fatal(err)
			}
			if !got.LastSuccess.Equal(tt.want.LastSuccess) || !got.LastStart.Equal(tt.want.LastStart) ||
				!got.LastFail.Equal(tt.want.LastFail) || !got.FirstSeen.Equal(tt.want.FirstSeen) {
				t.Errorf("LastPings = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if n := count(t, s, `SELECT max(length(body)) FROM pings`); n != MaxPingBody {
		t.Errorf("longest stored body %d, want the cap %d", n, MaxPingBody)
	}
	rows, err := s.Checks(ctx)
	if err != nil || len(rows) != 2 || rows[0].Type != "heartbeat" {
		t.Errorf("Checks = %+v, %v", rows, err)
	}
}

// TestWriteFailureHeld: a batch the database refuses for a reason that is
// not one record's (disk full) is held and retried, not dropped, until the
// database takes it; a store being closed gives it up, promptly.
func TestWriteFailureHeld(t *testing.T) {
	sqliteOnly(t, "SQLite error codes injected; the PostgreSQL faults are the cut-connection tests")
	full := sqlite3.Error{Code: sqlite3.ErrFull}
	t.Run("held until written", func(t *testing.T) {
		s, _ := newStore(t)
		s.retryBase = time.Millisecond
		var fails atomic.Int32
		fails.Store(writeRetries * 3) // well past the retries of a closing store
		s.writeFault = func() error {
			if fails.Add(-1) >= 0 {
				return full
			}
			return nil
		}
		done := make(chan error, 1)
		if err := s.Submit(Record{Result: result("api", t0, checks.Crit, time.Second), Done: func(err error) { done <- err }}); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); s.Refusing() == nil && fails.Load() >= 0; {
			if time.Now().After(deadline) {
				t.Fatal("Refusing() nil while the database refused the batch")
			}
			time.Sleep(time.Millisecond)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("record given up: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("record not written after the database accepted writes again")
		}
		if err := s.Refusing(); err != nil {
			t.Errorf("Refusing() = %v after the batch committed", err)
		}
		if n := count(t, s, `SELECT count(*) FROM results`); n != 1 {
			t.Errorf("%d results stored, want 1", n)
		}
		if fails.Load() >= 0 {
			t.Errorf("written after %d failures, want %d", writeRetries*3-fails.Load(), writeRetries*3)
		}
	})
	t.Run("given up on close", func(t *testing.T) {
		s, _ := newStore(t)
		s.retryBase = time.Millisecond
		var attempts atomic.Int32
		s.writeFault = func() error {
			attempts.Add(1)
			return full
		}
		done := make(chan error, 1)
		if err := s.Submit(Record{Result: result("api", t0, checks.Crit, time.Second), Done: func(err error) { done <- err }}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for attempts.Load() <= writeRetries*2 {
			if time.Now().After(deadline) {
				t.Fatalf("%d attempts in 10s", attempts.Load())
			}
			time.Sleep(5 * time.Millisecond)
		}
		select {
		case err := <-done:
			t.Fatalf("record given up while the store is open: %v", err)
		default:
		}
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case <-closed:
		case <-time.After(5 * time.Second):
			t.Fatal("Close hangs on a database that refuses writes")
		}
		if err := <-done; err == nil || !errors.Is(err, full) {
			t.Errorf("Done after close = %v, want the write error", err)
		}
	})
}

// TestStopBoundWithFullDisk: a store whose database refuses every write,
// with a full queue and submitters blocked behind it, closes within its
// stop bound once StopBy has passed, releases every submitter and counts
// every record it could not write (issue 14, item 5: 41 to 100 s).
func TestStopBoundWithFullDisk(t *testing.T) {
	sqliteOnly(t, "SQLite error codes injected")
	s, _ := newStore(t)
	s.writeFault = func() error { return sqlite3.Error{Code: sqlite3.ErrFull} }
	const n = queueSize + 3*maxBatch
	var wg sync.WaitGroup
	var closedOut atomic.Int64 // submitted after Close: refused, not accepted
	for i := range 8 {
		wg.Go(func() {
			for j := i; j < n; j += 8 {
				err := s.Submit(Record{Result: result(fmt.Sprintf("c%d", j), t0, checks.Crit, time.Second)})
				if errors.Is(err, ErrClosed) {
					closedOut.Add(1)
				} else if err != nil && !errors.Is(err, ErrGaveUp) {
					t.Errorf("Submit: %v", err)
				}
			}
		})
	}
	// Let the queue fill and the writer hold its first batch.
	for len(s.queue) < queueSize/2 {
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	s.StopBy(start.Add(300 * time.Millisecond))
	// Before Close: the agent stops its checks first, and those are the
	// submitters blocked here.
	released := make(chan struct{})
	go func() { wg.Wait(); close(released) }()
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("submitters still blocked 5 s after a 300 ms stop bound")
	}
	took := time.Since(start)
	if took < 300*time.Millisecond {
		t.Errorf("submitters released after %s, before the stop bound", took)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("Close still waiting 3 s after the stop bound")
	}
	if lost := s.Lost(); lost+closedOut.Load() != n {
		t.Errorf("%d records counted lost and %d refused after Close, of %d submitted", lost, closedOut.Load(), n)
	}
	t.Logf("submitters released %s after StopBy; %d records not written", took.Round(time.Millisecond), s.Lost())
}

// A plugin's long output is kept whole in the history, on both engines (a
// btree entry of PostgreSQL holds about 2.7 kB).
func TestLongMessage(t *testing.T) {
	s, _ := newStore(t)
	b := make([]byte, 6000)
	for i := range b {
		b[i] = byte(33 + (i*7919+i*i*31)%94) // printable, does not compress much
	}
	long := string(b)
	r := result("plugin", t0, checks.Crit, time.Second)
	r.Message = long
	r2 := result("plugin", t0.Add(time.Minute), checks.Crit, time.Second)
	r2.Message = long
	submit(t, s, Record{Result: r}, Record{Result: r2})
	got, err := s.Results(context.Background(), "plugin", t0, t0.Add(time.Hour), 0)
	if err != nil || len(got) != 2 || got[0].Message != long || got[1].Message != long {
		t.Fatalf("Results = %d results, %v; want 2 with the whole message", len(got), err)
	}
	if n := count(t, s, `SELECT count(*) FROM messages`); n != 1 {
		t.Errorf("%d messages stored, want 1", n)
	}
}
