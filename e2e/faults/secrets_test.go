package faults

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// secrets are the credentials the config of TestSecretsNeverShown holds.
var secrets = []string{"S3cretPW1", "T0kenQ2", "S3cretPW3", "S3cretH4"}

// TestSecretsNeverShown: a password and a token in an http check's URL, a
// password in a postgres DSN, a bearer token in a header; all three checks
// fail, open incidents and are notified. No secret appears in any output,
// log, API answer, webhook payload or in the database files.
func TestSecretsNeverShown(t *testing.T) {
	closed, listen, hookPort := freePort(t), freePort(t), freePort(t)
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		io.WriteString(w, "broken")
	}))
	t.Cleanup(tg.Close)
	rec := newReceiver(t, hookPort, 200)
	e := newEnv(t, fmt.Sprintf(`[agent]
name = "faults"
database = "pulse.db"
listen = "127.0.0.1:%d"

[defaults]
interval = "1s"
timeout = "2s"
severity = "P1"
fail_after = 1

[[check]]
name = "url-credentials"
type = "http"
url = "http://user:S3cretPW1@127.0.0.1:%d/health?token=T0kenQ2"

[[check]]
name = "postgres-dsn"
type = "sql"
driver = "postgres"
dsn = "postgres://pulse:S3cretPW3@127.0.0.1:1/x?sslmode=disable"
query = "SELECT 1"

[[check]]
name = "bearer-header"
type = "http"
url = %q
headers = { Authorization = "Bearer S3cretH4" }

[[notifier]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:%d/hook"

[escalation.P1]
notify = ["hook"]
within = "0s"
`, listen, closed, tg.URL, hookPort))

	// surface name → what it showed.
	shown := map[string]string{}
	out, errs, _ := e.pulse(t, "check")
	shown["pulse check"] = out + errs
	out, errs, _ = e.pulse(t, "check", "--no-color", "postgres-dsn", "url-credentials", "bearer-header")
	shown["pulse check NAME..."] = out + errs

	a := e.start(t)
	waitFor(t, 20*time.Second, "three incidents and their opened notifications", func() bool {
		incs, _ := e.tryIncidents()
		return len(incs) >= 3 && len(rec.accepted("opened", 0)) >= 3
	})
	api := fmt.Sprintf("http://127.0.0.1:%d", listen)
	for _, p := range []string{"/", "/api/v1/status", "/api/v1/incidents", "/feed.xml", "/metrics"} {
		code, body := httpGet(api + p)
		if code != 200 {
			t.Errorf("GET %s: status %d", p, code)
		}
		shown["GET "+p] = body
	}
	for _, args := range [][]string{{"status", "--json"}, {"status"}, {"incidents", "--json"}, {"incidents"}} {
		out, errs, _ := e.pulse(t, args...)
		shown["pulse "+strings.Join(args, " ")] = out + errs
	}
	incs := e.incidents(t)
	for _, inc := range incs {
		id := strconv.FormatInt(inc.ID, 10)
		out, errs, _ := e.pulse(t, "incidents", "show", id)
		shown["pulse incidents show "+id+" ("+inc.Check+")"] = out + errs
	}
	readDB := func(when string) {
		for _, f := range []string{"pulse.db", "pulse.db-wal"} {
			if b, err := os.ReadFile(filepath.Join(e.dir, f)); err == nil {
				shown[f+" ("+when+")"] = string(b)
			}
		}
	}
	readDB("agent running")
	a.term(15 * time.Second)
	readDB("agent stopped")
	shown["agent log"] = a.log()
	shown["webhook payloads"] = string(joinBytes(rec.payloads()))

	var names []string
	for n := range shown {
		names = append(names, n)
	}
	sort.Strings(names)
	var leaks []string
	for _, n := range names {
		for _, s := range secrets {
			if i := strings.Index(shown[n], s); i >= 0 {
				lo, hi := max(i-40, 0), min(i+len(s)+20, len(shown[n]))
				leaks = append(leaks, n+":"+s)
				t.Errorf("%s shows %s: %q", n, s, shown[n][lo:hi])
			}
		}
	}
	t.Logf("FIGURE secrets: surfaces=%d incidents=%d deliveries=%d leaks=%d leak_list=%q",
		len(shown), len(incs), len(rec.accepted("", 0)), len(leaks), strings.Join(leaks, ","))
	if len(incs) < 3 {
		t.Errorf("%d incidents, want 3: the test did not exercise every secret", len(incs))
	}
}

func joinBytes(bs [][]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(append(out, b...), '\n')
	}
	return out
}
