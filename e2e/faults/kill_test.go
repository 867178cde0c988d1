package faults

import (
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

// openRO opens the agent's database read-only, beside the running agent.
func openRO(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

type outboxKey struct {
	incident int64
	event    string
}

// TestKill9Restarts: 20 times `pulse run` for 0.5-2.5s then SIGKILL, while
// the target flips between 200 and 500 (incidents open and resolve) and the
// receiver refuses everything during the first 8 runs; then one clean run
// until the outbox is empty. Every opened and resolved notification the
// database holds was delivered; a duplicate carries the same incident key;
// duplicates in all ≤ the number of restarts.
func TestKill9Restarts(t *testing.T) {
	const restarts, refusing = 20, 8
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("PULSE_FAULT_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (PULSE_FAULT_SEED=%d repeats this run)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	var status atomic.Int32
	status.Store(200)
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, "target")
	}))
	t.Cleanup(tg.Close)
	stopFlip := make(chan struct{})
	flipped := make(chan struct{})
	go func() {
		defer close(flipped)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopFlip:
				return
			case <-tick.C:
				status.Store(700 - status.Load()) // 200 ↔ 500
			}
		}
	}()
	t.Cleanup(func() {
		select {
		case <-stopFlip:
		default:
			close(stopFlip)
		}
	})

	hookPort := freePort(t)
	rec := newReceiver(t, hookPort, 500)
	// A slow receiver: some kills land between its answer and the agent
	// recording the delivery, which is where duplicates come from.
	rec.delay.Store(int64(150 * time.Millisecond))
	e := newEnv(t, fmt.Sprintf(`[agent]
name = "faults"
database = "pulse.db"
flap_changes = 100000 # every open and resolve is notified, flapping or not

[[check]]
name = "flapper"
type = "http"
url = %q
interval = "1s"
timeout = "1s"
severity = "P1"
fail_after = 1
recover_after = 1

[[notifier]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:%d/hook"

[escalation.P1]
notify = ["hook"]
within = "0s"
`, tg.URL, hookPort))

	start := time.Now()
	for i := range restarts {
		if i == refusing {
			rec.status.Store(200)
		}
		a := e.start(t)
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(2*time.Second))))
		if a.exited() {
			t.Fatalf("run %d: the agent exited by itself (status %d)", i+1, a.code)
		}
		a.kill()
	}
	killedAt := time.Since(start)

	// The clean run: the target recovers, the receiver accepts.
	close(stopFlip)
	<-flipped
	status.Store(200)
	rec.status.Store(200)
	a := e.start(t)
	db := openRO(t, filepath.Join(e.dir, "pulse.db"))
	var pending, open int
	drained := func() bool {
		if err := db.QueryRow(`SELECT count(*) FROM outbox WHERE status = 'pending'`).Scan(&pending); err != nil {
			t.Logf("read outbox: %v", err)
			return false
		}
		if err := db.QueryRow(`SELECT count(*) FROM incidents WHERE status != 'resolved'`).Scan(&open); err != nil {
			t.Logf("read incidents: %v", err)
			return false
		}
		return pending == 0 && open == 0
	}
	deadline := time.Now().Add(50 * time.Second)
	for !drained() && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	took, _ := a.term(15 * time.Second)

	// What the database says was to be told.
	rows, err := db.Query(`SELECT DISTINCT incident_id, event FROM outbox
		WHERE status != 'superseded' AND event IN ('opened', 'resolved') AND incident_id IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[outboxKey]bool{}
	for rows.Next() {
		var k outboxKey
		if err := rows.Scan(&k.incident, &k.event); err != nil {
			t.Fatal(err)
		}
		want[k] = true
	}
	rows.Close()
	var incidents, resolved, failed int
	db.QueryRow(`SELECT count(*), count(*) FILTER (WHERE status = 'resolved') FROM incidents`).Scan(&incidents, &resolved)
	db.QueryRow(`SELECT count(*) FROM outbox WHERE status = 'failed'`).Scan(&failed)
	notifiedResolved := map[int64]bool{}
	rows, err = db.Query(`SELECT DISTINCT i.id FROM incidents i JOIN outbox o ON o.incident_id = i.id WHERE i.status = 'resolved'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		notifiedResolved[id] = true
	}
	rows.Close()

	got := map[outboxKey][]delivery{}
	all := rec.accepted("", 0)
	for _, d := range all {
		if d.Incident == nil {
			t.Errorf("a delivery without an incident: %s", d.raw)
			continue
		}
		k := outboxKey{d.Incident.ID, d.Event}
		got[k] = append(got[k], d)
	}
	duplicates := 0
	for k, ds := range got {
		duplicates += len(ds) - 1
		for _, d := range ds[1:] {
			if d.Incident.Key != ds[0].Incident.Key {
				t.Errorf("incident %d %s: a duplicate with key %q, the first had %q", k.incident, k.event, d.Incident.Key, ds[0].Incident.Key)
			}
		}
	}
	for k, ds := range got {
		if !want[k] {
			t.Logf("delivered but not in the outbox as opened/resolved: incident %d %s (%d times)", k.incident, k.event, len(ds))
		}
	}
	missing := 0
	for k := range want {
		if len(got[k]) == 0 {
			missing++
			t.Errorf("incident %d: its %q notification is in the outbox but never reached the receiver", k.incident, k.event)
		}
	}
	for id := range notifiedResolved {
		if !want[outboxKey{id, "resolved"}] {
			missing++
			t.Errorf("incident %d was notified and is resolved, but no resolved notification was queued", id)
		}
	}
	t.Logf("FIGURE kill9: seed=%d restarts=%d incidents=%d resolved=%d to_deliver=%d deliveries=%d duplicates=%d missing=%d pending_left=%d open_left=%d failed=%d kill_phase=%.1fs final_stop=%.1fs",
		seed, restarts, incidents, resolved, len(want), len(all), duplicates, missing, pending, open, failed, killedAt.Seconds(), took.Seconds())
	if pending != 0 || open != 0 {
		t.Errorf("after the clean run %d notifications are still pending and %d incidents still open", pending, open)
	}
	if failed != 0 {
		t.Errorf("%d notifications were given up as failed; the receiver only ever answered 500 or 200", failed)
	}
	if duplicates > restarts {
		t.Errorf("%d duplicate deliveries over %d restarts, want at most one per restart", duplicates, restarts)
	}
	if incidents == 0 || len(want) == 0 {
		t.Errorf("no incident was opened and notified: the test did not exercise anything")
	}
}
