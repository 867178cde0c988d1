package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"
	"weak"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

const reloadBase = `
[agent]
database = "pulse.db"
[defaults]
interval = "1s"
fail_after = 1
[[check]]
name = "keeps"
type = "command"
command = ["/bin/sh", "-c", "echo CRITICAL down; exit 2"]
[[check]]
name = "changes"
type = "command"
command = ["/bin/sh", "-c", "echo OK before"]
[[check]]
name = "goes"
type = "command"
command = ["/bin/true"]
[[check]]
name = "retyped"
type = "command"
command = ["/bin/true"]
`

const reloadNext = `
[agent]
database = "pulse.db"
[defaults]
interval = "1s"
fail_after = 1
[[check]]
name = "keeps"
type = "command"
command = ["/bin/sh", "-c", "echo CRITICAL down; exit 2"]
[[check]]
name = "changes"
type = "command"
command = ["/bin/sh", "-c", "echo OK after"]
[[check]]
name = "comes"
type = "command"
command = ["/bin/true"]
[[check]]
name = "retyped"
type = "tcp"
address = "127.0.0.1:9"
`

// waitFor polls cond every 50ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func latest(t *testing.T, st *store.Store, check string) (checks.Result, int) {
	t.Helper()
	rs, err := st.Results(context.Background(), check, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		return checks.Result{}, 0
	}
	return rs[len(rs)-1], len(rs)
}

// runAgent builds an agent and runs it until the test ends, then stops it
// and checks that Run returned no error.
func runAgent(t *testing.T, o Options) *Agent {
	t.Helper()
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return a
}

// configFile writes body to path and returns a loader of it.
func configFile(t *testing.T, path, body string) func() *config.Config {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return func() *config.Config {
		t.Helper()
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
}

// TestReloadAddsRemovesChangesAndKeeps covers SIGHUP's contract: checks
// added start, removed ones stop, changed ones take their new definition,
// unchanged ones keep their schedule phase, state and open incident.
func TestReloadAddsRemovesChangesAndKeeps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pulse.toml")
	write := func(body string) *config.Config {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	a := runAgent(t, Options{Config: write(reloadBase)})

	keeps := func() *runtime { return a.lookup("keeps") }
	waitFor(t, 10*time.Second, "keeps to open an incident", func() bool {
		rt := keeps()
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.state.IncidentID != 0
	})
	before := keeps()
	before.mu.Lock()
	incident := before.state.IncidentID
	before.mu.Unlock()
	due, ok := a.sched.Due("keeps")
	if !ok {
		t.Fatal("keeps is not scheduled")
	}

	if err := a.Reload(t.Context(), write(reloadNext)); err != nil {
		t.Fatalf("reload: %v", err)
	}

	if keeps() != before {
		t.Error("an unchanged check got a new runtime: its state would be lost")
	}
	if due2, _ := a.sched.Due("keeps"); !due2.Equal(due) && due2.Sub(due)%time.Second != 0 {
		t.Errorf("unchanged check's phase moved: due %v, then %v", due, due2)
	}
	if a.lookup("goes") != nil {
		t.Error("a removed check still has a runtime")
	}
	if _, ok := a.sched.Due("goes"); ok {
		t.Error("a removed check is still scheduled")
	}

	reader, err := store.Open(a.Config().Agent.Database, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	// The reload registered the added check and the one whose type changed
	// in the database; the others were registered at start.
	rows, err := reader.Checks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, r := range rows {
		types[r.Name] = r.Type
	}
	for name, want := range map[string]string{"keeps": "command", "changes": "command", "comes": "command", "retyped": "tcp"} {
		if types[name] != want {
			t.Errorf("check %q registered with type %q, want %s", name, types[name], want)
		}
	}
	waitFor(t, 10*time.Second, "the added check to run", func() bool {
		_, n := latest(t, reader, "comes")
		return n > 0
	})
	// Stored ok results keep no message; each check's latest result does.
	waitFor(t, 10*time.Second, "the changed check to run its new definition", func() bool {
		last, err := reader.LastResults(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return strings.Contains(last["changes"].Message, "after")
	})
	_, goneRuns := latest(t, reader, "goes")
	// "comes" has goes' interval: three more of its results stored mean
	// at least two of goes' slots have passed and their results, had it run,
	// would have been written in the same or an earlier batch.
	_, comesRuns := latest(t, reader, "comes")
	waitFor(t, 10*time.Second, "three more runs of the added check", func() bool {
		_, n := latest(t, reader, "comes")
		return n >= comesRuns+3
	})
	if _, n := latest(t, reader, "goes"); n != goneRuns {
		t.Errorf("the removed check ran %d more times after the reload", n-goneRuns)
	}
	rt := keeps()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.state.IncidentID != incident || !rt.state.IncidentOpen {
		t.Errorf("unchanged check's incident: %d open=%v, want #%d still open", rt.state.IncidentID, rt.state.IncidentOpen, incident)
	}
}

// TestReloadPicksUpRotatedCAFile: a ca_file whose contents changed on disk
// is a changed definition for the next reload, though the config file is
// the same: the check is rebuilt and trusts the new bundle.
func TestReloadPicksUpRotatedCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes that fail on purpose
	srv.StartTLS()
	defer srv.Close()
	// Another CA (every httptest server has the same certificate).
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	otherDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}) }
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pemOf(otherDER), 0o600); err != nil { // the wrong CA
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pulse.toml")
	body := fmt.Sprintf(`
[agent]
database = "pulse.db"
[[check]]
name = "api"
type = "http"
url = %q
ca_file = "ca.pem"
interval = "1s"
`, srv.URL)
	load := configFile(t, path, body)
	a := runAgent(t, Options{Config: load()})
	reader, err := store.Open(a.Config().Agent.Database, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	state := func() checks.State {
		last, err := reader.LastResults(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r, ok := last["api"]
		if !ok {
			return checks.Unknown
		}
		return r.State
	}
	waitFor(t, 10*time.Second, "the check to fail on the wrong CA", func() bool { return state() == checks.Crit })

	// Same config, same unchanged reload: nothing changes.
	before := a.lookup("api")
	if err := a.Reload(t.Context(), load()); err != nil {
		t.Fatal(err)
	}
	if a.lookup("api") != before {
		t.Error("a reload with nothing changed rebuilt the check")
	}
	if err := os.WriteFile(ca, pemOf(srv.Certificate().Raw), 0o600); err != nil { // rotated
		t.Fatal(err)
	}
	if err := a.Reload(t.Context(), load()); err != nil {
		t.Fatal(err)
	}
	if a.lookup("api") == before {
		t.Fatal("the check was kept though its ca_file changed")
	}
	waitFor(t, 10*time.Second, "the check to trust the rotated CA", func() bool { return state() == checks.OK })
}

// TestReloadReleasesOldConfig: after a reload that keeps every check, the
// old config's []Check can be collected. Kept runtimes used to point into
// it, so each reload kept the whole previous config alive (bench/load
// -reload measures the cost).
func TestReloadReleasesOldConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pulse.toml")
	body := strings.Replace(reloadBase, `"pulse.db"`, fmt.Sprintf("%q", filepath.Join(dir, "pulse.db")), 1)
	load := configFile(t, path, body)
	first := load()
	a, err := New(Options{Config: first})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	old := weak.Make(&first.Checks[0])
	kept := a.lookup("keeps")
	first = nil
	next := load()
	if err := a.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if a.lookup("keeps") != kept {
		t.Fatal("the unchanged check got a new runtime; this test needs it kept")
	}
	if got, want := kept.check(), &next.Checks[0]; got != want {
		t.Errorf("kept runtime's cfg = %p, want the new config's %p", got, want)
	}
	for range 3 {
		goruntime.GC()
	}
	if old.Value() != nil {
		t.Error("the old config's checks are still reachable after the reload")
	}
}
