package agent

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/cluster"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

// runClustered runs an agent of cfg named id until the returned stop is called.
func runClustered(t *testing.T, cfg *config.Config, id string) (a *Agent, stop func()) {
	t.Helper()
	t.Setenv("PULSE_AGENT_ID", id)
	a, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run of %s: %v", id, err)
			}
		})
	}
	t.Cleanup(stop)
	return a, stop
}

// Two agents on one PostgreSQL database share the checks, each result is
// written once, each incident is notified once, and a graceful stop hands
// everything to the other at once.
func TestTwoAgentsShareTheWork(t *testing.T) {
	url := storetest.PostgresURL(t)
	var mu sync.Mutex
	triggers := map[string]int{} // dedup key → count
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &ev)
		if ev.EventAction == "trigger" {
			mu.Lock()
			triggers[ev.DedupKey]++
			mu.Unlock()
		}
		w.WriteHeader(202)
		io.WriteString(w, `{"status":"success"}`)
	}))
	defer recv.Close()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()

	const n = 12
	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\nname = \"pair\"\nstore = %q\n", url)
	for i := range n {
		fmt.Fprintf(&b, "[[check]]\nname = \"ok%02d\"\ntype = \"http\"\nurl = %q\ninterval = \"1s\"\n", i, target.URL)
	}
	fmt.Fprintf(&b, "[[check]]\nname = \"down\"\ntype = \"tcp\"\naddress = \"127.0.0.1:1\"\ninterval = \"1s\"\nseverity = \"P1\"\nfail_after = 1\n")
	fmt.Fprintf(&b, "[[notifier]]\nname = \"oncall\"\ntype = \"pagerduty\"\nrouting_key = \"pair0123456789abcdef0123456789ab\"\nurl = %q\n", recv.URL)
	fmt.Fprintf(&b, "[escalation.P1]\nnotify = [\"oncall\"]\nwithin = \"0s\"\nrepeat = \"1h\"\n")
	cfg := loadConfig(t, b.String())

	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	owners := func() map[string]int {
		infos, err := cluster.Agents(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, in := range infos {
			if in.Live {
				m[in.ID] = len(in.Shards)
			}
		}
		return m
	}

	_, stopA := runClustered(t, cfg, "a")
	_, _ = runClustered(t, cfg, "b")
	waitFor(t, 30*time.Second, "the shards split between a and b", func() bool {
		o := owners()
		return o["a"] == 32 && o["b"] == 32
	})
	waitFor(t, 30*time.Second, "the P1 incident notified", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(triggers) == 1
	})
	// Every check runs, each on one agent: one result per (check, start).
	waitFor(t, 30*time.Second, "every check has results", func() bool {
		var c int
		db.QueryRow(`SELECT count(DISTINCT check_id) FROM results`).Scan(&c)
		return c == n+2 // the checks, down and the implicit cluster check
	})
	// Run by one agent, a check has about one result a second; by both,
	// two.
	rows, err := db.Query(`SELECT c.name, count(*), max(r.ts) - min(r.ts) FROM results r JOIN checks c ON c.id = r.check_id
		WHERE c.name LIKE 'ok%' GROUP BY c.name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var runs, spanMs int64
		if err := rows.Scan(&name, &runs, &spanMs); err != nil {
			t.Fatal(err)
		}
		if runs > spanMs/1000*5/4+2 {
			t.Errorf("%s: %d results in %d ms at a 1 s interval: run by both agents?", name, runs, spanMs)
		}
	}
	rows.Close()

	// A graceful stop hands everything over at once, well within the TTL.
	stopA()
	stopped := time.Now()
	waitFor(t, 10*time.Second, "b holds every shard", func() bool { return owners()["b"] == 64 })
	t.Logf("b took a's shards %v after a stopped", time.Since(stopped).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "ok00 runs on b", func() bool {
		var c int
		db.QueryRow(`SELECT count(*) FROM results r JOIN checks c ON c.id = r.check_id WHERE c.name = 'ok00' AND r.ts > $1`, stopped.UnixMilli()).Scan(&c)
		return c > 0
	})
	mu.Lock()
	defer mu.Unlock()
	for k, c := range triggers {
		if c != 1 {
			t.Errorf("incident %s triggered %d times, want 1", k, c)
		}
	}
	var open int
	db.QueryRow(`SELECT count(*) FROM incidents WHERE status != 'resolved'`).Scan(&open)
	if open != 1 {
		t.Errorf("%d incidents open, want 1 (the down check's, opened once)", open)
	}
}
