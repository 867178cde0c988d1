package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/registry"
	"github.com/pulse-monitor/pulse/pkg/store"
)

const statusTOML = `
[agent]
database = "pulse.db"
timezone = "UTC"

[[check]]
name = "web"
type = "http"
url = "http://127.0.0.1:9/"

[[check]]
name = "later"
type = "tcp"
address = "127.0.0.1:9"

[[notifier]]
name = "team"
type = "webhook"
url = "http://127.0.0.1:9/hook"

[report]
notify = ["team"]
`

var cliNow = time.Date(2026, 5, 2, 12, 0, 0, 0, time.UTC)

// statusEnv writes a config and a database with a day of "web" results,
// one crit, and returns the config's path.
func statusEnv(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "pulse.toml")
	if err := os.WriteFile(cfgPath, []byte(statusTOML), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "pulse.db"), store.Options{Now: func() time.Time { return cliNow }})
	if err != nil {
		t.Fatal(err)
	}
	for ts := cliNow.Add(-30 * time.Hour); ts.Before(cliNow); ts = ts.Add(5 * time.Minute) {
		r := checks.Result{Check: "web", Start: ts, Duration: 80 * time.Millisecond, State: checks.OK}
		if ts.Equal(cliNow.Add(-2 * time.Hour)) {
			r.State, r.Message = checks.Crit, "status 500"
		}
		if err := st.Submit(store.Record{Result: r}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

func testGlobal(cfgPath string, tty, noColor bool) (*Global, *bytes.Buffer) {
	var out bytes.Buffer
	env := map[string]string{}
	return &Global{IO: &IO{Out: &out, Err: &out, TTY: tty, NoColor: noColor,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}, Config: cfgPath,
		LogFormat: "text", LogLevel: "info"}, &out
}

func TestStatusCommand(t *testing.T) {
	cfgPath := statusEnv(t)
	ctx := context.Background()
	now := func() time.Time { return cliNow }
	for _, tc := range []struct {
		name        string
		tty, noCol  bool
		wantEscapes bool
	}{
		{"piped", false, false, false},
		{"tty", true, false, true},
		{"tty with NO_COLOR", true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, out := testGlobal(cfgPath, tc.tty, tc.noCol)
			if err := runStatus(ctx, g, StatusOptions{Now: now, Width: 80}); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			if got := strings.Contains(s, "\x1b["); got != tc.wantEscapes {
				t.Errorf("ANSI escapes: %v, want %v:\n%s", got, tc.wantEscapes, s)
			}
			for _, want := range []string{"2 checks", "1 ok", "1 pending", "web", "later", "error budget 30d"} {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		g, out := testGlobal(cfgPath, true, false)
		if err := runStatus(ctx, g, StatusOptions{Now: now, JSON: true}); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		for _, k := range []string{"generated_at", "agent", "checks", "open_incidents", "kpis", "error_budget", "check_status"} {
			if _, ok := doc[k]; !ok {
				t.Errorf("json lacks %q", k)
			}
		}
		rows := doc["check_status"].([]any)
		web := rows[0].(map[string]any)
		// 24 hourly rollups, 13:00 the day before to the current (empty) 12:00.
		if web["name"] != "web" || web["runs_24h"] != float64(23*12) || web["failures_24h"] != float64(1) {
			t.Errorf("web row = %v", web)
		}
	})
	t.Run("check detail", func(t *testing.T) {
		g, out := testGlobal(cfgPath, false, false)
		if err := runStatus(ctx, g, StatusOptions{Now: now, Check: "web"}); err != nil {
			t.Fatal(err)
		}
		if s := out.String(); !strings.Contains(s, "recent results") || strings.Count(s, "● ok") < 10 {
			t.Errorf("detail:\n%s", s)
		}
	})
	t.Run("watch refreshes until cancelled", func(t *testing.T) {
		g, _ := testGlobal(cfgPath, true, false)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w := &frameWriter{cancel: cancel, after: 3}
		g.IO.Out = w
		if err := runStatus(wctx, g, StatusOptions{Now: now, Watch: true, Interval: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(w.String(), "\x1b[H\x1b[2J"); n < 3 {
			t.Errorf("%d frames drawn in place, want 3", n)
		}
	})
	t.Run("unreadable database exits 1", func(t *testing.T) {
		var out bytes.Buffer
		code := Execute(ctx, &IO{Out: &out, Err: &out, Getenv: func(string) (string, bool) { return "", false }},
			[]string{"--config", cfgPath, "--db", filepath.Join(t.TempDir(), "missing.db"), "status"})
		if code != 1 || !strings.Contains(out.String(), "missing.db") {
			t.Errorf("exit %d, output %q", code, out.String())
		}
	})
}

// frameWriter cancels the watch once it has seen `after` clear-screens.
type frameWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	cancel func()
	after  int
}

func (w *frameWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Count(w.b.String(), "\x1b[H\x1b[2J") >= w.after {
		w.cancel()
	}
	return len(p), nil
}

func (w *frameWriter) String() string { w.mu.Lock(); defer w.mu.Unlock(); return w.b.String() }

type fakeNotifier struct {
	name string
	got  []*notify.Message
	err  error
}

func (f *fakeNotifier) Name() string { return f.name }
func (f *fakeNotifier) Send(_ context.Context, m *notify.Message) error {
	f.got = append(f.got, m)
	return f.err
}

func TestReportCommand(t *testing.T) {
	cfgPath := statusEnv(t)
	ctx := context.Background()
	now := func() time.Time { return cliNow }
	t.Run("formats", func(t *testing.T) {
		for format, want := range map[string]string{"text": "EXECUTIVE SUMMARY", "markdown": "# pulse digest 2026-05-01",
			"html": "<!DOCTYPE html>", "json": `"date": "2026-05-01"`} {
			g, out := testGlobal(cfgPath, false, false)
			if err := runReport(ctx, g, ReportOptions{Format: format, Now: now}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), want) {
				t.Errorf("%s output lacks %q", format, want)
			}
		}
	})
	t.Run("bad input exits 1", func(t *testing.T) {
		for _, o := range []ReportOptions{{Format: "pdf"}, {Format: "text", Date: "yesterday"}} {
			g, _ := testGlobal(cfgPath, false, false)
			o.Now = now
			var ee *exitError
			if err := runReport(ctx, g, o); !errors.As(err, &ee) || ee.code != 1 {
				t.Errorf("%+v: %v, want exit 1", o, err)
			}
		}
	})
	t.Run("send", func(t *testing.T) {
		fake := &fakeNotifier{name: "team"}
		g, out := testGlobal(cfgPath, false, false)
		o := ReportOptions{Format: "text", Send: true, Date: "2026-05-01", Now: now,
			NewNotifier: func(c *config.Notifier, _ registry.Options) (notify.Notifier, error) {
				if c.Name != "team" {
					t.Errorf("notifier %q built", c.Name)
				}
				return fake, nil
			}}
		if err := runReport(ctx, g, o); err != nil {
			t.Fatal(err)
		}
		if len(fake.got) != 1 || fake.got[0].Digest == nil || fake.got[0].Digest.Title != "digest 2026-05-01" ||
			!strings.Contains(fake.got[0].Digest.HTML, "<svg") || !strings.Contains(out.String(), "sent digest 2026-05-01 to team") {
			t.Fatalf("sent %+v; output %q", fake.got, out.String())
		}
		fake.err = errors.New("receiver answered 500")
		var ee *exitError
		if err := runReport(ctx, g, o); !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "500") {
			t.Errorf("failed send: %v, want exit 1", err)
		}
	})
}
