package checks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// fakeHistory holds recorded values of one check and answers ValueNear the
// way the store does: the value closest to t within ±tolerance.
type fakeHistory struct {
	check  string
	values map[time.Time]float64
	err    error
	calls  []historyCall
}

type historyCall struct {
	check     string
	t         time.Time
	tolerance time.Duration
}

var _ History = (*fakeHistory)(nil)

func (f *fakeHistory) ValueNear(_ context.Context, check string, t time.Time, tolerance time.Duration) (float64, bool, error) {
	f.calls = append(f.calls, historyCall{check, t, tolerance})
	if f.err != nil {
		return 0, false, f.err
	}
	if check != f.check {
		return 0, false, nil
	}
	var best float64
	bestGap := time.Duration(-1)
	for at, v := range f.values {
		gap := at.Sub(t)
		if gap < 0 {
			gap = -gap
		}
		if gap <= tolerance && (bestGap < 0 || gap < bestGap) {
			best, bestGap = v, gap
		}
	}
	return best, bestGap >= 0, nil
}

// metricServer serves JSON documents and checks every request field by field.
func metricServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check := func(what, got, want string) {
			if got != want {
				t.Errorf("request %s = %q, want %q", what, got, want)
			}
		}
		check("method", r.Method, http.MethodPost)
		check("X-Api-Key", r.Header.Get("X-Api-Key"), "k-123")
		check("Accept", r.Header.Get("Accept"), "application/json")
		check("User-Agent", r.Header.Get("User-Agent"), "pulse")
		user, pass, ok := r.BasicAuth()
		if !ok || user != "stats" || pass != "pw" {
			t.Errorf("basic auth = %q %q %v, want stats pw", user, pass, ok)
		}
		body, _ := io.ReadAll(r.Body)
		var q struct {
			Metric string `json:"metric"`
		}
		if err := json.Unmarshal(body, &q); err != nil || q.Metric != "signups" {
			t.Errorf("request body %q, want {\"metric\":\"signups\"}", body)
		}
		switch r.URL.Path {
		case "/stats":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"data":{"signups":60,"zero":0,"seventy":70,"eightyfive":85,"revenue":"1234.5","name":"abc","none":null,"obj":{"a":1},"list":[1,2],"up":true}}`)
		case "/broken":
			http.Error(w, "database down", http.StatusInternalServerError)
		case "/notjson":
			_, _ = io.WriteString(w, "<html>signups: 60</html>")
		case "/huge":
			_, _ = io.WriteString(w, `{"pad":"`+strings.Repeat("x", 1<<20)+`","signups":1}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestMetricHTTP(t *testing.T) {
	srv := metricServer(t)
	now := time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		path    string
		value   string
		warn    string
		crit    string
		status  []config.StatusMatcher
		state   State
		msg     string
		want    float64
		noValue bool
	}{
		{name: "number", path: "/stats", value: "data.signups", state: OK, msg: "signups 60", want: 60},
		{name: "numeric string", path: "/stats", value: "data.revenue", state: OK, msg: "signups 1234.5", want: 1234.5},
		{name: "bool", path: "/stats", value: "data.up", state: OK, msg: "signups 1", want: 1},
		{name: "warn", path: "/stats", value: "data.signups", warn: "< 80", crit: "< 20", state: Warn, msg: "signups 60 < 80 (warn_if)", want: 60},
		{name: "crit", path: "/stats", value: "data.signups", warn: "< 80", crit: "< 70", state: Crit, msg: "signups 60 < 70 (crit_if)", want: 60},
		{name: "missing path", path: "/stats", value: "data.nope", state: Unknown, noValue: true, msg: `path "data.nope" not found in the response`},
		{name: "text", path: "/stats", value: "data.name", state: Unknown, noValue: true, msg: `value at "data.name" is "abc", not a number`},
		{name: "null", path: "/stats", value: "data.none", state: Unknown, noValue: true, msg: `value at "data.none" is null`},
		{name: "object", path: "/stats", value: "data.obj", state: Unknown, noValue: true, msg: `value at "data.obj" is an object, not a number`},
		{name: "array", path: "/stats", value: "data.list", state: Unknown, noValue: true, msg: `value at "data.list" is an array, not a number`},
		{name: "gjson modifier", path: "/stats", value: "data.list.#", state: OK, msg: "signups 2", want: 2},
		{name: "server error", path: "/broken", value: "data.signups", state: Crit, noValue: true, msg: "HTTP 500 Internal Server Error"},
		{name: "expected status", path: "/broken", value: "data.signups", status: []config.StatusMatcher{{Class: 5}}, state: Unknown, noValue: true, msg: "response is not valid JSON"},
		{name: "not found", path: "/nope", value: "data.signups", state: Crit, noValue: true, msg: "HTTP 404 Not Found"},
		{name: "not json", path: "/notjson", value: "data.signups", state: Unknown, noValue: true, msg: "response is not valid JSON"},
		{name: "over 1 MiB", path: "/huge", value: "signups", state: Unknown, noValue: true, msg: "response larger than 1048576 bytes, value not read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &config.Check{
				Name:       "signups",
				Type:       "metric",
				Expect:     &config.Expect{Status: tc.status},
				HTTPFields: &config.HTTPFields{URL: srv.URL + tc.path, Method: "post", Headers: map[string]config.Secret{"X-Api-Key": "k-123"}, Body: `{"metric":"signups"}`, BasicAuth: &config.BasicAuth{Username: "stats", Password: "pw"}},
				KindFields: &config.KindFields{Source: "http", Value: tc.value, WarnIf: sqlThreshold(t, tc.warn), CritIf: sqlThreshold(t, tc.crit)},
			}
			chk, err := New(c, &Env{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			res := Run(context.Background(), "signups", chk, 5*time.Second, nil)
			if res.State != tc.state || res.Message != tc.msg {
				t.Errorf("got %s %q, want %s %q", res.State, res.Message, tc.state, tc.msg)
			}
			if tc.noValue == res.HasValue || (!tc.noValue && res.Value != tc.want) {
				t.Errorf("value = %v (set %v), want %v (set %v)", res.Value, res.HasValue, tc.want, !tc.noValue)
			}
		})
	}
}

func TestMetricHTTPTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	chk, err := New(&config.Check{Name: "slow", Type: "metric", HTTPFields: &config.HTTPFields{URL: srv.URL}, KindFields: &config.KindFields{Source: "http", Value: "n"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := Run(context.Background(), "slow", chk, 200*time.Millisecond, nil)
	if res.State != Crit || !strings.Contains(res.Message, "context deadline exceeded") {
		t.Errorf("got %s %q, want crit on the deadline", res.State, res.Message)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %v, want it cancelled near 200ms", took)
	}
}

// TestMetricCompare judges drops against a baseline recorded compare ago,
// with a fixed clock and a fake history.
func TestMetricCompare(t *testing.T) {
	srv := metricServer(t)
	now := time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)
	weekAgo := now.Add(-7 * 24 * time.Hour)
	cases := []struct {
		name     string
		value    string // gjson path: data.signups is 60, data.zero is 0
		compare  time.Duration
		interval time.Duration
		schedule string
		baseline map[time.Time]float64
		histErr  error
		noHist   bool
		crit     string
		state    State
		msg      string
		drop     float64
		noDrop   bool
		wantTol  time.Duration
	}{
		{name: "crit drop", baseline: map[time.Time]float64{weekAgo.Add(2 * time.Minute): 100}, state: Crit,
			msg: "signups 60, down 40.0% from 100 7d ago (crit_if_drop 30%)", drop: 40},
		{name: "warn drop", baseline: map[time.Time]float64{weekAgo: 75}, state: Warn,
			msg: "signups 60, down 20.0% from 75 7d ago (warn_if_drop 15%)", drop: 20},
		{name: "small drop", baseline: map[time.Time]float64{weekAgo: 63}, state: OK,
			msg: "signups 60, down 4.8% from 63 7d ago", drop: 100 * 3.0 / 63},
		{name: "halved", baseline: map[time.Time]float64{weekAgo: 120}, state: Crit,
			msg: "signups 60, down 50.0% from 120 7d ago (crit_if_drop 30%)", drop: 50},
		{name: "drop exactly at crit_if_drop", value: "data.seventy", baseline: map[time.Time]float64{weekAgo: 100}, state: Crit,
			msg: "signups 70, down 30.0% from 100 7d ago (crit_if_drop 30%)", drop: 30},
		{name: "drop exactly at warn_if_drop", value: "data.eightyfive", baseline: map[time.Time]float64{weekAgo: 100}, state: Warn,
			msg: "signups 85, down 15.0% from 100 7d ago (warn_if_drop 15%)", drop: 15},
		{name: "rise", baseline: map[time.Time]float64{weekAgo: 50}, state: OK,
			msg: "signups 60, up 20.0% from 50 7d ago", drop: -20},
		{name: "unchanged", baseline: map[time.Time]float64{weekAgo: 60}, state: OK,
			msg: "signups 60, unchanged from 60 7d ago", drop: 0},
		{name: "nearest baseline wins", baseline: map[time.Time]float64{weekAgo.Add(-4 * time.Minute): 1000, weekAgo.Add(time.Minute): 100}, state: Crit,
			msg: "signups 60, down 40.0% from 100 7d ago (crit_if_drop 30%)", drop: 40},
		{name: "no baseline yet", baseline: nil, state: Unknown, noDrop: true,
			msg: "signups 60, no baseline yet (no value recorded near 2026-11-12 10:00)"},
		{name: "baseline outside the interval", baseline: map[time.Time]float64{weekAgo.Add(6 * time.Minute): 100}, state: Unknown, noDrop: true,
			msg: "signups 60, no baseline yet (no value recorded near 2026-11-12 10:00)"},
		{name: "one day", compare: 24 * time.Hour, baseline: map[time.Time]float64{now.Add(-24 * time.Hour): 80}, state: Warn,
			msg: "signups 60, down 25.0% from 80 1d ago (warn_if_drop 15%)", drop: 25},
		{name: "hours", compare: 3 * time.Hour, baseline: map[time.Time]float64{now.Add(-3 * time.Hour): 60}, state: OK,
			msg: "signups 60, unchanged from 60 3h ago", drop: 0},
		{name: "zero baseline", baseline: map[time.Time]float64{weekAgo: 0}, state: Unknown, noDrop: true,
			msg: "signups 60, baseline is 0 7d ago, no drop to compute"},
		{name: "zero baseline and zero value", value: "data.zero", baseline: map[time.Time]float64{weekAgo: 0}, state: OK,
			msg: "signups 0, unchanged from 0 7d ago", drop: 0},
		{name: "value threshold and no baseline", crit: "< 100", baseline: nil, state: Crit, noDrop: true,
			msg: "signups 60 < 100 (crit_if), no baseline yet (no value recorded near 2026-11-12 10:00)"},
		{name: "history error", histErr: errors.New("database is locked"), state: Unknown, noDrop: true,
			msg: "signups 60, cannot read the baseline: database is locked"},
		{name: "no history store", noHist: true, state: Unknown, noDrop: true,
			msg: "signups 60, no history store (baselines need `pulse run`)"},
		{name: "scheduled checks look 5m either way", interval: -1, schedule: "0 10 * * *", baseline: map[time.Time]float64{weekAgo.Add(-5 * time.Minute): 100},
			state: Crit, msg: "signups 60, down 40.0% from 100 7d ago (crit_if_drop 30%)", drop: 40, wantTol: 5 * time.Minute},
		{name: "interval is the tolerance", interval: 15 * time.Minute, baseline: map[time.Time]float64{weekAgo.Add(14 * time.Minute): 100},
			state: Crit, msg: "signups 60, down 40.0% from 100 7d ago (crit_if_drop 30%)", drop: 40, wantTol: 15 * time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.value == "" {
				tc.value = "data.signups"
			}
			if tc.compare == 0 {
				tc.compare = 7 * 24 * time.Hour
			}
			switch {
			case tc.interval == 0:
				tc.interval = 5 * time.Minute
			case tc.interval < 0:
				tc.interval = 0
			}
			if tc.wantTol == 0 {
				tc.wantTol = tc.interval
			}
			c := &config.Check{
				Name:       "signups",
				Type:       "metric",
				Interval:   config.Duration(tc.interval),
				Schedule:   tc.schedule,
				HTTPFields: &config.HTTPFields{URL: srv.URL + "/stats", Method: "POST", Headers: map[string]config.Secret{"X-Api-Key": "k-123"}, Body: `{"metric":"signups"}`, BasicAuth: &config.BasicAuth{Username: "stats", Password: "pw"}},
				KindFields: &config.KindFields{Source: "http", Value: tc.value, Compare: config.Duration(tc.compare), WarnIfDrop: 15, CritIfDrop: 30, CritIf: sqlThreshold(t, tc.crit)},
			}
			hist := &fakeHistory{check: "signups", values: tc.baseline, err: tc.histErr}
			env := &Env{Now: func() time.Time { return now }, History: hist}
			if tc.noHist {
				env.History = nil
			}
			chk, err := New(c, env)
			if err != nil {
				t.Fatal(err)
			}
			res := chk.Run(context.Background())
			if res.State != tc.state || res.Message != tc.msg {
				t.Errorf("got %s %q, want %s %q", res.State, res.Message, tc.state, tc.msg)
			}
			want := map[string]float64{"data.signups": 60, "data.zero": 0, "data.seventy": 70, "data.eightyfive": 85}[tc.value]
			if !res.HasValue || res.Value != want {
				t.Errorf("value = %v (set %v), want %v", res.Value, res.HasValue, want)
			}
			var drop *Perf
			for i := range res.Perf {
				if res.Perf[i].Label == "drop" {
					drop = &res.Perf[i]
				}
			}
			switch {
			case tc.noDrop && drop != nil:
				t.Errorf("drop perf %+v, want none", *drop)
			case !tc.noDrop && (drop == nil || drop.UOM != "%" || !closeTo(drop.Value, tc.drop)):
				t.Errorf("drop perf %+v, want %v%%", drop, tc.drop)
			}
			if tc.noHist {
				return
			}
			if len(hist.calls) != 1 {
				t.Fatalf("%d ValueNear calls, want 1", len(hist.calls))
			}
			if got := hist.calls[0]; got != (historyCall{"signups", now.Add(-tc.compare), tc.wantTol}) {
				t.Errorf("ValueNear(%q, %v, %v), want (signups, %v, %v)", got.check, got.t, got.tolerance, now.Add(-tc.compare), tc.wantTol)
			}
		})
	}
}

func closeTo(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestMetricSQL reads a business number from a real SQLite file and compares
// it with yesterday's.
func TestMetricSQL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.db")
	makeSQLite(t, path, 30)
	now := time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)
	hist := &fakeHistory{check: "orders", values: map[time.Time]float64{now.Add(-24 * time.Hour): 40}}
	c := &config.Check{
		Name:       "orders",
		Type:       "metric",
		Interval:   config.Duration(time.Minute),
		KindFields: &config.KindFields{Source: "sql", Driver: "sqlite", DSN: config.Secret(path), Query: "SELECT count(*) FROM signups", Compare: config.Duration(24 * time.Hour), WarnIfDrop: 10, CritIfDrop: 50, WarnIf: sqlThreshold(t, "< 10")},
	}
	pools := NewSQLPools(nil)
	defer pools.Close()
	chk, err := New(c, &Env{Now: func() time.Time { return now }, History: hist, SQL: pools})
	if err != nil {
		t.Fatal(err)
	}
	res := chk.Run(context.Background())
	if res.State != Warn || res.Message != "orders 30, down 25.0% from 40 1d ago (warn_if_drop 10%)" || res.Value != 30 {
		t.Errorf("got %s %v %q", res.State, res.Value, res.Message)
	}
	if pools.Len() != 1 {
		t.Errorf("%d pools, want the shared one", pools.Len())
	}

	c.Query = "SELECT note FROM signups"
	chk, err = New(c, &Env{Now: func() time.Time { return now }, History: hist, SQL: pools})
	if err != nil {
		t.Fatal(err)
	}
	if res := chk.Run(context.Background()); res.State != Unknown || res.Message != `first column "n0" is not a number` {
		t.Errorf("got %s %q, want unknown", res.State, res.Message)
	}
}

func TestMetricConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    config.Check
		want string
	}{
		{"source", config.Check{Name: "m", Type: "metric", KindFields: &config.KindFields{Source: "ftp"}}, `check "m": unknown source "ftp"`},
		{"value", config.Check{Name: "m", Type: "metric", HTTPFields: &config.HTTPFields{URL: "http://127.0.0.1/"}, KindFields: &config.KindFields{Source: "http"}}, `check "m": value (a gjson path`},
		{"url", config.Check{Name: "m", Type: "metric", KindFields: &config.KindFields{Source: "http", Value: "n"}}, `check "m": url is empty`},
		{"drop without compare", config.Check{Name: "m", Type: "metric", HTTPFields: &config.HTTPFields{URL: "http://127.0.0.1/"}, KindFields: &config.KindFields{Source: "http", Value: "n", WarnIfDrop: 10}},
			`check "m": warn_if_drop / crit_if_drop need compare`},
		{"sql driver", config.Check{Name: "m", Type: "metric", KindFields: &config.KindFields{Source: "sql", Driver: "db2", DSN: "x", Query: "SELECT 1"}}, `check "m": unknown driver "db2"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(&tc.c, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMetricFormatting(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 60: "60", -3: "-3", 1234.5: "1234.5", 0.1 + 0.2: "0.3", 2e15: "2e+15"} {
		if got := metricNumber(v); got != want {
			t.Errorf("metricNumber(%v) = %q, want %q", v, got, want)
		}
	}
	for d, want := range map[time.Duration]string{7 * 24 * time.Hour: "7d", 3 * time.Hour: "3h", 90 * time.Minute: "1h30m", 45 * time.Second: "45s", 36 * time.Hour: "36h"} {
		if got := config.Duration(d).String(); got != want {
			t.Errorf("config.Duration(%v).String() = %q, want %q", d, got, want)
		}
	}
}
