package config

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func mustLoad(t *testing.T, file string) *Config {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(file, data, testEnv)
	if err != nil {
		t.Fatalf("Parse(%s): %v", file, err)
	}
	return cfg
}

// parseString parses src as if it were dir/pulse.toml.
func parseString(t *testing.T, dir, src string, env map[string]string) (*Config, error) {
	t.Helper()
	return Parse(filepath.Join(dir, "pulse.toml"), []byte(src), func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func checkByName(t *testing.T, cfg *Config, name string) *Check {
	t.Helper()
	for i := range cfg.Checks {
		if cfg.Checks[i].Name == name {
			return &cfg.Checks[i]
		}
	}
	t.Fatalf("no check %q", name)
	return nil
}

func notifierByName(t *testing.T, cfg *Config, name string) *Notifier {
	t.Helper()
	for i := range cfg.Notifiers {
		if cfg.Notifiers[i].Name == name {
			return &cfg.Notifiers[i]
		}
	}
	t.Fatalf("no notifier %q", name)
	return nil
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func TestMinimalConfigGetsDefaults(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-minimal.toml")
	dir, _ := filepath.Abs("testdata")
	host, _ := os.Hostname()
	a := cfg.Agent
	eq(t, "Path", cfg.Path, "testdata/valid-minimal.toml")
	eq(t, "Name", a.Name, host)
	eq(t, "Database", a.Database, filepath.Join(dir, "pulse.db"))
	eq(t, "Timezone", a.Timezone, "UTC")
	eq(t, "Location", a.Location, time.UTC)
	eq(t, "Retention", a.Retention.D(), 30*24*time.Hour)
	eq(t, "MaxDBSize", a.MaxDBSize, ByteSize(2_000_000_000))
	eq(t, "MaxConcurrency", a.MaxConcurrency, 256)
	eq(t, "StatusPageTitle", a.StatusPageTitle, "pulse status")
	eq(t, "FlapChanges", a.FlapChanges, 5)
	eq(t, "FlapWindow", a.FlapWindow.D(), time.Hour)
	eq(t, "Listen", a.Listen, "")
	eq(t, "Targets", cfg.Targets, Targets{Availability: 99.9, ErrorRate: 0.1,
		HTTPLatency: Duration(500 * time.Millisecond), PageLoad: Duration(2 * time.Second), SQLLatency: Duration(100 * time.Millisecond)})
	eq(t, "Defaults", cfg.Defaults, Defaults{Interval: Duration(time.Minute), Timeout: Duration(10 * time.Second),
		Severity: "P2", FailAfter: 2, RecoverAfter: 2})

	c := checkByName(t, cfg, "root-disk")
	eq(t, "Interval", c.Interval.D(), time.Minute)
	eq(t, "Timeout", c.Timeout.D(), 10*time.Second)
	eq(t, "Severity", c.Severity, "P2")
	eq(t, "FailAfter", c.FailAfter, 2)
	eq(t, "RecoverAfter", c.RecoverAfter, 2)
	eq(t, "WarnIf", c.WarnIf.String(), "> 80")
	eq(t, "CritIf", c.CritIf.String(), "> 90")
	eq(t, "Path (not resolved)", c.Path, "/")
	eq(t, "Line", c.Line, 1)
	eq(t, "Location", c.Location, time.UTC)
	eq(t, "IsEnabled", c.IsEnabled(), true)
	eq(t, "IsPublic", c.IsPublic(), true)

	eq(t, "Escalation", cfg.Escalation, map[string]Escalation{
		"P1": {Within: 0, Repeat: Duration(30 * time.Minute), Notify: nil},
		"P2": {Within: Duration(15 * time.Minute)},
		"P3": {Within: Duration(time.Hour)},
		"P4": {Digest: true},
	})
	eq(t, "Report", cfg.Report, Report{DailyAt: "09:00"})
}

func TestFullConfig(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-full.toml")
	dir, _ := filepath.Abs("testdata")
	paris, _ := time.LoadLocation("Europe/Paris")
	ny, _ := time.LoadLocation("America/New_York")
	a := cfg.Agent
	eq(t, "Name", a.Name, "web-1")
	eq(t, "Database", a.Database, filepath.Join(dir, "state/pulse.db"))
	eq(t, "Location", a.Location.String(), paris.String())
	eq(t, "Retention", a.Retention.D(), 7*24*time.Hour)
	eq(t, "MaxDBSize", a.MaxDBSize, ByteSize(512<<20))
	eq(t, "MaxConcurrency", a.MaxConcurrency, 32)
	eq(t, "ListenToken", a.ListenToken.Reveal(), "tok-listen-5b1e")
	eq(t, "HeartbeatURL", a.HeartbeatURL.Reveal(), "https://hc.example.com/ping/abc")
	eq(t, "FlapWindow", a.FlapWindow.D(), 30*time.Minute)
	eq(t, "Targets.ErrorRate", cfg.Targets.ErrorRate, 1.0)
	eq(t, "Defaults.Severity", cfg.Defaults.Severity, "P3")

	tcp := checkByName(t, cfg, "edge-tcp")
	eq(t, "tcp interval (from [defaults])", tcp.Interval.D(), 2*time.Minute)
	eq(t, "tcp timeout", tcp.Timeout.D(), 5*time.Second)
	eq(t, "tcp severity", tcp.Severity, "P3")
	eq(t, "tcp fail_after", tcp.FailAfter, 3)
	eq(t, "tcp recover_after", tcp.RecoverAfter, 1)
	eq(t, "tcp expect.latency", tcp.Expect.Latency.D(), 100*time.Millisecond)
	eq(t, "tcp location", tcp.Location.String(), "Europe/Paris")

	h := checkByName(t, cfg, "api-health")
	eq(t, "Method (upper-cased)", h.Method, "POST")
	eq(t, "Body", h.Body, `{"ping":true}`)
	eq(t, "Interval", h.Interval.D(), 30*time.Second)
	eq(t, "Severity", h.Severity, "P1")
	eq(t, "WarnSeverity", h.WarnSeverity, "P3")
	eq(t, "Tags", h.Tags, []string{"api", "infrastructure"})
	eq(t, "DependsOn", h.DependsOn, []string{"edge-tcp"})
	eq(t, "CAFile", h.CAFile, filepath.Join(dir, "secret.txt"))
	eq(t, "MaxBody", h.MaxBody, ByteSize(64<<10))
	eq(t, "FollowRedirects", *h.FollowRedirects, false)
	eq(t, "Headers", h.Headers, map[string]Secret{"Authorization": "Bearer tok-api-77c2", "X-Price": "$5"})
	eq(t, "BasicAuth", *h.BasicAuth, BasicAuth{Username: "probe", Password: "s3cr3t-from-file"})
	eq(t, "Expect.Status", h.Expect.Status, []StatusMatcher{{Code: 200}, {Class: 3}})
	eq(t, "Expect.Latency", h.Expect.Latency.D(), 500*time.Millisecond)
	eq(t, "Expect.BodyContains", h.Expect.BodyContains, "ok")
	eq(t, "Expect.BodyNotContains", h.Expect.BodyNotContains, "error")
	eq(t, "Expect.BodyRegex", h.Expect.BodyRegex, `^\{`)
	eq(t, "Expect.JSON", h.Expect.JSON, map[string]any{"status": "up", "db.connected": true, "workers": 4.0})
	eq(t, "Expect.Headers", h.Expect.Headers, map[string]string{"Content-Type": "application/json"})
	eq(t, "Expect.CertExpiry", h.Expect.CertExpiry.D(), 14*24*time.Hour)

	d := checkByName(t, cfg, "resolver")
	eq(t, "dns record (upper-cased)", d.Record, "AAAA")
	eq(t, "dns interval (schedule set: none)", d.Interval, Duration(0))
	eq(t, "dns schedule", d.Schedule, "@every 90s")
	eq(t, "dns location", d.Location.String(), ny.String())
	eq(t, "dns values", d.Expect.Values, []string{"2606:2800:220:1:248:1893:25c8:1946"})

	tl := checkByName(t, cfg, "api-cert")
	eq(t, "tls warn_days", tl.WarnDays, 14)
	eq(t, "tls crit_days", tl.CritDays, 7)

	s := checkByName(t, cfg, "failed-payments")
	eq(t, "sqlite file: DSN", s.DSN.Reveal(), "file:"+filepath.Join(dir, "data/payments.db")+"?mode=ro")
	eq(t, "sql expect.latency (from [targets])", s.Expect.Latency.D(), 50*time.Millisecond)
	eq(t, "sql warn_if", s.WarnIf.String(), "> 5")
	if !s.CritIf.Match(21) || s.CritIf.Match(20) {
		t.Errorf("crit_if %q matches wrongly", s.CritIf)
	}

	pg := checkByName(t, cfg, "pg")
	eq(t, "dsn_file", pg.DSN.Reveal(), "postgres://app:s3cr3t-from-file@db.example.com/shop")
	eq(t, "query_file (trailing newlines trimmed)", pg.Query, "SELECT 1")

	cmd := checkByName(t, cfg, "plugin")
	eq(t, "command argv[0] resolved", cmd.Command, []string{filepath.Join(dir, "plugins/check_thing"), "-w", "5"})
	eq(t, "command env", cmd.Env, map[string]string{"LANG": "C"})
	eq(t, "command perf", cmd.Perf, "time")

	ld := checkByName(t, cfg, "load")
	eq(t, "load has no default warn_if", ld.WarnIf.IsSet(), false)
	eq(t, "load IsEnabled", ld.IsEnabled(), false)
	eq(t, "load IsPublic", ld.IsPublic(), false)

	hb := checkByName(t, cfg, "backup")
	eq(t, "heartbeat period", hb.Period.D(), 24*time.Hour)
	eq(t, "heartbeat grace", hb.Grace.D(), 30*time.Minute)

	m := checkByName(t, cfg, "signups")
	eq(t, "metric compare", m.Compare.D(), 7*24*time.Hour)
	eq(t, "metric drops", [2]float64{m.WarnIfDrop, m.CritIfDrop}, [2]float64{30, 60})
	eq(t, "metric/http method default", m.Method, "GET")
	eq(t, "metric/http max_body default", m.MaxBody, ByteSize(1<<20))

	eq(t, "pagerduty routing_key", notifierByName(t, cfg, "oncall").RoutingKey.Reveal(), "R0UTINGKEY-9f3a")
	eq(t, "notifier default timeout", notifierByName(t, cfg, "oncall").Timeout.D(), 10*time.Second)
	team := notifierByName(t, cfg, "team")
	eq(t, "email port", team.Port, 465)
	eq(t, "email tls (implicit on 465)", team.TLS, "implicit")
	eq(t, "email password_file", team.Password.Reveal(), "s3cr3t-from-file")
	eq(t, "email to", team.To, []string{"ops@example.com", "Dev Team <dev@example.com>"})
	hook := notifierByName(t, cfg, "hook")
	eq(t, "webhook headers", hook.Headers, map[string]Secret{"Authorization": "Bearer tok-hook-2d4f"})
	eq(t, "webhook timeout", hook.Timeout.D(), 3*time.Second)

	eq(t, "escalation.P1", cfg.Escalation["P1"], Escalation{Notify: []string{"oncall", "ops"}, Repeat: Duration(20 * time.Minute),
		Escalate: []EscalationStep{{After: Duration(15 * time.Minute), Notify: []string{"team"}}}})
	eq(t, "escalation.P2 (within from the matrix)", cfg.Escalation["P2"], Escalation{Notify: []string{"ops"}, Within: Duration(15 * time.Minute)})
	eq(t, "escalation.P3 (notify = [] mutes)", cfg.Escalation["P3"], Escalation{Notify: []string{}, Within: Duration(time.Hour)})
	eq(t, "escalation.P4 (absent: digest)", cfg.Escalation["P4"], Escalation{Digest: true})
	eq(t, "report", cfg.Report, Report{DailyAt: "08:30", Notify: []string{"ops", "team"}})
	eq(t, "maintenance", cfg.Maintenance, []Maintenance{{Checks: []string{"api-*", "tag:infrastructure"},
		Schedule: "0 3 * * SUN", Duration: Duration(time.Hour), Line: cfg.Maintenance[0].Line}})
	if cfg.Maintenance[0].Line < 150 {
		t.Errorf("maintenance line = %d, want its [[maintenance]] header", cfg.Maintenance[0].Line)
	}
}

func TestEscalationWithoutBlocksNotifiesEveryone(t *testing.T) {
	cfg, err := parseString(t, t.TempDir(), `
[[notifier]]
name = "ops"
type = "slack"
webhook_url = "https://hooks.slack.com/x"
[[notifier]]
name = "oncall"
type = "pagerduty"
routing_key = "k"
[[notifier]]
name = "team"
type = "email"
host = "smtp.example.com"
from = "pulse@example.com"
to = ["ops@example.com"]
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"ops", "oncall", "team"}
	eq(t, "P1", cfg.Escalation["P1"], Escalation{Notify: all, Repeat: Duration(30 * time.Minute)})
	eq(t, "P2", cfg.Escalation["P2"], Escalation{Notify: all, Within: Duration(15 * time.Minute)})
	eq(t, "P3", cfg.Escalation["P3"], Escalation{Notify: all, Within: Duration(time.Hour)})
	eq(t, "P4", cfg.Escalation["P4"], Escalation{Digest: true})
	eq(t, "report.notify (email and slack)", cfg.Report.Notify, []string{"ops", "team"})
	team := notifierByName(t, cfg, "team")
	eq(t, "email port", team.Port, 587)
	eq(t, "email tls", team.TLS, "starttls")
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load("../../pulse.example.toml")
	if err != nil {
		t.Fatalf("pulse.example.toml: %v", err)
	}
	eq(t, "listen", cfg.Agent.Listen, "127.0.0.1:9108")
	eq(t, "database", filepath.Base(cfg.Agent.Database), "pulse.db")
	if len(cfg.Checks) < 4 {
		t.Fatalf("example has %d checks, want at least 4", len(cfg.Checks))
	}
	if len(cfg.Notifiers) != 0 {
		t.Errorf("example configures notifiers %v: they must stay commented out to run offline", cfg.Notifiers)
	}
	for _, c := range cfg.Checks {
		switch c.Type {
		case "system", "command":
		case "http":
			if !strings.HasPrefix(c.URL, "http://127.0.0.1:9108/") {
				t.Errorf("check %q reaches %s: the example must run offline", c.Name, c.URL)
			}
		default:
			t.Errorf("check %q has type %s, which may need the network", c.Name, c.Type)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	env := func(k string) (string, bool) {
		v, ok := map[string]string{"A": "alpha", "EMPTY": "", "B_2": "beta"}[k]
		return v, ok
	}
	for _, tc := range []struct{ in, want, err string }{
		{in: "plain", want: "plain"},
		{in: "${A}", want: "alpha"},
		{in: "x-${A}-${B_2}-y", want: "x-alpha-beta-y"},
		{in: "${EMPTY}", want: ""},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "cost $5", want: "cost $5"},
		{in: "end$", want: "end$"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "${A", err: `unterminated "${"`},
		{in: "${}", err: `invalid environment variable name ""`},
		{in: "${A-B}", err: `invalid environment variable name "A-B"`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := expandEnv(tc.in, env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("expandEnv(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("expandEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestEnvExpandsEveryString(t *testing.T) {
	cfg, err := parseString(t, t.TempDir(), `
[agent]
listen = "${HOST}:${PORT}"
[[check]]
name = "c-${N}"
type = "command"
command = ["/bin/echo", "${WORD}"]
env = { X = "${WORD}" }
interval = "${IVL}"
tags = ["${WORD}"]
`, map[string]string{"HOST": "127.0.0.1", "PORT": "9999", "N": "1", "WORD": "hi", "IVL": "45s"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "listen", cfg.Agent.Listen, "127.0.0.1:9999")
	c := cfg.Checks[0]
	eq(t, "name", c.Name, "c-1")
	eq(t, "command", c.Command, []string{"/bin/echo", "hi"})
	eq(t, "env", c.Env, map[string]string{"X": "hi"})
	eq(t, "interval", c.Interval.D(), 45*time.Second)
	eq(t, "tags", c.Tags, []string{"hi"})
}

func TestFileKeys(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte("rk-123\r\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(t.TempDir(), "hook")
	if err := os.WriteFile(abs, []byte("https://hooks.slack.com/T/B/X\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	noRead := filepath.Join(dir, "unreadable")
	if err := os.Mkdir(noRead, 0o700); err != nil {
		t.Fatal(err)
	}
	const notifiers = `
[[notifier]]
name = "pd"
type = "pagerduty"
routing_key_file = "%s"
[[notifier]]
name = "ops"
type = "slack"
webhook_url_file = "${HOOK_FILE}"
`
	cfg, err := parseString(t, dir, fmt.Sprintf(notifiers, "key"), map[string]string{"HOOK_FILE": abs})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "relative routing_key_file", notifierByName(t, cfg, "pd").RoutingKey.Reveal(), "rk-123")
	eq(t, "absolute webhook_url_file via ${VAR}", notifierByName(t, cfg, "ops").WebhookURL.Reveal(), "https://hooks.slack.com/T/B/X")

	for _, tc := range []struct{ name, src, want string }{
		{"missing", fmt.Sprintf(notifiers, "nope"), `pulse.toml:5: notifier "pd": routing_key_file: cannot read "nope": no such file or directory`},
		{"directory", fmt.Sprintf(notifiers, "unreadable"), `pulse.toml:5: notifier "pd": routing_key_file: cannot read "unreadable": is a directory`},
		{"both", "[[notifier]]\nname = \"pd\"\ntype = \"pagerduty\"\nrouting_key = \"x\"\nrouting_key_file = \"key\"\n",
			`pulse.toml:5: notifier "pd": routing_key_file: set routing_key or routing_key_file, not both`},
		{"not a string key", "[agent]\nmax_concurrency_file = \"key\"\n", `pulse.toml:2: agent: unknown key "max_concurrency_file"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(t, dir, tc.src, map[string]string{"HOOK_FILE": abs})
			if err == nil {
				t.Fatal("accepted")
			}
			got := strings.TrimPrefix(err.Error(), dir+"/")
			if !strings.Contains(got, tc.want) {
				t.Errorf("error:\n%s\nwant a line:\n%s", got, tc.want)
			}
			if strings.Contains(err.Error(), "rk-123") {
				t.Errorf("error shows the file's content: %s", err)
			}
		})
	}
}

func TestRelativePaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := `
[agent]
database = "%s"
[[check]]
name = "c"
type = "%s"
%s
`
	for _, tc := range []struct {
		name, db, kind, body string
		get                  func(*Config) string
		want                 string
	}{
		{"database relative", "data/pulse.db", "system", `metric = "cpu"`, func(c *Config) string { return c.Agent.Database }, filepath.Join(dir, "data/pulse.db")},
		{"database absolute", "/var/lib/pulse/pulse.db", "system", `metric = "cpu"`, func(c *Config) string { return c.Agent.Database }, "/var/lib/pulse/pulse.db"},
		{"database memory", ":memory:", "system", `metric = "cpu"`, func(c *Config) string { return c.Agent.Database }, ":memory:"},
		{"system path untouched", "x.db", "system", "metric = \"disk\"\npath = \"var\"", func(c *Config) string { return c.Checks[0].Path }, "var"},
		{"ca_file", "x.db", "tls", "address = \"h:443\"\nca_file = \"ca.pem\"", func(c *Config) string { return c.Checks[0].CAFile }, filepath.Join(dir, "ca.pem")},
		{"command relative with slash", "x.db", "command", `command = ["bin/check", "a/b"]`, func(c *Config) string { return strings.Join(c.Checks[0].Command, " ") }, filepath.Join(dir, "bin/check") + " a/b"},
		{"command dot slash", "x.db", "command", `command = ["./check.sh"]`, func(c *Config) string { return c.Checks[0].Command[0] }, filepath.Join(dir, "check.sh")},
		{"command on PATH", "x.db", "command", `command = ["check_http"]`, func(c *Config) string { return c.Checks[0].Command[0] }, "check_http"},
		{"command absolute", "x.db", "command", `command = ["/usr/lib/nagios/check_x"]`, func(c *Config) string { return c.Checks[0].Command[0] }, "/usr/lib/nagios/check_x"},
		{"sqlite plain", "x.db", "sql", "driver = \"sqlite\"\ndsn = \"app.db\"\nquery = \"select 1\"", func(c *Config) string { return c.Checks[0].DSN.Reveal() }, filepath.Join(dir, "app.db")},
		{"sqlite plain with params", "x.db", "sql", "driver = \"sqlite\"\ndsn = \"app.db?_busy_timeout=5000\"\nquery = \"select 1\"", func(c *Config) string { return c.Checks[0].DSN.Reveal() }, filepath.Join(dir, "app.db") + "?_busy_timeout=5000"},
		{"sqlite file URI", "x.db", "sql", "driver = \"sqlite\"\ndsn = \"file:app.db?mode=ro\"\nquery = \"select 1\"", func(c *Config) string { return c.Checks[0].DSN.Reveal() }, "file:" + filepath.Join(dir, "app.db") + "?mode=ro"},
		{"sqlite absolute file URI", "x.db", "sql", "driver = \"sqlite\"\ndsn = \"file:/srv/app.db\"\nquery = \"select 1\"", func(c *Config) string { return c.Checks[0].DSN.Reveal() }, "file:/srv/app.db"},
		{"sqlite memory", "x.db", "sql", "driver = \"sqlite\"\ndsn = \"file::memory:?cache=shared\"\nquery = \"select 1\"", func(c *Config) string { return c.Checks[0].DSN.Reveal() }, "file::memory:?cache=shared"},
		{"postgres DSN untouched", "x.db", "sql", "driver = \"postgres\"\ndsn = \"postgres://u@h/db\"\nquery = \"select 1\"", func(c *Config) string { return c.Checks[0].DSN.Reveal() }, "postgres://u@h/db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseString(t, dir, fmt.Sprintf(src, tc.db, tc.kind, tc.body), nil)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, tc.name, tc.get(cfg), tc.want)
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	cfg := mustLoad(t, "testdata/valid-full.toml")
	secrets := []string{"tok-listen-5b1e", "hc.example.com/ping/abc", "tok-api-77c2", "R0UTINGKEY-9f3a",
		"hooks.slack.com/services", "s3cr3t-from-file", "tok-hook-2d4f", "data/payments.db"}
	var out bytes.Buffer
	verbs := "%v %+v %#v %s\n" // a variable, so vet lets %s meet a struct as a careless caller would
	fmt.Fprintf(&out, verbs, cfg, cfg, cfg, cfg)
	fmt.Fprintf(&out, verbs, *cfg, *cfg, *cfg, cfg.Checks)
	fmt.Fprintf(&out, "%v %+v %#v %q %x\n", cfg.Notifiers, cfg.Notifiers, cfg.Notifiers, cfg.Agent.ListenToken, cfg.Agent.ListenToken)
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	slog.New(slog.NewTextHandler(&out, nil)).Info("loaded", "config", cfg, "check", cfg.Checks[1], "notifier", cfg.Notifiers[0], "dsn", cfg.Checks[5].DSN)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("loaded", "config", cfg, "agent", cfg.Agent, "key", cfg.Notifiers[0].RoutingKey)
	for _, s := range secrets {
		if i := strings.Index(out.String(), s); i >= 0 {
			t.Errorf("output contains secret %q: ...%s...", s, out.String()[max(0, i-200):i+20])
		}
	}
	if !strings.Contains(out.String(), "<secret>") {
		t.Error("output never shows <secret>: the secrets were not printed at all, so this test proves nothing")
	}
	for _, c := range cfg.Checks {
		if c.Name == "pg" && c.DSN.Reveal() != "postgres://app:s3cr3t-from-file@db.example.com/shop" {
			t.Errorf("Reveal = %q", c.DSN.Reveal())
		}
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	_, err := parseString(t, t.TempDir(), `
[agent]
heartbeat_url = "gopher://tok-1/x"
[[notifier]]
name = "ops"
type = "slack"
webhook_url = "tok-2 not a url"
[[notifier]]
name = "hook"
type = "webhook"
url = 5
[[check]]
name = "web"
type = "http"
url = "ftp://user:tok-3@example.com/health?token=tok-4"
`, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, s := range []string{"tok-1", "tok-2", "tok-3", "tok-4"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows secret %q:\n%s", s, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 4 {
		t.Errorf("got %d problems, want 4:\n%s", n, err)
	}
}

func TestKindKeysMatchSchema(t *testing.T) {
	var schema []string
	_, top := fieldTags(reflect.TypeFor[Check]())
	for _, k := range top {
		if k != "expect" {
			schema = append(schema, k)
		}
	}
	_, exp := fieldTags(reflect.TypeFor[Expect]())
	for _, k := range exp {
		schema = append(schema, "expect."+k)
	}
	var union []string
	for _, keys := range KindKeys() {
		union = append(union, keys...)
	}
	slices.Sort(schema)
	slices.Sort(union)
	eq(t, "union of KindKeys", slices.Compact(union), slices.Compact(schema))
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range KindKeys() {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, Kinds()) {
		t.Errorf("KindKeys kinds %v != Kinds() %v", got, Kinds())
	}
	for kind, keys := range KindKeys() {
		for _, k := range commonCheckKeys {
			if !slices.Contains(keys, k) {
				t.Errorf("%s lacks common key %s", kind, k)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(absent) = %v, want fs.ErrNotExist", err)
	}
	_, err = Parse("p.toml", []byte("a = \"\n"), nil)
	var errs *Errors
	if !errors.As(err, &errs) || len(*errs) != 1 || (*errs)[0].Line != 1 || (*errs)[0].Col == 0 {
		t.Errorf("syntax error = %#v, want one problem with line and column", err)
	}
	cfg, err := Parse("empty.toml", nil, nil)
	if err != nil || len(cfg.Checks) != 0 || cfg.Agent.MaxConcurrency != 256 {
		t.Errorf("empty file: %v, %+v", err, cfg)
	}
}

func TestProblemsSortedByLine(t *testing.T) {
	_, err := parseString(t, t.TempDir(), `
[[check]]
name = "b"
type = "tcp"
depends_on = ["zz"]
address = "nope"

[agent]
max_concurrency = 0
`, nil)
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	lines := []int{}
	for _, p := range *errs {
		lines = append(lines, p.Line)
	}
	eq(t, "lines", lines, []int{5, 6, 9})
}

// TestCheckFieldGroups: a check holds only its own kind's field groups
// (goal 3 of docs/BENCHMARKS.md: 848 bytes a check before), and Load gives
// every check the groups its type reads.
func TestCheckFieldGroups(t *testing.T) {
	if n := unsafe.Sizeof(Check{}); n > 320 {
		t.Errorf("Check is %d bytes; its kind-specific keys belong in HTTPFields or KindFields", n)
	}
	cfg, err := parseString(t, t.TempDir(), `
[[check]]
name = "web"
type = "http"
url = "http://127.0.0.1/"
[[check]]
name = "port"
type = "tcp"
address = "127.0.0.1:22"
[[check]]
name = "orders"
type = "metric"
source = "http"
url = "http://127.0.0.1/stats"
value = "orders"
[[check]]
name = "beat"
type = "heartbeat"
period = "1h"
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		http, kind bool
	}{{"web", true, false}, {"port", false, true}, {"orders", true, true}, {"beat", false, true}} {
		c := checkByName(t, cfg, tc.name)
		if got := c.HTTPFields != nil; got != tc.http {
			t.Errorf("%s: HTTPFields allocated = %t, want %t", tc.name, got, tc.http)
		}
		if got := c.KindFields != nil; got != tc.kind {
			t.Errorf("%s: KindFields allocated = %t, want %t", tc.name, got, tc.kind)
		}
		if c.Expect != nil {
			t.Errorf("%s: Expect allocated without an expect table", tc.name)
		}
	}
	if c := checkByName(t, cfg, "web"); c.Method != "GET" || c.URL != "http://127.0.0.1/" {
		t.Errorf("web: method %q url %q", c.Method, c.URL)
	}
}

// TestKindTables: every kind in the tables can be validated and its field
// groups allocated, and every notifier key is a key of Notifier.
func TestKindTables(t *testing.T) {
	for name, k := range checkKinds {
		if k.validate == nil || k.groups == 0 && len(k.keys) > 0 {
			t.Errorf("check kind %q: validate or field groups missing", name)
		}
	}
	_, tags := fieldTags(reflect.TypeFor[Notifier]())
	for name, k := range notifierKinds {
		if k.validate == nil {
			t.Errorf("notifier kind %q: validate missing", name)
		}
		for _, key := range k.keys {
			if !slices.Contains(tags, key) {
				t.Errorf("notifier kind %q: key %q is not a field of Notifier", name, key)
			}
		}
	}
}

// The chat notifiers load with their keys, get the digest like Slack, and
// their webhook URLs (credentials) stay out of every problem reported.
func TestChatNotifiers(t *testing.T) {
	cfg, err := parseString(t, t.TempDir(), `
[[notifier]]
name = "dc"
type = "discord"
webhook_url = "https://discord.com/api/webhooks/1/dc-tok"
[[notifier]]
name = "mm"
type = "mattermost"
webhook_url = "https://chat.example.com/hooks/mm-key"
channel = "ops-alerts"
username = "pulse"
[[notifier]]
name = "gc"
type = "googlechat"
webhook_url = "https://chat.googleapis.com/v1/spaces/S/messages?key=gc-key&token=gc-tok"
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "report.notify", cfg.Report.Notify, []string{"dc", "mm", "gc"})
	mm := notifierByName(t, cfg, "mm")
	eq(t, "mattermost channel", mm.Channel, "ops-alerts")
	eq(t, "mattermost username", mm.Username, "pulse")

	_, err = parseString(t, t.TempDir(), `
[[notifier]]
name = "dc"
type = "discord"
webhook_url = "dc-tok not a url"
[[notifier]]
name = "mm"
type = "mattermost"
webhook_url = "gopher://chat.example.com/hooks/mm-key"
[[notifier]]
name = "gc"
type = "googlechat"
webhook_url = "https://chat.googleapis.com/v1/spaces/S/messages?token=gc-tok"
`, nil)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, s := range []string{"dc-tok", "mm-key", "gc-tok"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows secret %q:\n%s", s, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 3 {
		t.Errorf("got %d problems, want 3:\n%s", n, err)
	}
}

func TestAckLinkKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	raw := bytes.Repeat([]byte{0xa5, 0x01, 0xfe, 0x7c}, 8) // 32 bytes, not base64
	write("raw.key", raw)
	write("b64.key", []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))+"\n"))
	write("short.key", []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 16))+"\n"))
	write("short-raw.key", []byte("hunter2\xff"))

	const src = "[agent]\nlisten = \"127.0.0.1:9108\"\npublic_url = %q\nsecret_file = %q\n"
	for _, tc := range []struct{ name, file, want string }{
		{"raw", "raw.key", string(raw)},
		{"base64", "b64.key", string(bytes.Repeat([]byte{9}, 32))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseString(t, dir, fmt.Sprintf(src, "https://status.example.com/pulse", tc.file), nil)
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "AckKey", cfg.Agent.AckKey.Reveal(), tc.want)
			eq(t, "AckLinks", cfg.Agent.AckLinks(), true)
		})
	}

	cfg, err := parseString(t, dir, "[agent]\nlisten = \"127.0.0.1:9108\"\npublic_url = \"https://s.example.com\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "AckLinks without a key", cfg.Agent.AckLinks(), false)
	cfg, err = parseString(t, dir, "[agent]\nsecret_file = \"raw.key\"\npublic_url = \"https://s.example.com\"\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "AckLinks without a listener", cfg.Agent.AckLinks(), false)

	for _, tc := range []struct{ name, src, want string }{
		{"missing file", fmt.Sprintf(src, "https://s.example.com", "nope.key"), `pulse.toml:4: agent: secret_file: cannot read "nope.key": no such file or directory`},
		{"short base64", fmt.Sprintf(src, "https://s.example.com", "short.key"), `pulse.toml:4: agent: secret_file: holds 16 bytes once base64-decoded, want at least 32`},
		{"short raw", fmt.Sprintf(src, "https://s.example.com", "short-raw.key"), `pulse.toml:4: agent: secret_file: holds 8 bytes, want at least 32`},
		{"not http", fmt.Sprintf(src, "ftp://s.example.com", "raw.key"), `pulse.toml:3: agent: public_url: invalid URL "ftp://s.example.com": want an absolute http:// or https:// URL`},
		{"relative", fmt.Sprintf(src, "/status", "raw.key"), `pulse.toml:3: agent: public_url: invalid URL "/status"`},
		{"query", fmt.Sprintf(src, "https://s.example.com/?a=b", "raw.key"), `pulse.toml:3: agent: public_url: invalid URL "https://s.example.com/?a=b": want no user, query or fragment`},
		{"inline short", "[agent]\nsecret = \"tooshort-tooshort\"\n", `pulse.toml:2: agent: secret: holds 17 bytes, want at least 32`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseString(t, dir, tc.src, nil)
			if err == nil {
				t.Fatal("accepted")
			}
			got := strings.ReplaceAll(err.Error(), dir+"/", "")
			if !strings.Contains(got, tc.want) {
				t.Errorf("error:\n%s\nwant a line:\n%s", got, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the key: %s", err)
			}
		})
	}
}
