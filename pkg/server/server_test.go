package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// now is the fixed clock of these tests: noon UTC, so "today" has data.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

const testConfig = `
[agent]
database = "pulse.db"
listen = "127.0.0.1:9108"
status_page_title = "Example status"
%s
[[check]]
name = "api"
type = "tcp"
address = "127.0.0.1:1"
tags = ["web"]
description = "Public API"

[[check]]
name = "db"
type = "tcp"
address = "127.0.0.1:1"
tags = ["infra"]

[[check]]
name = "secret-internal"
type = "tcp"
address = "127.0.0.1:1"
public = false
tags = ["infra"]

[[check]]
name = "nightly-backup"
type = "heartbeat"
period = "1d"
grace = "1h"
tags = ["infra"]
`

type fixture struct {
	cfg *config.Config
	st  *store.Store
	srv *Server
	m   *Metrics
}

// newFixture loads testConfig (with extra [agent] lines), opens a real
// database beside it and builds a listener on it.
func newFixture(t *testing.T, agentExtra string) *fixture {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(testConfig, agentExtra)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	st, err := store.Open(cfg.Agent.Database, store.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{cfg: cfg, st: st, m: NewMetrics(st, nil)}
	f.srv = New(Options{Store: st, Config: func() *config.Config { return f.cfg }, Metrics: f.m, Now: func() time.Time { return now }})
	return f
}

// results records each check's results: states[i] is the result i hours
// before now.
func (f *fixture) results(t *testing.T, check string, start time.Time, states ...checks.State) {
	t.Helper()
	for i, s := range states {
		r := checks.Result{Check: check, Start: start.Add(time.Duration(i) * time.Hour), Duration: 20 * time.Millisecond, State: s}
		if s != checks.OK {
			r.Message = "connection refused"
		}
		if err := f.st.Submit(store.Record{Result: r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) incident(t *testing.T, inc store.Incident) int64 {
	t.Helper()
	var id int64
	done := make(chan error, 1)
	err := f.st.Submit(store.Record{
		Apply: func(tx store.Tx) error {
			var err error
			id, err = tx.InsertIncident(&inc)
			return err
		},
		Done: func(err error) { done <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) get(t *testing.T, method, target string, hdr map[string]string, body io.Reader) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func TestStatusPage(t *testing.T) {
	f := newFixture(t, "")
	// api: two days ago 3 ok + 1 crit; today ok. db: crit now.
	twoDaysAgo := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	f.results(t, "api", twoDaysAgo, checks.OK, checks.OK, checks.Crit, checks.OK)
	f.results(t, "api", now.Add(-2*time.Hour), checks.OK, checks.OK)
	f.results(t, "db", now.Add(-time.Hour), checks.Crit)
	f.results(t, "secret-internal", now.Add(-time.Hour), checks.Crit)
	f.incident(t, store.Incident{Check: "db", Type: "tcp", Severity: "P1", State: "crit", Message: "connection refused", OpenedAt: now.Add(-90 * time.Minute)})
	f.incident(t, store.Incident{Check: "secret-internal", Type: "tcp", Severity: "P2", State: "crit", OpenedAt: now.Add(-time.Hour)})

	rec := f.get(t, "GET", "/", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("GET / = %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'none'", csp)
	}
	page := rec.Body.String()

	t.Run("self-contained", func(t *testing.T) {
		// Links people follow load nothing: the feed's, and those of
		// markdown in incident updates.
		rest := regexp.MustCompile(`<link rel="alternate" type="application/atom\+xml" [^>]*>|<a href="[^"]*">`).ReplaceAllString(page, "")
		for _, bad := range []string{"<script", "http://", "https://", "src=", "href=", "@import", "url(", "<link"} {
			if strings.Contains(rest, bad) {
				t.Errorf("page contains %q: it must not load anything", bad)
			}
		}
		if !strings.Contains(page, `name="viewport"`) {
			t.Error("no viewport meta: unreadable on a phone")
		}
	})
	t.Run("title and overall state", func(t *testing.T) {
		for _, want := range []string{"<title>Example status</title>", "Partial outage", "Public API", "Last updated 2026-11-25 12:00:00 UTC"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
	t.Run("public=false hidden", func(t *testing.T) {
		if strings.Contains(page, "secret-internal") {
			t.Error("page shows the public = false check (or its incident)")
		}
	})
	t.Run("groups and checks", func(t *testing.T) {
		for _, want := range []string{">web</h2>", ">infra</h2>", ">api</span>", ">db</span>", ">nightly-backup</span>"} {
			if !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	})
	t.Run("90 bars per chart with tooltips", func(t *testing.T) {
		// 2 group charts + 3 public checks' charts.
		if n, want := strings.Count(page, "<rect "), 5*PageDays; n != want {
			t.Errorf("%d bars, want %d", n, want)
		}
		want := "<title>Mon 23 Nov 2026: 75.00% up · 3 of 4 runs ok (0 warn, 1 crit, 0 unknown) · avg 20 ms, max 20 ms</title>"
		if !strings.Contains(page, want) {
			t.Errorf("no tooltip %q in\n%s", want, grep(page, "23 Nov"))
		}
		if !strings.Contains(page, "<title>Tue 24 Nov 2026: no data</title>") {
			t.Error("a day without runs lacks its no-data tooltip")
		}
		// api's last bar (today, all ok) is green, its 23 Nov bar red.
		re := regexp.MustCompile(`<rect x="(\d+)" width="4" height="30" class="(\w+)"><title>Wed 25 Nov 2026: 100% up · 2 of 2`)
		if m := re.FindStringSubmatch(page); m == nil || m[1] != fmt.Sprint((PageDays-1)*5) || m[2] != "ok" {
			t.Errorf("today's api bar = %v, want x=%d class ok", m, (PageDays-1)*5)
		}
	})
	t.Run("current incidents", func(t *testing.T) {
		if !strings.Contains(page, `<span class="sev P1">P1</span><span class="name">db</span> · #1 open since 2026-11-25 10:30 UTC (1h 30m)`) {
			t.Errorf("incident of db missing:\n%s", grep(page, "incident"))
		}
	})
	t.Run("cached then rebuilt on reload", func(t *testing.T) {
		f.results(t, "db", now, checks.OK)
		if again := f.get(t, "GET", "/", nil, nil).Body.String(); again != page {
			t.Error("page rebuilt within its TTL")
		}
		cfg := *f.cfg
		cfg.Agent.StatusPageTitle = "Renamed"
		f.cfg = &cfg
		if again := f.get(t, "GET", "/", nil, nil).Body.String(); !strings.Contains(again, "<title>Renamed</title>") {
			t.Error("page not rebuilt after a config change")
		}
	})
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestOverallState(t *testing.T) {
	tests := []struct {
		name   string
		states map[string]checks.State // others pending
		want   string
	}{
		{"all ok", map[string]checks.State{"api": checks.OK, "db": checks.OK, "nightly-backup": checks.OK}, "All systems operational"},
		{"one warn", map[string]checks.State{"api": checks.OK, "db": checks.Warn, "nightly-backup": checks.OK}, "Degraded performance"},
		{"one unknown", map[string]checks.State{"api": checks.Unknown, "db": checks.OK, "nightly-backup": checks.OK}, "Degraded performance"},
		{"all crit", map[string]checks.State{"api": checks.Crit, "db": checks.Crit, "nightly-backup": checks.Crit}, "Major outage"},
		{"hidden crit ignored", map[string]checks.State{"api": checks.OK, "db": checks.OK, "nightly-backup": checks.OK, "secret-internal": checks.Crit}, "All systems operational"},
		{"no results", nil, "Awaiting first results"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			for name, s := range tt.states {
				f.results(t, name, now.Add(-time.Minute), s)
			}
			page := f.get(t, "GET", "/", nil, nil).Body.String()
			if !strings.Contains(page, `<div class="banner`) || !strings.Contains(page, tt.want+"</div>") {
				t.Errorf("banner is not %q:\n%s", tt.want, grep(page, "banner "))
			}
		})
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name  string
		token bool
		path  string
		hdr   map[string]string
		want  int
	}{
		{"no token configured: page open", false, "/", nil, 200},
		{"no token configured: metrics open", false, "/metrics", nil, 200},
		{"page without token", true, "/", nil, 401},
		{"status without token", true, "/api/v1/status", nil, 401},
		{"incidents without token", true, "/api/v1/incidents", nil, 401},
		{"metrics without token", true, "/metrics", nil, 401},
		{"feed without token", true, "/feed.xml", nil, 401},
		{"feed with token", true, "/feed.xml", map[string]string{"Authorization": "Bearer s3cret-token"}, 200},
		{"wrong bearer", true, "/metrics", map[string]string{"Authorization": "Bearer nope"}, 401},
		{"prefix of token", true, "/metrics", map[string]string{"Authorization": "Bearer s3cret-tok"}, 401},
		{"right bearer", true, "/metrics", map[string]string{"Authorization": "Bearer s3cret-token"}, 200},
		{"bearer any case", true, "/api/v1/status", map[string]string{"Authorization": "bearer s3cret-token"}, 200},
		{"basic auth password", true, "/", map[string]string{"Authorization": "Basic " + b64("ops:s3cret-token")}, 200},
		{"basic auth wrong", true, "/", map[string]string{"Authorization": "Basic " + b64("ops:nope")}, 401},
		{"healthz exempt", true, "/healthz", nil, 200},
		{"ping exempt", true, "/ping/nightly-backup", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := ""
			if tt.token {
				t.Setenv("PULSE_TEST_TOKEN", "s3cret-token")
				extra = `listen_token = "${PULSE_TEST_TOKEN}"`
			}
			f := newFixture(t, extra)
			rec := f.get(t, "GET", tt.path, tt.hdr, nil)
			if rec.Code != tt.want {
				t.Fatalf("GET %s = %d, want %d: %s", tt.path, rec.Code, tt.want, rec.Body)
			}
			if rec.Code == 401 {
				if got := rec.Header().Values("WWW-Authenticate"); len(got) != 2 || !strings.HasPrefix(got[0], "Bearer") || !strings.HasPrefix(got[1], "Basic") {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if strings.Contains(rec.Body.String(), "s3cret") {
					t.Error("401 body shows the token")
				}
			}
		})
	}
}

func b64(s string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	u, p, _ := strings.Cut(s, ":")
	req.SetBasicAuth(u, p)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

func TestPing(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		path     string
		want     int
		kind     string // ping kind expected on disk, "" for none
		body     string
		wantBody int // stored body length
	}{
		{"success GET", "GET", "/ping/nightly-backup", 200, store.PingSuccess, "", 0},
		{"success POST with output", "POST", "/ping/nightly-backup", 200, store.PingSuccess, "backup done: 42 GB", 18},
		{"start", "POST", "/ping/nightly-backup/start", 200, store.PingStart, "", 0},
		{"fail", "GET", "/ping/nightly-backup/fail", 200, store.PingFail, "", 0},
		{"body capped", "POST", "/ping/nightly-backup/fail", 200, store.PingFail, strings.Repeat("x", 3*store.MaxPingBody), store.MaxPingBody},
		{"not a heartbeat check", "GET", "/ping/api", 404, "", "", 0},
		{"unknown check", "GET", "/ping/nope", 404, "", "", 0},
		{"unknown kind", "GET", "/ping/nightly-backup/finish", 404, "", "", 0},
		{"other method", "PUT", "/ping/nightly-backup", 405, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			var pinged []string
			f.srv.o.OnPing = func(check, kind string) { pinged = append(pinged, check+"/"+kind) }
			rec := f.get(t, tt.method, tt.path, nil, strings.NewReader(tt.body))
			if rec.Code != tt.want {
				t.Fatalf("%s %s = %d, want %d: %s", tt.method, tt.path, rec.Code, tt.want, rec.Body)
			}
			ps, err := f.st.LastPings(context.Background(), "nightly-backup")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]time.Time{store.PingSuccess: ps.LastSuccess, store.PingStart: ps.LastStart, store.PingFail: ps.LastFail}
			for kind, at := range got {
				if want := kind == tt.kind; want != !at.IsZero() {
					t.Errorf("ping %s on disk = %v, want recorded %v", kind, at, want)
				} else if want && !at.Equal(now) {
					t.Errorf("ping %s at %v, want %v", kind, at, now)
				}
			}
			if tt.kind == "" {
				if len(pinged) != 0 {
					t.Errorf("OnPing called for a refused ping: %v", pinged)
				}
				return
			}
			if want := []string{"nightly-backup/" + tt.kind}; !reflect.DeepEqual(pinged, want) {
				t.Errorf("OnPing calls = %v, want %v", pinged, want)
			}
			db, err := sql.Open("sqlite3", "file:"+f.cfg.Agent.Database+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var n int
			if err := db.QueryRow(`SELECT length(body) FROM pings WHERE kind = ?`, tt.kind).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != tt.wantBody {
				t.Errorf("stored body of %d bytes, want %d", n, tt.wantBody)
			}
		})
	}
}

// failingStore refuses writes, as a full disk would.
type failingStore struct{ Store }

func (failingStore) RecordPing(context.Context, string, string, time.Time, string) error {
	return errors.New("disk I/O error")
}

func TestPingNotRecorded(t *testing.T) {
	f := newFixture(t, "")
	f.srv.o.Store = failingStore{f.st}
	rec := f.get(t, "POST", "/ping/nightly-backup", nil, nil)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("ping with a failing database = %d, want 503", rec.Code)
	}
}

func TestHealthz(t *testing.T) {
	tests := []struct {
		name     string
		health   error
		want     int
		wantBody string
	}{
		{"healthy", nil, 200, "ok\n"},
		{"stalled", errors.New("scheduler stalled: last tick 45s ago (expected within 30s)"), 503,
			"unhealthy: scheduler stalled: last tick 45s ago (expected within 30s)\n"},
		{"database", errors.New("database does not accept writes: disk full"), 503, "unhealthy: database does not accept writes: disk full\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			f.srv.o.Health = func(context.Context) error { return tt.health }
			rec := f.get(t, "GET", "/healthz", nil, nil)
			if rec.Code != tt.want || rec.Body.String() != tt.wantBody {
				t.Errorf("GET /healthz = %d %q, want %d %q", rec.Code, rec.Body, tt.want, tt.wantBody)
			}
		})
	}
}

func TestAPIStatus(t *testing.T) {
	f := newFixture(t, "")
	f.results(t, "api", now.Add(-3*time.Hour), checks.OK, checks.Warn, checks.OK)
	f.results(t, "db", now.Add(-time.Hour), checks.Crit)
	f.incident(t, store.Incident{Check: "db", Type: "tcp", Severity: "P1", State: "crit", OpenedAt: now.Add(-time.Hour)})
	rec := f.get(t, "GET", "/api/v1/status", nil, nil)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/status = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got report.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	// The same document `pulse status --json` builds.
	want, err := report.BuildStatus(context.Background(), f.st, f.cfg, now)
	if err != nil {
		t.Fatal(err)
	}
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if string(wb) != string(gb) {
		t.Errorf("status differs from report.BuildStatus:\n got %s\nwant %s", gb, wb)
	}
	if got.Checks.Total != 4 || got.Checks.Crit != 1 || got.Checks.OK != 1 || got.OpenIncidents.P1 != 1 {
		t.Errorf("counts = %+v, incidents %+v", got.Checks, got.OpenIncidents)
	}
}

func TestAPIIncidents(t *testing.T) {
	f := newFixture(t, "")
	v := 42.0
	f.incident(t, store.Incident{Check: "api", Type: "tcp", Severity: "P2", State: "warn", Status: store.StatusResolved,
		OpenedAt: now.Add(-48 * time.Hour), ResolvedAt: now.Add(-47 * time.Hour)})
	f.incident(t, store.Incident{Check: "db", Type: "tcp", Severity: "P1", State: "crit", Message: "connection refused",
		Value: &v, OpenedAt: now.Add(-30 * time.Minute)})

	tests := []struct {
		query   string
		want    int
		wantIDs []int64
	}{
		{"", 200, []int64{2, 1}},
		{"?open=true", 200, []int64{2}},
		{"?since=24h", 200, []int64{2}},
		{"?since=3d", 200, []int64{2, 1}},
		{"?severity=P2", 200, []int64{1}},
		{"?limit=1", 200, []int64{2}},
		{"?open=maybe", 400, nil},
		{"?since=-1h", 400, nil},
		{"?severity=P9", 400, nil},
		{"?limit=0", 400, nil},
		{"?limit=5000", 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			rec := f.get(t, "GET", "/api/v1/incidents"+tt.query, nil, nil)
			if rec.Code != tt.want {
				t.Fatalf("= %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want != 200 {
				return
			}
			var got []report.IncidentRecord
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, in := range got {
				ids = append(ids, in.ID)
			}
			if !reflect.DeepEqual(ids, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, tt.wantIDs)
			}
		})
	}
	t.Run("fields", func(t *testing.T) {
		var got []map[string]any
		if err := json.Unmarshal(f.get(t, "GET", "/api/v1/incidents?open=true", nil, nil).Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"id": 2.0, "check": "db", "severity": "P1", "status": "open", "message": "connection refused",
			"opened_at": "2026-11-25T11:30:00Z", "type": "tcp", "state": "crit", "value": 42.0, "duration_s": 1800.0,
			"notifications_sent": 0.0, "notifications_failed": 0.0, "updates": []any{},
		}
		if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("incident = %v\nwant %v", got, want)
		}
	})
}

func TestServeAndShutdown(t *testing.T) {
	f := newFixture(t, "")
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("GET /healthz = %d %q", resp.StatusCode, body)
	}
	// A header larger than MaxHeaderBytes is refused.
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2*MaxHeaderBytes))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("oversized header = %d, want 431", resp.StatusCode)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := Listen(ln.Addr().String()); err != nil {
		t.Errorf("port still bound after shutdown: %v", err)
	}
}

func TestListenTaken(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := Listen(ln.Addr().String()); err == nil || !strings.Contains(err.Error(), "[agent].listen") {
		t.Errorf("Listen on a taken port = %v, want an error naming [agent].listen", err)
	}
}

// idleListener is a net.Listener at any address that accepts nothing, so
// Serve can be started on a non-loopback address without binding one.
type idleListener struct {
	addr   net.Addr
	closed chan struct{}
	once   sync.Once
}

func (l *idleListener) Accept() (net.Conn, error) { <-l.closed; return nil, net.ErrClosed }
func (l *idleListener) Close() error              { l.once.Do(func() { close(l.closed) }); return nil }
func (l *idleListener) Addr() net.Addr            { return l.addr }

// TestServeWarnsWithoutToken: a listener reachable beyond this host with no
// listen_token logs a warning at start; on loopback, or with a token, not.
func TestServeWarnsWithoutToken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ip    string
		token string
		warn  bool
	}{
		{"public-no-token", "192.0.2.10", "", true},
		{"all-interfaces-no-token", "0.0.0.0", "", true},
		{"ipv6-all-no-token", "::", "", true},
		{"loopback-no-token", "127.0.0.1", "", false},
		{"ipv6-loopback-no-token", "::1", "", false},
		{"public-with-token", "192.0.2.10", `listen_token = "s3cret"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.token)
			var logs bytes.Buffer
			srv := New(Options{Store: f.st, Config: func() *config.Config { return f.cfg }, Metrics: f.m, Now: func() time.Time { return now },
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // serve, log, and stop at once
			ln := &idleListener{addr: &net.TCPAddr{IP: net.ParseIP(tc.ip), Port: 9108}, closed: make(chan struct{})}
			if err := srv.Serve(ctx, ln); err != nil {
				t.Fatal(err)
			}
			got := strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "without [agent].listen_token")
			if got != tc.warn {
				t.Errorf("warned %v, want %v; logs:\n%s", got, tc.warn, logs.String())
			}
		})
	}
}
