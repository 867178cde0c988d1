package checks

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pulse-monitor/pulse/pkg/config"
)

func postgresDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("PULSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PULSE_TEST_POSTGRES_DSN is unset (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable): skipping PostgreSQL tests")
	}
	return dsn
}

func mysqlDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("PULSE_TEST_MYSQL_DSN")
	if dsn == "" {
		t.Skip("PULSE_TEST_MYSQL_DSN is unset (e.g. root@tcp(127.0.0.1:3306)/test): skipping MariaDB/MySQL tests")
	}
	return dsn
}

func sqlThreshold(t *testing.T, s string) config.Threshold {
	t.Helper()
	th, err := config.ParseThreshold(s)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

// sqlCase is one query and what the check must say about it.
type sqlCase struct {
	name    string
	query   string
	warn    string
	crit    string
	latency time.Duration
	state   State
	value   float64 // checked when state is OK or Warn/Crit by threshold
	noValue bool
	msg     string // prefix of the message
}

func runSQLCases(t *testing.T, driver, dsn string, cases []sqlCase) {
	t.Helper()
	pools := NewSQLPools(nil)
	t.Cleanup(func() { _ = pools.Close() })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &config.Check{
				Name:       "q",
				Type:       "sql",
				Expect:     &config.Expect{Latency: config.Duration(tc.latency)},
				KindFields: &config.KindFields{Driver: driver, DSN: config.Secret(dsn), Query: tc.query, WarnIf: sqlThreshold(t, tc.warn), CritIf: sqlThreshold(t, tc.crit)},
			}
			chk, err := New(c, &Env{SQL: pools})
			if err != nil {
				t.Fatal(err)
			}
			res := Run(context.Background(), "q", chk, 10*time.Second, nil)
			if res.State != tc.state || !strings.HasPrefix(res.Message, tc.msg) {
				t.Fatalf("got %s %q, want %s %q...", res.State, res.Message, tc.state, tc.msg)
			}
			if tc.noValue {
				if res.HasValue {
					t.Errorf("value %v set, want none", res.Value)
				}
			} else if !res.HasValue || res.Value != tc.value {
				t.Errorf("value = %v (set %v), want %v", res.Value, res.HasValue, tc.value)
			}
			if res.Duration <= 0 || len(res.Perf) != 1 || res.Perf[0].Label != "time" || res.Perf[0].Value != res.Duration.Seconds() {
				t.Errorf("duration %v, perf %+v: want the connect+query time in both", res.Duration, res.Perf)
			}
		})
	}
}

func TestSQLPostgres(t *testing.T) {
	dsn := postgresDSN(t)
	runSQLCases(t, "postgres", dsn, []sqlCase{
		{name: "int", query: "SELECT 3", state: OK, value: 3, msg: "value 3, "},
		{name: "smallint", query: "SELECT 3::int2", state: OK, value: 3, msg: "value 3, "},
		{name: "bigint", query: "SELECT 5000000000::int8", state: OK, value: 5e9, msg: "value 5000000000, "},
		{name: "float", query: "SELECT 2.5::float8", state: OK, value: 2.5, msg: "value 2.5, "},
		{name: "real", query: "SELECT 0.5::float4", state: OK, value: 0.5, msg: "value 0.5, "},
		{name: "numeric", query: "SELECT 12.345::numeric(10,3)", state: OK, value: 12.345, msg: "value 12.345, "},
		{name: "numeric string", query: "SELECT ' 42 '::text", state: OK, value: 42, msg: "value 42, "},
		{name: "bool", query: "SELECT true", state: OK, value: 1, msg: "value 1, "},
		{name: "extra columns ignored", query: "SELECT 7, 'x', now()", state: OK, value: 7, msg: "value 7, "},
		{name: "first row only", query: "SELECT g FROM generate_series(5, 9) g", state: OK, value: 5, msg: "value 5, "},
		{name: "warn", query: "SELECT 7", warn: "> 5", crit: "> 20", state: Warn, value: 7, msg: "value 7 > 5 (warn_if), "},
		{name: "crit before warn", query: "SELECT 25", warn: "> 5", crit: "> 20", state: Crit, value: 25, msg: "value 25 > 20 (crit_if), "},
		{name: "outside", query: "SELECT 25", crit: "outside 10..20", state: Crit, value: 25, msg: "value 25 outside 10..20 (crit_if), "},
		{name: "thresholds not met", query: "SELECT 3", warn: "> 5", crit: "> 20", state: OK, value: 3, msg: "value 3, "},
		{name: "slow", query: "SELECT 1 FROM pg_sleep(0.15)", latency: 50 * time.Millisecond, state: Warn, value: 1, msg: "value 1, "},
		{name: "null", query: "SELECT NULL::int", state: Unknown, noValue: true, msg: "first column is NULL"},
		{name: "no rows", query: "SELECT 1 WHERE false", state: Unknown, noValue: true, msg: "query returned no rows"},
		{name: "not a number", query: "SELECT 'abc'", state: Unknown, noValue: true, msg: `first column "abc" is not a number`},
		{name: "time", query: "SELECT now()", state: Unknown, noValue: true, msg: "first column is a time, not a number"},
		{name: "syntax error", query: "SELEC 1", state: Crit, noValue: true, msg: "query failed: "},
		{name: "runtime error", query: "SELECT 1/0", state: Crit, noValue: true, msg: "query failed: ERROR: division by zero"},
		{name: "error after the first row", query: "SELECT 1/(2-g) FROM generate_series(1, 3) g", state: Crit, noValue: true, msg: "query failed: "},
	})
}

func TestSQLMySQL(t *testing.T) {
	dsn := mysqlDSN(t)
	runSQLCases(t, "mysql", dsn, []sqlCase{
		{name: "int", query: "SELECT 3", state: OK, value: 3, msg: "value 3, "},
		{name: "decimal", query: "SELECT CAST(12.345 AS DECIMAL(10,3))", state: OK, value: 12.345, msg: "value 12.345, "},
		{name: "decimal literal", query: "SELECT 2.5", state: OK, value: 2.5, msg: "value 2.5, "},
		{name: "double", query: "SELECT CAST(0.25 AS DOUBLE)", state: OK, value: 0.25, msg: "value 0.25, "},
		{name: "numeric string", query: "SELECT '42'", state: OK, value: 42, msg: "value 42, "},
		{name: "bool", query: "SELECT TRUE", state: OK, value: 1, msg: "value 1, "},
		{name: "crit", query: "SELECT 25", warn: "> 5", crit: ">= 25", state: Crit, value: 25, msg: "value 25 >= 25 (crit_if), "},
		{name: "warn", query: "SELECT 6", warn: "> 5", crit: ">= 25", state: Warn, value: 6, msg: "value 6 > 5 (warn_if), "},
		{name: "slow", query: "SELECT 1 FROM (SELECT SLEEP(0.15)) s", latency: 50 * time.Millisecond, state: Warn, value: 1, msg: "value 1, "},
		{name: "null", query: "SELECT NULL", state: Unknown, noValue: true, msg: "first column is NULL"},
		{name: "no rows", query: "SELECT 1 FROM DUAL WHERE 1 = 0", state: Unknown, noValue: true, msg: "query returned no rows"},
		{name: "not a number", query: "SELECT 'abc'", state: Unknown, noValue: true, msg: `first column "abc" is not a number`},
		{name: "syntax error", query: "SELEC 1", state: Crit, noValue: true, msg: "query failed: Error 1064"},
		{name: "unknown table", query: "SELECT COUNT(*) FROM no_such_table", state: Crit, noValue: true, msg: "query failed: Error 1146"},
	})
}

// TestSQLMySQLCount checks the value of a count against an independent read.
func TestSQLMySQLCount(t *testing.T) {
	dsn := mysqlDSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var want float64
	if err := db.QueryRow("SELECT COUNT(*) FROM information_schema.schemata").Scan(&want); err != nil {
		t.Fatal(err)
	}
	chk, err := New(&config.Check{
		Name:       "n",
		Type:       "sql",
		KindFields: &config.KindFields{Driver: "mysql", DSN: config.Secret(dsn), Query: "SELECT COUNT(*) FROM information_schema.schemata"},
	}, &Env{SQL: NewSQLPools(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if res := chk.Run(context.Background()); res.State != OK || res.Value != want {
		t.Errorf("got %s %v %q, want ok %v", res.State, res.Value, res.Message, want)
	}
}

func TestSQLLatencyDefaultsToTargets(t *testing.T) {
	dsn := postgresDSN(t)
	pools := NewSQLPools(nil)
	defer pools.Close()
	c := &config.Check{Name: "slow", Type: "sql", KindFields: &config.KindFields{Driver: "postgres", DSN: config.Secret(dsn), Query: "SELECT 1 FROM pg_sleep(0.1)"}}
	for _, tc := range []struct {
		name    string
		targets time.Duration
		state   State
	}{
		{"targets apply", 30 * time.Millisecond, Warn},
		{"no target, no latency check", 0, OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chk, err := New(c, &Env{SQL: pools, Targets: config.Targets{SQLLatency: config.Duration(tc.targets)}})
			if err != nil {
				t.Fatal(err)
			}
			res := chk.Run(context.Background())
			if res.State != tc.state {
				t.Fatalf("got %s %q, want %s", res.State, res.Message, tc.state)
			}
			if tc.state == Warn && !strings.HasSuffix(res.Message, "(slower than 30ms)") {
				t.Errorf("message %q does not say it was slower than 30ms", res.Message)
			}
		})
	}
}

func TestSQLTimeoutCancelsQuery(t *testing.T) {
	cases := []struct {
		name, driver string
		dsn          func(*testing.T) string
		sleep        string
	}{
		{"postgres", "postgres", postgresDSN, "SELECT pg_sleep(5)"},
		{"mysql", "mysql", mysqlDSN, "SELECT SLEEP(5)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn := tc.dsn(t)
			pools := NewSQLPools(nil)
			defer pools.Close()
			env := &Env{SQL: pools}
			chk, err := New(&config.Check{Name: "sleepy", Type: "sql", KindFields: &config.KindFields{Driver: tc.driver, DSN: config.Secret(dsn), Query: tc.sleep}}, env)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res := Run(context.Background(), "sleepy", chk, 300*time.Millisecond, nil)
			took := time.Since(start)
			if res.State != Crit || !strings.Contains(res.Message, "context deadline exceeded") {
				t.Errorf("got %s %q, want crit on the deadline", res.State, res.Message)
			}
			if took > 2*time.Second {
				t.Errorf("the check took %v, want it cancelled near 300ms", took)
			}
			// The cancelled connection must not poison the pool.
			ok, err := New(&config.Check{Name: "after", Type: "sql", KindFields: &config.KindFields{Driver: tc.driver, DSN: config.Secret(dsn), Query: "SELECT 1"}}, env)
			if err != nil {
				t.Fatal(err)
			}
			if res := Run(context.Background(), "after", ok, 5*time.Second, nil); res.State != OK {
				t.Errorf("next run: %s %q, want ok", res.State, res.Message)
			}
		})
	}
}

// withAppName tags a postgres DSN so that its connections can be counted.
func withAppName(dsn, name string) string {
	if strings.Contains(dsn, "://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "application_name=" + name
	}
	return dsn + " application_name=" + name
}

func TestSQLPoolReusePostgres(t *testing.T) {
	base := postgresDSN(t)
	app := fmt.Sprintf("pulse_test_%d", time.Now().UnixNano())
	dsn := withAppName(base, app)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	backends := func() int {
		t.Helper()
		var n int
		if err := admin.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	pools := NewSQLPools(nil)
	env := &Env{SQL: pools}
	pid, err := New(&config.Check{Name: "pid", Type: "sql", KindFields: &config.KindFields{Driver: "postgres", DSN: config.Secret(dsn), Query: "SELECT pg_backend_pid()"}}, env)
	if err != nil {
		t.Fatal(err)
	}
	// A metric check on the same DSN shares the pool.
	metric, err := New(&config.Check{Name: "m", Type: "metric", KindFields: &config.KindFields{Source: "sql", Driver: "postgres", DSN: config.Secret(dsn), Query: "SELECT pg_backend_pid()"}}, env)
	if err != nil {
		t.Fatal(err)
	}
	first := pid.Run(context.Background())
	if first.State != OK {
		t.Fatalf("first run: %s %q", first.State, first.Message)
	}
	for i := range 5 {
		for _, chk := range []Checker{pid, metric} {
			res := chk.Run(context.Background())
			if res.State != OK || res.Value != first.Value {
				t.Fatalf("run %d: %s %q (backend %v), want the same backend %v", i, res.State, res.Message, res.Value, first.Value)
			}
		}
	}
	if n := pools.Len(); n != 1 {
		t.Errorf("%d pools, want 1 shared by both checks", n)
	}

	t.Run("bounded under concurrency", func(t *testing.T) {
		slow, err := New(&config.Check{Name: "slow", Type: "sql", KindFields: &config.KindFields{Driver: "postgres", DSN: config.Secret(dsn), Query: "SELECT 1 FROM pg_sleep(0.05)"}}, env)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		results := make([]Result, 12)
		for i := range results {
			wg.Go(func() { results[i] = slow.Run(context.Background()) })
		}
		wg.Wait()
		for i, res := range results {
			if res.State != OK {
				t.Errorf("run %d: %s %q", i, res.State, res.Message)
			}
		}
		if n := backends(); n < 1 || n > sqlMaxConns {
			t.Errorf("%d backend connections with application_name %s, want 1..%d", n, app, sqlMaxConns)
		}
	})

	t.Run("a terminated backend recovers on the next run", func(t *testing.T) {
		before := pid.Run(context.Background())
		if before.State != OK {
			t.Fatalf("%s %q", before.State, before.Message)
		}
		var killed bool
		if err := admin.QueryRow("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid = $2",
			app, int64(before.Value)).Scan(&killed); err != nil || !killed {
			t.Fatalf("pg_terminate_backend: %v %v", killed, err)
		}
		// Terminate every pooled backend so no idle survivor can serve the run.
		if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return backends() == 0 })
		after := pid.Run(context.Background())
		if after.State != OK {
			t.Fatalf("run after termination: %s %q, want ok", after.State, after.Message)
		}
		if after.Value == before.Value {
			t.Errorf("backend %v served the run after it was terminated", after.Value)
		}
	})

	if err := pools.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return backends() == 0 })
	res := pid.Run(context.Background())
	if res.State != Crit || res.Message != "cannot connect: sql pools are closed" {
		t.Errorf("after Close: %s %q", res.State, res.Message)
	}
}

func TestSQLPoolReuseMySQL(t *testing.T) {
	dsn := mysqlDSN(t)
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var logs bytes.Buffer
	pools := NewSQLPools(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer pools.Close()
	chk, err := New(&config.Check{Name: "id", Type: "sql", KindFields: &config.KindFields{Driver: "mysql", DSN: config.Secret(dsn), Query: "SELECT CONNECTION_ID()"}}, &Env{SQL: pools})
	if err != nil {
		t.Fatal(err)
	}
	first := chk.Run(context.Background())
	if first.State != OK {
		t.Fatalf("%s %q", first.State, first.Message)
	}
	for i := range 5 {
		if res := chk.Run(context.Background()); res.State != OK || res.Value != first.Value {
			t.Fatalf("run %d: %s %q, want connection %v again", i, res.State, res.Message, first.Value)
		}
	}
	if _, err := admin.Exec(fmt.Sprintf("KILL %d", int64(first.Value))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		var n int
		if err := admin.QueryRow("SELECT COUNT(*) FROM information_schema.processlist WHERE id = ?", int64(first.Value)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	after := chk.Run(context.Background())
	if after.State != OK || after.Value == first.Value {
		t.Errorf("after KILL: %s %q (connection %v), want ok on a new connection", after.State, after.Message, after.Value)
	}
	// The driver's own complaint goes to the injected logger, not stderr.
	if got := logs.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "msg=\"database driver\"") || !strings.Contains(got, "driver=mysql") {
		t.Errorf("driver log = %q, want a debug line about the dead connection", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// makeSQLite creates a database with n rows in table signups.
func makeSQLite(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	// A URI, so that '?' and '#' in the test's file name are not taken as
	// the start of parameters.
	uri := (&url.URL{Scheme: "file", Path: path}).String() + "?mode=rwc"
	db, err := sql.Open("sqlite3", uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := db.Exec("CREATE TABLE signups (id INTEGER PRIMARY KEY, amount REAL, note TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := db.Exec("INSERT INTO signups (amount, note) VALUES (?, ?)", float64(i)+0.5, fmt.Sprint("n", i)); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestSQLSQLite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app data?#1.db") // characters a URI must escape
	rw := makeSQLite(t, path, 3)
	runSQLCases(t, "sqlite", path, []sqlCase{
		{name: "count", query: "SELECT count(*) FROM signups", crit: "< 1", state: OK, value: 3, msg: "value 3, "},
		{name: "real", query: "SELECT sum(amount) FROM signups", warn: "> 4", state: Warn, value: 4.5, msg: "value 4.5 > 4 (warn_if), "},
		{name: "text", query: "SELECT note FROM signups", state: Unknown, noValue: true, msg: `first column "n0" is not a number`},
		{name: "null", query: "SELECT max(id) FROM signups WHERE id > 99", state: Unknown, noValue: true, msg: "first column is NULL"},
		{name: "no rows", query: "SELECT id FROM signups WHERE id > 99", state: Unknown, noValue: true, msg: "query returned no rows"},
		{name: "insert refused", query: "INSERT INTO signups (amount) VALUES (1) RETURNING id", state: Crit, noValue: true,
			msg: "query failed: attempt to write a readonly database"},
		{name: "delete refused", query: "DELETE FROM signups", state: Crit, noValue: true, msg: "query failed: attempt to write a readonly database"},
		{name: "create refused", query: "CREATE TABLE x (a)", state: Crit, noValue: true, msg: "query failed: attempt to write a readonly database"},
	})
	var n int
	if err := rw.QueryRow("SELECT count(*) FROM signups").Scan(&n); err != nil || n != 3 {
		t.Errorf("signups has %d rows (%v) after the checks, want the 3 written before", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Error("a check created a file")
	}

	t.Run("file URI asking for rw stays read-only", func(t *testing.T) {
		uri := "file:" + filepath.Join(dir, "uri.db") + "?mode=rwc&_busy_timeout=1000"
		makeSQLite(t, filepath.Join(dir, "uri.db"), 1)
		chk, err := New(&config.Check{Name: "w", Type: "sql", KindFields: &config.KindFields{Driver: "sqlite", DSN: config.Secret(uri), Query: "DELETE FROM signups RETURNING id"}}, &Env{SQL: NewSQLPools(nil)})
		if err != nil {
			t.Fatal(err)
		}
		if res := chk.Run(context.Background()); res.State != Crit || !strings.Contains(res.Message, "readonly") {
			t.Errorf("got %s %q, want the write refused", res.State, res.Message)
		}
	})

	t.Run("missing file is not created", func(t *testing.T) {
		missing := filepath.Join(dir, "missing.db")
		chk, err := New(&config.Check{Name: "m", Type: "sql", KindFields: &config.KindFields{Driver: "sqlite", DSN: config.Secret(missing), Query: "SELECT 1"}}, &Env{SQL: NewSQLPools(nil)})
		if err != nil {
			t.Fatal(err)
		}
		res := chk.Run(context.Background())
		if res.State != Crit || !strings.HasPrefix(res.Message, "cannot connect: unable to open database file") {
			t.Errorf("got %s %q, want crit cannot connect", res.State, res.Message)
		}
		if _, err := os.Stat(missing); !os.IsNotExist(err) {
			t.Errorf("the check created %s (%v)", missing, err)
		}
	})
}

func TestSQLiteReadOnlyDSN(t *testing.T) {
	for in, want := range map[string]string{
		"/var/lib/app.db":                    "file:/var/lib/app.db?mode=ro",
		"/tmp/a b?c#d%e.db":                  "file:/tmp/a b%3fc%23d%25e.db?mode=ro",
		"file:/var/lib/app.db":               "file:/var/lib/app.db?mode=ro",
		"file:/var/lib/app.db?mode=rwc":      "file:/var/lib/app.db?mode=ro",
		"file:/x.db?_busy_timeout=9&mode=rw": "file:/x.db?_busy_timeout=9&mode=ro",
		"file:/x.db?cache=shared&_loc=UTC":   "file:/x.db?cache=shared&_loc=UTC&mode=ro",
		":memory:":                           ":memory:",
		"file::memory:?cache=shared":         "file::memory:?cache=shared",
	} {
		if got := sqliteReadOnly(in); got != want {
			t.Errorf("sqliteReadOnly(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSQLPasswordNeverShown runs checks whose connection fails against the
// real servers and asserts that neither the password nor the DSN leaks.
func TestSQLPasswordNeverShown(t *testing.T) {
	const pw = "Hunter2-Sup3r-S3cret"
	type tc struct {
		name, driver, dsn, want string
	}
	var cases []tc
	if dsn := os.Getenv("PULSE_TEST_MYSQL_DSN"); dsn != "" {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Passwd = pw
		cases = append(cases, tc{"mysql wrong password", "mysql", cfg.FormatDSN(), "cannot connect: Error 1045"})
		cfg.Passwd = pw
		cfg.Addr = "127.0.0.1:1"
		cases = append(cases, tc{"mysql refused", "mysql", cfg.FormatDSN(), "cannot connect: "})
	}
	if dsn := os.Getenv("PULSE_TEST_POSTGRES_DSN"); dsn != "" {
		cfg, err := pgconn.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		// The server trusts local users, so a wrong password alone would
		// succeed: an unknown role makes the login fail instead.
		url := fmt.Sprintf("postgres://nosuchrole:%s@%s:%d/%s?sslmode=disable", pw, cfg.Host, cfg.Port, cfg.Database)
		cases = append(cases,
			tc{"postgres unknown role", "postgres", url, "cannot connect: "},
			tc{"postgres refused", "postgres", fmt.Sprintf("postgres://u:%s@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", pw), "cannot connect: "},
			tc{"postgres keyword form", "postgres", fmt.Sprintf("host=127.0.0.1 port=1 user=u password='%s' dbname=test sslmode=disable", pw), "cannot connect: "},
		)
	}
	if len(cases) == 0 {
		t.Skip("PULSE_TEST_POSTGRES_DSN and PULSE_TEST_MYSQL_DSN are unset: skipping")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chk, err := New(&config.Check{Name: "x", Type: "sql", KindFields: &config.KindFields{Driver: c.driver, DSN: config.Secret(c.dsn), Query: "SELECT 1"}}, &Env{SQL: NewSQLPools(nil)})
			if err != nil {
				t.Fatal(err)
			}
			res := Run(context.Background(), "x", chk, 5*time.Second, nil)
			if res.State != Crit || !strings.HasPrefix(res.Message, c.want) {
				t.Errorf("got %s %q, want crit %q...", res.State, res.Message, c.want)
			}
			if strings.Contains(res.Message, pw) || strings.Contains(res.Message, c.dsn) {
				t.Errorf("message leaks the password: %q", res.Message)
			}
			t.Logf("message: %s", res.Message)
		})
	}
}

func TestSQLInvalidDSNNotShown(t *testing.T) {
	const pw = "Hunter2-Sup3r-S3cret"
	for _, c := range []struct{ driver, dsn string }{
		{"postgres", "postgres://u:" + pw + "@127.0.0.1:notaport/db"},
		{"postgres", "host=127.0.0.1 password=" + pw + " port=x"},
		{"mysql", "root:" + pw + "@tcp(127.0.0.1:3306)/test?badparam=%zz"},
		{"mysql", "root:" + pw + "@tcp(127.0.0.1:3306"},
	} {
		t.Run(c.dsn[:12], func(t *testing.T) {
			_, err := New(&config.Check{Name: "x", Type: "sql", KindFields: &config.KindFields{Driver: c.driver, DSN: config.Secret(c.dsn), Query: "SELECT 1"}}, nil)
			if err == nil {
				t.Fatal("no error for an invalid dsn")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error leaks the password: %v", err)
			}
			if !strings.Contains(err.Error(), "invalid "+c.driver+" dsn") {
				t.Errorf("error %q does not say the dsn is invalid", err)
			}
		})
	}
}

func TestSQLScrubber(t *testing.T) {
	cases := []struct {
		name, driver, dsn, msg string
		secrets                []string
	}{
		{"url", "postgres", "postgres://app:p%40ss-w0rd@db:5432/x",
			`dial "postgres://app:p%40ss-w0rd@db:5432/x": password p@ss-w0rd or p%40ss-w0rd`, []string{"p@ss-w0rd", "p%40ss-w0rd"}},
		{"keyword quoted", "postgres", `host=db user=app password='a b\'c' dbname=x`,
			`failed: password a b'c rejected`, []string{`a b'c`}},
		{"keyword", "postgres", "host=db user=app password=Zz9-secret dbname=x", "auth Zz9-secret", []string{"Zz9-secret"}},
		{"mysql", "mysql", "app:my:pa@ss@tcp(db:3306)/x", "Access denied my:pa@ss", []string{"my:pa@ss"}},
		{"query param", "sqlite", "file:/x.db?_auth_user=a&_auth_pass=Qq7-secret", "bad _auth_pass Qq7-secret", []string{"Qq7-secret"}},
		{"key in upper case", "postgres", "host=db PASSWORD=Ww3-secret", "auth Ww3-secret", []string{"Ww3-secret"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := newSQLScrubber(tc.driver, tc.dsn).clean(tc.msg)
			for _, s := range append(tc.secrets, tc.dsn) {
				if strings.Contains(got, s) {
					t.Errorf("clean(%q) = %q still holds %q", tc.msg, got, s)
				}
			}
			if !strings.Contains(got, sqlRedacted) {
				t.Errorf("clean(%q) = %q, want %s in place of the secret", tc.msg, got, sqlRedacted)
			}
		})
	}
}

func TestSQLConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    config.Check
		want string
	}{
		{"driver", config.Check{Name: "x", Type: "sql", KindFields: &config.KindFields{Driver: "oracle", DSN: "x", Query: "SELECT 1"}}, `check "x": unknown driver "oracle"`},
		{"dsn", config.Check{Name: "x", Type: "sql", KindFields: &config.KindFields{Driver: "sqlite", Query: "SELECT 1"}}, `check "x": dsn is empty`},
		{"query", config.Check{Name: "x", Type: "sql", KindFields: &config.KindFields{Driver: "sqlite", DSN: "/x.db"}}, `check "x": query is empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(&tc.c, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSQLNumber(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want float64
		why  string
	}{
		{int64(-4), -4, ""},
		{int32(5), 5, ""},
		{uint64(6), 6, ""},
		{float32(0.5), 0.5, ""},
		{[]byte("1e3"), 1000, ""},
		{"  -2.25 ", -2.25, ""},
		{false, 0, ""},
		{"NaN", 0, `first column "NaN" is not a number`},
		{[]byte{}, 0, `first column "" is not a number`},
		{struct{}{}, 0, "first column is a struct {}, not a number"},
	} {
		got, why := sqlNumber(tc.in)
		if got != tc.want || why != tc.why {
			t.Errorf("sqlNumber(%#v) = %v, %q; want %v, %q", tc.in, got, why, tc.want, tc.why)
		}
	}
}

func TestSQLPools(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	pools := NewSQLPools(nil)
	var wg sync.WaitGroup
	got := make([]*sql.DB, 16)
	for i := range got {
		wg.Go(func() {
			dsn := a
			if i%2 == 1 {
				dsn = b
			}
			db, err := pools.DB("sqlite3", sqliteReadOnly(dsn))
			if err != nil {
				t.Error(err)
			}
			got[i] = db
		})
	}
	wg.Wait()
	for i := 2; i < len(got); i++ {
		if got[i] != got[i%2] {
			t.Fatalf("handle %d differs from handle %d for the same dsn", i, i%2)
		}
	}
	if got[0] == got[1] || pools.Len() != 2 {
		t.Errorf("%d pools, want one per dsn", pools.Len())
	}
	if s := got[0].Stats(); s.MaxOpenConnections != sqlMaxConns {
		t.Errorf("MaxOpenConnections = %d, want %d", s.MaxOpenConnections, sqlMaxConns)
	}
	if err := pools.Close(); err != nil {
		t.Fatal(err)
	}
	if err := got[0].Ping(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("ping after Close: %v, want the handle closed", err)
	}
	if _, err := pools.DB("sqlite3", a); err == nil || pools.Len() != 0 {
		t.Errorf("DB after Close: %v, %d pools; want an error and none", err, pools.Len())
	}
	var zero SQLPools // the zero value works too
	if _, err := zero.DB("sqlite3", sqliteReadOnly(a)); err != nil || zero.Len() != 1 {
		t.Errorf("zero SQLPools: %v, %d pools", err, zero.Len())
	}
	_ = zero.Close()
}

// TestSQLConnectErrorKeepsCause: pgx's connect errors span several lines
// ("failed to connect to `user=u database=test`:\n\t127.0.0.1:1 ...: dial
// error: ... connection refused"), and the result message used to stop at
// the first line: the cause was lost. It is now folded onto one line.
func TestSQLConnectErrorKeepsCause(t *testing.T) {
	const pw = "Hunter2-Sup3r-S3cret"
	type tc struct{ name, dsn, want string }
	cases := []tc{
		{"refused", fmt.Sprintf("postgres://u:%s@127.0.0.1:1/test?connect_timeout=2", pw), "connection refused"},
		{"refused sslmode=disable", fmt.Sprintf("postgres://u:%s@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", pw), "connection refused"},
	}
	if dsn := os.Getenv("PULSE_TEST_POSTGRES_DSN"); dsn != "" {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/no_such_database_h3"
		u.User = url.UserPassword(u.User.Username(), pw)
		u.RawQuery = "" // sslmode=prefer: two attempts, two lines of reasons
		cases = append(cases, tc{"unknown database", u.String(), `database "no_such_database_h3" does not exist`})
	} else {
		t.Log("PULSE_TEST_POSTGRES_DSN is unset: skipping the unknown-database case")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			chk, err := New(&config.Check{Name: "x", Type: "sql", KindFields: &config.KindFields{Driver: "postgres", DSN: config.Secret(c.dsn), Query: "SELECT 1"}}, &Env{SQL: NewSQLPools(nil)})
			if err != nil {
				t.Fatal(err)
			}
			res := Run(context.Background(), "x", chk, 5*time.Second, nil)
			t.Logf("message: %s", res.Message)
			if res.State != Crit || !strings.HasPrefix(res.Message, "cannot connect: failed to connect to ") || !strings.Contains(res.Message, c.want) {
				t.Errorf("got %s %q, want crit with the cause %q", res.State, res.Message, c.want)
			}
			if strings.ContainsAny(res.Message, "\r\n\t") || strings.Contains(res.Message, "  ") {
				t.Errorf("message is not one tidy line: %q", res.Message)
			}
			if strings.Contains(res.Message, pw) {
				t.Errorf("message leaks the password: %q", res.Message)
			}
		})
	}
}
