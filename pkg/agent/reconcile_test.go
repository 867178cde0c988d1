package agent

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver, for the test's own connection

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

const failingChecks = `
[agent]
database = "pulse.db"
[[check]]
name = "down"
type = "tcp"
address = "127.0.0.1:1"
interval = "1s"
fail_after = 1
severity = "P1"
[[check]]
name = "other"
type = "command"
command = ["/bin/true"]
interval = "1h"
`

// openIncidents returns the open incidents of check, read by a process of
// its own (as the CLI reads them).
func openIncidents(t *testing.T, path, check string) []store.Incident {
	t.Helper()
	st, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.OpenIncidents(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Incident
	for _, inc := range all {
		if inc.Check == check {
			out = append(out, inc)
		}
	}
	return out
}

// waitOpen waits up to limit for an open incident of check other than not.
func waitOpen(t *testing.T, path, check string, not int64, limit time.Duration) store.Incident {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, inc := range openIncidents(t, path, check) {
			if inc.ID != not {
				return inc
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no open incident of %q (other than #%d) within %s", check, not, limit)
	return store.Incident{}
}

// Issue 14, item 2: `pulse resolve N` then `pulse check --record other`
// left a still failing check crit with no open incident, for good: the
// side run consumed the resolve meant for the agent, and the agent's state
// in memory still said "open". Wanted: a new incident within one interval,
// whichever process records next.
func TestResolveThenSideRecordReopensWithinAnInterval(t *testing.T) {
	cfg := loadConfig(t, failingChecks)
	runAgent(t, Options{Config: cfg})
	first := waitOpen(t, cfg.Agent.Database, "down", 0, 5*time.Second)

	cli, err := store.Open(cfg.Agent.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Resolve(context.Background(), first.ID, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	cli.Close()
	side, err := New(Options{Config: reloadConfig(t, cfg.Path), SideRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := side.RunChecks(context.Background(), []string{"other"}); err != nil {
		t.Fatal(err)
	}
	// One interval (1 s), plus the agent's poll (1 s) and slack.
	second := waitOpen(t, cfg.Agent.Database, "down", first.ID, 4*time.Second)
	if second.ID <= first.ID {
		t.Fatalf("incident #%d after resolving #%d", second.ID, first.ID)
	}
}

// A side run (`pulse check --record`) leaves the acknowledgements and
// manual resolves queued by the CLI to the agent.
func TestSideRunLeavesTheAgentsCommands(t *testing.T) {
	cfg := loadConfig(t, failingChecks)
	once, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := once.RunChecks(context.Background(), []string{"down"}); err != nil {
		t.Fatal(err)
	}
	inc := openIncidents(t, cfg.Agent.Database, "down")
	if len(inc) != 1 {
		t.Fatalf("open incidents of down: %+v", inc)
	}
	cli, err := store.Open(cfg.Agent.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Resolve(context.Background(), inc[0].ID, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	side, err := New(Options{Config: cfg, SideRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := side.RunChecks(context.Background(), []string{"other"}); err != nil {
		t.Fatal(err)
	}
	if pending, err := cli.PendingSyncChecks(context.Background()); err != nil || len(pending) == 0 {
		t.Fatalf("after the side run: pending resolve = %v, %v; want it left for the agent", pending, err)
	}
}

// The agent's state in memory follows the database when an incident write
// is given up (issue 14, "Also"): here the database refuses to insert the
// incident (a trigger) for a while; once it accepts, the still failing
// check opens its incident. Before, memory said "open" for good and the
// check was silenced.
func TestIncidentWriteGivenUpIsRetried(t *testing.T) {
	cfg := loadConfig(t, failingChecks)
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	a.close()
	db, err := sql.Open("sqlite3", cfg.Agent.Database)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TRIGGER refuse_incidents BEFORE INSERT ON incidents
		BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	runAgent(t, Options{Config: cfg})
	time.Sleep(2500 * time.Millisecond) // two or three failing runs, each refused
	if got := openIncidents(t, cfg.Agent.Database, "down"); len(got) != 0 {
		t.Fatalf("incidents despite the trigger: %+v", got)
	}
	if _, err := db.Exec(`DROP TRIGGER refuse_incidents`); err != nil {
		t.Fatal(err)
	}
	waitOpen(t, cfg.Agent.Database, "down", 0, 4*time.Second)
}

// reloadConfig loads the config file at path again: a second process's own.
func reloadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
