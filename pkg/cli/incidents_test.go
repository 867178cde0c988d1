package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/agent"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/server"
	"github.com/pulse-monitor/pulse/pkg/store"
)

const incidentsTOML = `
[agent]
database = "pulse.db"

[[check]]
name = "down"
type = "command"
command = ["/bin/sh", "-c", "echo CRITICAL broken; exit 2"]
severity = "P1"
fail_after = 1

[[check]]
name = "shaky"
type = "command"
command = ["/bin/sh", "-c", "echo 'WARNING slow | t=42'; exit 1"]
severity = "P2"
fail_after = 1

[[check]]
name = "gone"
type = "command"
command = ["/bin/sh", "-c", "echo CRITICAL; exit 2"]
fail_after = 1
`

// `pulse incidents --json`, `pulse incidents show --json` and
// /api/v1/incidents print the same JSON for the same database: one open,
// one acknowledged with a note, one resolved by hand.
func TestIncidentsJSONMatchesAPI(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(cfgPath, []byte(incidentsTOML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Agent.Database, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Incidents(ctx, store.IncidentFilter{})
	if err != nil || len(list) != 3 {
		t.Fatalf("incidents after one run: %d (%v), want 3", len(list), err)
	}
	ids := map[string]int64{}
	for _, in := range list {
		ids[in.Check] = in.ID
	}
	at := time.Now()
	if _, err := st.Ack(ctx, ids["shaky"], "alice", "on it", at); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Resolve(ctx, ids["gone"], "bob", at); err != nil {
		t.Fatal(err)
	}

	now := time.Now().Add(time.Hour)
	clock := func() time.Time { return now }
	srv := server.New(server.Options{Store: st, Config: func() *config.Config { return cfg }, Now: clock})
	api := func(path string) []byte {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 {
			t.Fatalf("GET %s = %d: %s", path, rec.Code, rec.Body)
		}
		return rec.Body.Bytes()
	}

	g, out := testGlobal(cfgPath, false, false)
	if err := runIncidents(ctx, g, IncidentsOptions{JSON: true, Now: clock}); err != nil {
		t.Fatal(err)
	}
	fromAPI := api("/api/v1/incidents")
	if !bytes.Equal(out.Bytes(), fromAPI) {
		t.Fatalf("pulse incidents --json:\n%s\n/api/v1/incidents:\n%s", out, fromAPI)
	}
	var records []map[string]any
	if err := json.Unmarshal(fromAPI, &records); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"acked_at", "acked_by", "ack_note", "resolved_at", "resolved_by", "duration_s", "value"} {
		found := false
		for _, r := range records {
			_, ok := r[key]
			found = found || ok
		}
		if !found {
			t.Errorf("no incident has %q: %s", key, fromAPI)
		}
	}

	// show --json is the same record, plus timeline and notifications.
	for i, r := range records {
		id := int64(r["id"].(float64))
		g, out := testGlobal(cfgPath, false, false)
		if err := runIncidentShow(ctx, g, IncidentShowOptions{ID: id, JSON: true, Now: clock}); err != nil {
			t.Fatal(err)
		}
		var shown map[string]any
		if err := json.Unmarshal(out.Bytes(), &shown); err != nil {
			t.Fatal(err)
		}
		if _, ok := shown["timeline"].([]any); !ok {
			t.Errorf("show %d: no timeline: %s", id, out)
		}
		delete(shown, "timeline")
		delete(shown, "notifications")
		want, _ := json.Marshal(records[i])
		got, _ := json.Marshal(shown)
		if !bytes.Equal(got, want) {
			t.Errorf("pulse incidents show %d --json:\n%s\nAPI:\n%s", id, got, want)
		}
	}
}
