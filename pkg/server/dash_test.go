package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
)

const dashConfig = `
[agent]
database = "pulse.db"
status_page_title = "Example <Co>"
%s
[targets]
availability = 99.5

[[check]]
name = "api"
type = "tcp"
address = "127.0.0.1:1"
tags = ["web"]

[[check]]
name = "db"
type = "tcp"
address = "127.0.0.1:1"
tags = ["infra"]

[[check]]
name = "misc"
type = "tcp"
address = "127.0.0.1:1"

[[check]]
name = "orders"
type = "metric"
source = "sql"
driver = "sqlite"
dsn = "file:app.db"
query = "SELECT count(*) FROM orders"
compare = "1d"
crit_if_drop = 50
tags = ["business"]

[[check]]
name = "rps"
type = "metric"
source = "sql"
driver = "sqlite"
dsn = "file:app.db"
query = "SELECT 1"
tags = ["web", "throughput"]

[[maintenance]]
checks = ["db"]
schedule = "0 3 * * *"
duration = "1h"
announce = true
title = "DB <upgrade>"
`

// newDashFixture is newFixture with dashConfig: groups web, infra and
// untagged, two metric checks (one tagged throughput) and a maintenance
// window.
func newDashFixture(t testing.TB, agentExtra string) *fixture {
	t.Helper()
	return openDashFixture(t, t.TempDir(), fmt.Sprintf(dashConfig, agentExtra))
}

// openDashFixture writes toml as dir/pulse.toml and opens a listener on it
// and its database.
func openDashFixture(t testing.TB, dir, toml string) *fixture {
	t.Helper()
	path := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
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

const evilMessage = `<script>alert("x")</script>`

// seedDash records 70 days of hourly results (api: one crit run 60 days
// ago, inside 90 days but not 30; db all ok; misc crit now; the metrics
// with values), an incident acked after 5 minutes and resolved after 65, an
// open one, a silence and two annotations, one of them a deploy with HTML
// in its message. It returns api's runs in the 90 days.
func seedDash(t *testing.T, f *fixture) (apiRuns90 int) {
	t.Helper()
	ctx := context.Background()
	start := now.Add(-70 * 24 * time.Hour)
	first90 := time.Date(2026, 8, 28, 0, 0, 0, 0, time.UTC) // 90 UTC days ending 2026-11-25
	crit := now.Add(-60 * 24 * time.Hour)
	for ts := start; !ts.After(now); ts = ts.Add(time.Hour) {
		day := int(ts.Sub(start) / (24 * time.Hour))
		for _, c := range []string{"api", "db", "orders", "rps"} {
			r := checks.Result{Check: c, Start: ts, Duration: time.Duration(10+day%7) * time.Millisecond, State: checks.OK}
			if c == "api" && ts.Equal(crit) {
				r.State, r.Message = checks.Crit, "connection refused"
			}
			if c == "api" && !ts.Before(first90) {
				apiRuns90++
			}
			if c == "orders" {
				r.SetValue(float64(100 + day))
			}
			if c == "rps" {
				r.SetValue(float64(50 + ts.Hour()))
			}
			if err := f.st.Submit(store.Record{Result: r}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.st.Submit(store.Record{Result: checks.Result{Check: "misc", Start: now.Add(-time.Minute), Duration: time.Millisecond, State: checks.Crit, Message: "refused \x1b[31m" + evilMessage}}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CompactRollups(ctx, now); err != nil {
		t.Fatal(err)
	}
	opened := now.Add(-10 * 24 * time.Hour)
	id := f.incident(t, store.Incident{Check: "db", Type: "tcp", Severity: "P2", State: "crit", Message: "refused", OpenedAt: opened})
	if _, err := f.st.Ack(ctx, id, "ann", "", opened.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Resolve(ctx, id, "ann", opened.Add(65*time.Minute)); err != nil {
		t.Fatal(err)
	}
	f.incident(t, store.Incident{Check: "misc", Type: "tcp", Severity: "P1", State: "crit", Message: evilMessage, OpenedAt: now.Add(-30 * time.Minute)})
	if _, err := f.st.AddSilence(ctx, store.Silence{Pattern: "api*", Until: now.Add(time.Hour), Reason: "<b>load test</b>", CreatedBy: "bob", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.Annotation{
		{At: now.Add(-3 * 24 * time.Hour), Tag: "deploy", Message: evilMessage, Author: "ci"},
		{At: now.Add(-2 * 24 * time.Hour), Tag: "migration", Message: "orders split", Author: "dba"},
		{At: now.Add(-40 * 24 * time.Hour), Tag: "deploy", Message: "too old for 30 days"},
	} {
		if _, err := f.st.AddAnnotation(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	return apiRuns90
}

func TestDashExecutive(t *testing.T) {
	f := newDashFixture(t, "")
	apiRuns := seedDash(t, f)
	rec := f.get(t, "GET", "/dash/executive", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("GET /dash/executive = %d: %s", rec.Code, rec.Body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	page := rec.Body.String()
	noScript(t, page)
	for _, want := range []string{
		"<title>Example &lt;Co&gt; · Executive dashboard</title>",
		"1 untagged checks are in “other”",
		// api: 1 crit run of apiRuns in 90 days, none in 30; rps none:
		// the group is the mean of the two.
		`<td class="name">web</td><td class="num">2</td><td class="num ok">100%</td><td class="num ok">` + pct2(1-0.5/float64(apiRuns)) + `</td>`,
		`<td class="name">infra</td><td class="num">1</td><td class="num ok">100%</td><td class="num ok">100%</td>`,
		`<td class="name">other</td><td class="num">1</td><td class="num crit">0.00%</td>`,
		`<td class="name">business</td>`,
		// orders: day 69 (today) 169, yesterday 168: +0.6 %.
		`<td class="name">orders</td><td class="num">169</td>`,
		"2 incidents opened in 90 days (P1 1, P2 1, P3 0, P4 0); MTTA 5m00s, MTTR 1h05m.",
		`aria-label="availability of web by day"`,
		"availability (target 99.50%)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("executive page lacks %q", want)
		}
	}
	if n := strings.Count(page, `<tr class="group">`); n != 4 {
		t.Errorf("%d group rows, want 4 (web, infra, other, business)", n)
	}
	// 90 bars per group chart, and 13 weeks.
	if n := strings.Count(page, "<rect "); n != 4*90+13 {
		t.Errorf("%d bars, want 373", n)
	}
	if !strings.Contains(page, "<title>week of 19 Nov: 1 opened (P1 1, P2 0, P3 0, P4 0)</title>") {
		t.Error("no bar for the week of the open P1")
	}
	if n := regexp.MustCompile(`(?s)<table id="weeks">.*?</table>`).FindString(page); strings.Count(n, "<tr>") != 14 {
		t.Errorf("weeks table has %d rows, want 13 and a header", strings.Count(n, "<tr>"))
	}
}

// pct2 formats a share as the dashboards do (two decimals, rounded down).
func pct2(share float64) string {
	v := share * 100
	if v >= 100 {
		return "100%"
	}
	return fmt.Sprintf("%.2f%%", float64(int64(v*100+1e-6))/100)
}

func noScript(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"<script", "<b>", "\x1b", "http://", "https://", "src=", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

func TestDashOperations(t *testing.T) {
	f := newDashFixture(t, "")
	seedDash(t, f)
	rec := f.get(t, "GET", "/dash/operations", nil, nil)
	if rec.Code != 200 {
		t.Fatalf("GET /dash/operations = %d: %s", rec.Code, rec.Body)
	}
	page := rec.Body.String()
	noScript(t, page)
	if n := strings.Count(page, `<tr class="check">`); n != 5 {
		t.Errorf("%d check rows, want 5", n)
	}
	// Two deploys, one in the 30 days: a marker on the timeline, on each of
	// the 5 latency charts and on rps's throughput chart.
	if n := strings.Count(page, `<line class="marker"`); n != 7 {
		t.Errorf("%d deploy markers, want 7", n)
	}
	for _, want := range []string{
		"<title>Example &lt;Co&gt; · Operations dashboard</title>",
		`<td class="state crit">crit <span class="sev">#2 P1</span></td>`,
		`<td class="msg">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</td>`,                        // the open incident's message
		`<title>deploy 2026-11-22 12:00 UTC: &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</title>`, // the marker
		`<span class="tag">migration</span></td><td>dba</td><td class="msg">orders split</td>`,
		`<td>silence 1</td><td>api*</td><td>until 2026-11-25 13:00 UTC</td><td class="msg">&lt;b&gt;load test&lt;/b&gt; (bob)</td>`,
		`<td>maintenance</td><td>db</td><td class="">next 2026-11-26 03:00 UTC</td><td class="msg">DB &lt;upgrade&gt;: 0 3 * * * for 1h</td>`,
		`aria-label="throughput of rps by day`,
		`<td class="num">0%</td>`, // db's error rate
	} {
		if !strings.Contains(page, want) {
			t.Errorf("operations page lacks %q", want)
		}
	}
	if !regexp.MustCompile(`aria-label="p50 and p95 latency of api by day, peak 1\dms"`).MatchString(page) {
		t.Error("no latency chart of api peaking at 10-19 ms")
	}
	if strings.Contains(page, "too old for 30 days") {
		t.Error("an annotation older than 30 days is shown")
	}
	// misc's message: escape sequence gone, HTML escaped.
	if !regexp.MustCompile(`refused \S*\[31m&lt;script&gt;`).MatchString(page) {
		t.Errorf("misc's message is not shown escaped")
	}
}

func TestDashAuth(t *testing.T) {
	t.Setenv("PULSE_TEST_TOKEN", "s3cret-token")
	f := newDashFixture(t, `listen_token = "${PULSE_TEST_TOKEN}"`)
	for _, p := range []string{"/dash/executive", "/dash/operations"} {
		if rec := f.get(t, "GET", p, nil, nil); rec.Code != 401 {
			t.Errorf("GET %s without token = %d, want 401", p, rec.Code)
		}
		if rec := f.get(t, "GET", p, map[string]string{"Authorization": "Bearer s3cret-token"}, nil); rec.Code != 200 {
			t.Errorf("GET %s with token = %d, want 200", p, rec.Code)
		}
	}
}

func TestAnnotationsAPI(t *testing.T) {
	t.Setenv("PULSE_TEST_TOKEN", "s3cret-token")
	f := newDashFixture(t, `listen_token = "${PULSE_TEST_TOKEN}"`)
	good := map[string]string{"Authorization": "Bearer s3cret-token"}
	tests := []struct {
		name string
		hdr  map[string]string
		body string
		want int
		msg  string
	}{
		{"no token", nil, `{"tag":"deploy"}`, 401, "unauthorized"},
		{"wrong token", map[string]string{"Authorization": "Bearer nope"}, `{"tag":"deploy"}`, 403, "wrong token"},
		{"wrong basic", map[string]string{"Authorization": "Basic " + b64("x:nope")}, `{"tag":"deploy"}`, 403, "wrong token"},
		{"not JSON", good, `tag=deploy`, 400, "bad JSON"},
		{"unknown field", good, `{"tag":"deploy","msg":"x"}`, 400, `unknown field "msg"`},
		{"two objects", good, `{"tag":"deploy"}{"tag":"x"}`, 400, "one object only"},
		{"bad time", good, `{"tag":"deploy","at":"yesterday"}`, 400, "bad JSON"},
		{"empty tag", good, `{"message":"x"}`, 400, "tag: must not be empty"},
		{"bad tag", good, `{"tag":"<b>"}`, 400, "tag: \"<b>\": only a-z"},
		{"long message", good, `{"tag":"deploy","message":"` + strings.Repeat("é", 1001) + `"}`, 400, "message: 1001 characters, at most 1000"},
		{"too big", good, `{"tag":"deploy","message":"` + strings.Repeat("x", 9000) + `"}`, 413, "larger than 8192 bytes"},
		{"created", good, `{"tag":"deploy","message":"api v2 <b>","author":"ci","at":"2026-11-25T11:00:00Z"}`, 201, `"id":1`},
		{"created now", good, `{"tag":"rollback"}`, 201, `"author":"api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.get(t, "POST", "/api/v1/annotations", tt.hdr, strings.NewReader(tt.body))
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.msg) {
				t.Fatalf("POST = %d %q, want %d with %q", rec.Code, rec.Body, tt.want, tt.msg)
			}
			if strings.Contains(rec.Body.String(), "s3cret") {
				t.Error("the answer shows the token")
			}
		})
	}
	got, err := f.st.Annotations(context.Background(), now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("stored %d annotations, want 2: %+v", len(got), got)
	}
	if a := got[0]; a.Tag != "deploy" || a.Message != "api v2 <b>" || a.Author != "ci" || !a.At.Equal(now.Add(-time.Hour)) {
		t.Errorf("first = %+v", a)
	}
	if a := got[1]; a.Tag != "rollback" || a.Author != "api" || !a.At.Equal(now) {
		t.Errorf("second = %+v", a)
	}
	var resp annotationResponse
	rec := f.get(t, "POST", "/api/v1/annotations", good, strings.NewReader(`{"tag":"deploy","message":"x"}`))
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp.ID != 3 || resp.Tag != "deploy" || !resp.At.Equal(now) {
		t.Errorf("response = %+v, %v", resp, err)
	}
	// GET is not a route; without a configured token writes are refused.
	if rec := f.get(t, "GET", "/api/v1/annotations", good, nil); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/v1/annotations = %d, want 405", rec.Code)
	}
	open := newDashFixture(t, "")
	if rec := open.get(t, "POST", "/api/v1/annotations", good, strings.NewReader(`{"tag":"deploy"}`)); rec.Code != 403 || !strings.Contains(rec.Body.String(), "set [agent].listen_token") {
		t.Errorf("POST without a configured token = %d %q, want 403", rec.Code, rec.Body)
	}
}

// TestDashTodayRefresh: finished days are read once, today's point again
// after partialTTL; a render within it shows the day as it was read.
func TestDashTodayRefresh(t *testing.T) {
	f := newDashFixture(t, "")
	seedDash(t, f)
	clock := now
	f.srv.o.Now = func() time.Time { return clock }
	p95 := regexp.MustCompile(`<span class="name">api</span>.*?<td class="num">([^<]*)</td><td class="num">[^<]*</td><td><svg`)
	today := func() string {
		t.Helper()
		rec := f.get(t, "GET", "/dash/operations", nil, nil)
		m := p95.FindStringSubmatch(rec.Body.String())
		if rec.Code != 200 || m == nil {
			t.Fatalf("GET /dash/operations = %d, no p95 of api", rec.Code)
		}
		return m[1]
	}
	before := today()
	if !regexp.MustCompile(`^1\dms$`).MatchString(before) {
		t.Fatalf("api's p95 today is %q before the slow runs", before)
	}
	for i := range 40 {
		r := checks.Result{Check: "api", Start: now.Add(time.Duration(i) * time.Second), Duration: 900 * time.Millisecond, State: checks.OK}
		if err := f.st.Submit(store.Record{Result: r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(30 * time.Second) // past the page's 10 s, within today's minute
	if got := today(); got != before {
		t.Errorf("30 s later api's p95 today is %q, want %q still", got, before)
	}
	clock = now.Add(2 * time.Minute)
	if got := today(); !regexp.MustCompile(`^[5-9]\d\dms$`).MatchString(got) {
		t.Errorf("2 min later api's p95 today is %q, want about 900ms (a histogram bucket)", got)
	}
	if n := len(f.srv.dash.days); n != report.DashDays-1 {
		t.Errorf("%d finished days cached, want %d", n, report.DashDays-1)
	}
}
