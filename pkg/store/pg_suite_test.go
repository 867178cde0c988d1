package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

// The store's tests run twice: as they are, on a SQLite file, and, when
// PULSE_TEST_POSTGRES_DSN names a PostgreSQL server, once more on it, by
// TestSuiteOnPostgres running this test binary again with
// PULSE_TEST_STORE=postgres. There every test's database is a schema of its
// own (testTarget); the tests of what only SQLite has (files, pragmas,
// its error codes) skip.

const suiteEnv = "PULSE_TEST_STORE"

var onPostgres = os.Getenv(suiteEnv) == "postgres"

func TestSuiteOnPostgres(t *testing.T) {
	if onPostgres {
		t.Skip("this is the PostgreSQL run")
	}
	dsn := os.Getenv("PULSE_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("PULSE_TEST_POSTGRES_DSN is not set: the store's tests run on SQLite only")
	}
	args := []string{"-test.count=1", "-test.skip=^TestSuiteOnPostgres$|^TestPostgres|^TestRebind$|^Fuzz", "-test.timeout=20m"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), suiteEnv+"=postgres")
	out, err := cmd.CombinedOutput()
	if err != nil || testing.Verbose() {
		t.Logf("the store's tests on PostgreSQL:\n%s", out)
	}
	if err != nil {
		t.Fatalf("the store's tests failed on PostgreSQL: %v", err)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("no PASS in the PostgreSQL run's output:\n%s", out)
	}
}

// testTarget is a new, empty database for one test: a file in a temporary
// directory, or on the PostgreSQL run a schema of its own, dropped when the
// test ends.
func testTarget(t testing.TB) string {
	t.Helper()
	if !onPostgres {
		return filepath.Join(t.TempDir(), "pulse.db")
	}
	return pgTarget(t)
}

// pgTarget is a new, empty schema on the PostgreSQL server of
// PULSE_TEST_POSTGRES_DSN, as a URL; the test skips without one.
func pgTarget(t testing.TB) string {
	t.Helper()
	if onPostgres && os.Getenv(storetest.DSNEnv) == "" {
		t.Fatal(suiteEnv + "=postgres needs " + storetest.DSNEnv)
	}
	return storetest.PostgresURL(t)
}

// sqliteOnly skips a test of what only SQLite has on the PostgreSQL run.
func sqliteOnly(t testing.TB, why string) {
	t.Helper()
	if onPostgres {
		t.Skip("SQLite only: " + why)
	}
}
