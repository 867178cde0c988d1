package checks

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// writeScript writes an executable shell script into a fresh directory.
func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func threshold(t *testing.T, s string) config.Threshold {
	t.Helper()
	th, err := config.ParseThreshold(s)
	if err != nil {
		t.Fatal(err)
	}
	return th
}

func mustCommand(t *testing.T, c *config.Check) Checker {
	t.Helper()
	if c.Name == "" {
		c.Name = "cmd"
	}
	c.Type = "command"
	k, err := New(c, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func TestCommandPluginProtocol(t *testing.T) {
	tests := []struct {
		name     string
		script   string
		perf     string
		warn     string
		crit     string
		state    State
		msg      string // exact message
		value    *float64
		wantPerf []Perf
	}{
		{name: "exit 0", script: `echo "OK - all good"`, state: OK, msg: "OK - all good"},
		{name: "exit 1", script: `echo "WARNING - meh"; exit 1`, state: Warn, msg: "WARNING - meh"},
		{name: "exit 2", script: `echo "CRITICAL - down"; exit 2`, state: Crit, msg: "CRITICAL - down"},
		{name: "exit 3", script: `echo "UNKNOWN - confused"; exit 3`, state: Unknown, msg: "UNKNOWN - confused"},
		{name: "exit 4 is unknown", script: `echo "odd"; exit 4`, state: Unknown, msg: "exit status 4: odd"},
		{name: "exit 127 is unknown", script: `exit 127`, state: Unknown, msg: "exit status 127"},
		{name: "killed by a signal", script: `echo "dying"; kill -TERM $$`, state: Unknown, msg: "killed by signal terminated: dying"},
		{name: "no output", script: `exit 0`, state: OK, msg: "%SCRIPT% printed nothing (exit status 0)"},
		{name: "stderr when stdout is empty", script: `echo "oops: bad flag" >&2; echo "usage" >&2; exit 3`, state: Unknown, msg: "oops: bad flag"},
		{name: "perfdata on the first line", script: `echo "OK - 5 users | users=5;10;20;0 'load avg'=0.5"`,
			state: OK, msg: "OK - 5 users", value: ptr(5.0),
			wantPerf: []Perf{{Label: "users", Value: 5, Warn: "10", Crit: "20", Min: "0"}, {Label: "load avg", Value: 0.5}}},
		{name: "long output perfdata", script: `printf 'DISK OK - free space | /=10MB;;;0;100\n/ 10 MB used\n/var 20 MB used | /var=20MB;;;0;100\n/tmp=30MB;;;0;100\n'`,
			state: OK, msg: "DISK OK - free space", value: ptr(10.0),
			wantPerf: []Perf{
				{Label: "/", Value: 10, UOM: "MB", Min: "0", Max: "100"},
				{Label: "/var", Value: 20, UOM: "MB", Min: "0", Max: "100"},
				{Label: "/tmp", Value: 30, UOM: "MB", Min: "0", Max: "100"},
			}},
		{name: "long output without first-line perfdata", script: `printf 'OK\nline two\nline three | a=1s\nb=2s\n'`,
			state: OK, msg: "OK", value: ptr(1.0),
			wantPerf: []Perf{{Label: "a", Value: 1, UOM: "s"}, {Label: "b", Value: 2, UOM: "s"}}},
		{name: "U values are not stored", script: `echo "OK | a=U b=2"`, state: OK, msg: "OK", value: ptr(2.0),
			wantPerf: []Perf{{Label: "b", Value: 2}}},
		{name: "malformed perfdata is reported", script: `echo "OK | a=1 junk b=x"`, state: OK,
			msg: "OK (2 malformed perfdata item(s) skipped)", value: ptr(1.0), wantPerf: []Perf{{Label: "a", Value: 1}}},
		{name: "thresholds on the first perfdata value", script: `echo "OK | queue=42 other=1"`, warn: "> 10", crit: "> 50",
			state: Warn, msg: "OK; queue = 42 (warn_if > 10)", value: ptr(42.0)},
		{name: "crit threshold wins over warn", script: `echo "OK | queue=60"`, warn: "> 10", crit: "> 50",
			state: Crit, msg: "OK; queue = 60 (crit_if > 50)", value: ptr(60.0)},
		{name: "thresholds not crossed", script: `echo "OK | queue=3"`, warn: "> 10", crit: "> 50",
			state: OK, msg: "OK", value: ptr(3.0)},
		{name: "thresholds on a named perfdata value", script: `echo "OK | a=1 'b c'=70%"`, perf: "b c", warn: "> 60",
			state: Warn, msg: "OK; 'b c' = 70% (warn_if > 60)", value: ptr(70.0)},
		{name: "plugin crit beats threshold warn", script: `echo "CRITICAL | a=70"; exit 2`, warn: "> 60",
			state: Crit, msg: "CRITICAL; a = 70 (warn_if > 60)", value: ptr(70.0)},
		{name: "threshold crit beats plugin warn", script: `echo "WARNING | a=0.25"; exit 1`, crit: "outside 0..0.2",
			state: Crit, msg: "WARNING; a = 0.25 (crit_if outside 0..0.2)", value: ptr(0.25)},
		{name: "named perfdata missing", script: `echo "OK | a=1"`, perf: "b", crit: "> 1",
			state: Unknown, msg: `OK; no perfdata "b" in the plugin's output`},
		{name: "named perfdata undetermined", script: `echo "OK | a=1 b=U"`, perf: "b", crit: "> 1",
			state: Unknown, msg: `OK; perfdata "b" is U (undetermined)`, value: nil},
		{name: "thresholds without perfdata", script: `echo "OK"`, crit: "> 1",
			state: Unknown, msg: "OK; warn_if/crit_if set but the plugin printed no perfdata"},
		{name: "plugin crit without perfdata stays crit", script: `echo "CRITICAL - refused"; exit 2`, crit: "> 1",
			state: Crit, msg: "CRITICAL - refused; warn_if/crit_if set but the plugin printed no perfdata"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeScript(t, tc.script)
			c := &config.Check{KindFields: &config.KindFields{Command: []string{path}, Perf: tc.perf}}
			if tc.warn != "" {
				c.WarnIf = threshold(t, tc.warn)
			}
			if tc.crit != "" {
				c.CritIf = threshold(t, tc.crit)
			}
			res := Run(context.Background(), "cmd", mustCommand(t, c), 10*time.Second, nil)
			wantMsg := strings.ReplaceAll(tc.msg, "%SCRIPT%", path)
			if res.State != tc.state || res.Message != wantMsg {
				t.Errorf("got %s %q, want %s %q", res.State, res.Message, tc.state, wantMsg)
			}
			switch {
			case tc.value == nil && res.HasValue:
				t.Errorf("value = %v, want none", res.Value)
			case tc.value != nil && (!res.HasValue || res.Value != *tc.value):
				t.Errorf("value = %v (set %v), want %v", res.Value, res.HasValue, *tc.value)
			}
			if tc.wantPerf != nil && !reflect.DeepEqual(res.Perf, tc.wantPerf) {
				t.Errorf("perf\n got  %+v\n want %+v", res.Perf, tc.wantPerf)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestCommandArgvEnvAndNoShell(t *testing.T) {
	path := writeScript(t, `echo "OK - arg=[$1] two=[$2] foo=[$PULSE_TEST_FOO] home=[${HOME:+set}]"`)
	t.Setenv("PULSE_TEST_FOO", "from-agent")
	c := &config.Check{
		KindFields: &config.KindFields{Command: []string{path, "$HOME; echo injected", "a b"}, Env: map[string]string{"PULSE_TEST_FOO": "from-config"}},
	}
	res := Run(context.Background(), "cmd", mustCommand(t, c), 10*time.Second, nil)
	// The arguments reach the plugin verbatim: no shell expands or splits them;
	// env overrides the agent's variable and the rest of the environment stays.
	const want = "OK - arg=[$HOME; echo injected] two=[a b] foo=[from-config] home=[set]"
	if res.State != OK || res.Message != want {
		t.Fatalf("got %s %q, want ok %q", res.State, res.Message, want)
	}
}

func TestCommandConstructorErrors(t *testing.T) {
	for _, c := range []*config.Check{
		{Name: "empty", Type: "command"},
		{Name: "blank", Type: "command", KindFields: &config.KindFields{Command: []string{""}}},
		{Name: "bad-env", Type: "command", KindFields: &config.KindFields{Command: []string{"true"}, Env: map[string]string{"A=B": "x"}}},
	} {
		t.Run(c.Name, func(t *testing.T) {
			if _, err := New(c, nil); err == nil || !strings.Contains(err.Error(), `check "`+c.Name+`"`) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestCommandCannotStart(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-plugin")
	res := Run(context.Background(), "cmd", mustCommand(t, &config.Check{KindFields: &config.KindFields{Command: []string{missing}}}), 10*time.Second, nil)
	if res.State != Unknown || !strings.HasPrefix(res.Message, "cannot run "+missing) {
		t.Fatalf("got %s %q", res.State, res.Message)
	}
}

func TestCommandOutputIsCapped(t *testing.T) {
	// 8 MiB on stdout in one line after the first: the check must neither
	// hold it all nor block the plugin on a full pipe.
	path := writeScript(t, `echo "OK - chatty | first=1"; head -c 8388608 /dev/zero | tr '\0' 'x'; echo; exit 1`)
	res := Run(context.Background(), "cmd", mustCommand(t, &config.Check{KindFields: &config.KindFields{Command: []string{path}}}), 20*time.Second, nil)
	if res.State != Warn || res.Message != "OK - chatty" || len(res.Perf) != 1 {
		t.Fatalf("got %s %q %+v", res.State, res.Message, res.Perf)
	}
	w := &cappedBuffer{max: 10}
	for _, s := range []string{"12345", "67890abc", "def"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if string(w.b) != "1234567890" {
		t.Fatalf("kept %q", w.b)
	}
}

// processGone reports whether pid has exited (a zombie counts: it no longer
// runs and a test container's init may never reap it).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

func readPids(t *testing.T, path string) []int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n)
	}
	return pids
}

func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for _, pid := range pids {
		for !processGone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d survived the timeout", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestCommandTimeoutKillsProcessGroup(t *testing.T) {
	tests := []struct {
		name   string
		script string
	}{
		{name: "sleep child", script: `sleep 30 & echo $! >> "$PIDS"; wait`},
		{name: "grandchild", script: `sh -c 'sleep 30 & echo $! >> "$PIDS"; wait' & echo $! >> "$PIDS"; wait`},
		{name: "child ignoring SIGTERM", script: `trap '' TERM; sleep 30 & echo $! >> "$PIDS"; wait`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pids")
			path := writeScript(t, `echo $$ >> "$PIDS"; `+tc.script)
			c := &config.Check{KindFields: &config.KindFields{Command: []string{path}, Env: map[string]string{"PIDS": pidFile}}}
			const timeout = 300 * time.Millisecond
			start := time.Now()
			res := Run(context.Background(), "cmd", mustCommand(t, c), timeout, nil)
			took := time.Since(start)
			if res.State != Crit || !strings.Contains(res.Message, "timed out") {
				t.Errorf("got %s %q, want crit timed out", res.State, res.Message)
			}
			if took > timeout+commandWaitDelay+400*time.Millisecond {
				t.Errorf("Run took %s with a %s timeout", took, timeout)
			}
			pids := readPids(t, pidFile)
			if len(pids) < 2 {
				t.Fatalf("pids %v: the script did not start its children", pids)
			}
			waitGone(t, pids)
		})
	}
}

func TestCommandReturnsWhenEscapedGrandchildHoldsStdout(t *testing.T) {
	// setsid puts the sleep outside the plugin's process group: it cannot be
	// killed with it, and it keeps the stdout pipe open for 30 s.
	for _, tc := range []struct {
		name    string
		script  string
		state   State
		timeout time.Duration
		killed  bool // the leftover shares the plugin's group and must die
	}{
		{name: "plugin times out", script: `setsid sleep 30 & echo $! > "$PIDS"; echo "OK"; sleep 30`, state: Crit, timeout: 300 * time.Millisecond},
		{name: "plugin exits", script: `setsid sleep 30 & echo $! > "$PIDS"; echo "WARNING - left a child"; exit 1`, state: Warn, timeout: 10 * time.Second},
		{name: "plugin exits leaving its group", script: `sleep 30 & echo $! > "$PIDS"; echo "OK - left a child"`, state: OK, timeout: 10 * time.Second, killed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pids")
			path := writeScript(t, tc.script)
			c := &config.Check{KindFields: &config.KindFields{Command: []string{path}, Env: map[string]string{"PIDS": pidFile}}}
			start := time.Now()
			res := Run(context.Background(), "cmd", mustCommand(t, c), tc.timeout, nil)
			took := time.Since(start)
			pids := readPids(t, pidFile)
			t.Cleanup(func() {
				for _, pid := range pids {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			if res.State != tc.state {
				t.Errorf("got %s %q, want %s", res.State, res.Message, tc.state)
			}
			limit := 2 * time.Second
			if tc.state == Crit {
				limit = tc.timeout + commandWaitDelay + 400*time.Millisecond
			}
			if took > limit {
				t.Errorf("Run took %s, want under %s", took, limit)
			}
			if tc.killed {
				waitGone(t, pids)
			}
		})
	}
}

// TestCommandExitKillsDetachedChildren: a plugin that exits 0 leaving a
// background child with its output redirected gave Run nothing to wait for,
// so the child outlived the check, one more per run. The plugin's process
// group now dies with it.
func TestCommandExitKillsDetachedChildren(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{name: "output redirected", script: `sleep 301 >/dev/null 2>&1 </dev/null & echo $! > "$PIDS"; echo OK; exit 0`},
		{name: "nested shell", script: `sh -c 'sleep 301 >/dev/null 2>&1 </dev/null & echo $! > "$PIDS"'; echo OK; exit 0`},
		{name: "stdout kept open", script: `sleep 301 & echo $! > "$PIDS"; echo OK; exit 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "pids")
			path := writeScript(t, tc.script)
			c := &config.Check{KindFields: &config.KindFields{Command: []string{path}, Env: map[string]string{"PIDS": pidFile}}}
			const timeout = 5 * time.Second
			start := time.Now()
			res := Run(context.Background(), "cmd", mustCommand(t, c), timeout, nil)
			took := time.Since(start)
			pids := readPids(t, pidFile)
			t.Cleanup(func() {
				for _, pid := range pids {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			if res.State != OK || res.Message != "OK" {
				t.Errorf("got %s %q, want ok \"OK\"", res.State, res.Message)
			}
			if took > time.Second {
				t.Errorf("Run took %s for a plugin that exits at once", took)
			}
			deadline := time.Now().Add(time.Second)
			for _, pid := range pids {
				for !processGone(pid) {
					if time.Now().After(deadline) {
						t.Fatalf("detached child %d still runs a second after the plugin exited", pid)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
}

const pluginDir = "/usr/lib/nagios/plugins"

func needPlugins(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(pluginDir, "check_dummy")); err != nil {
		t.Skipf("Monitoring Plugins not installed (%v); apt-get install monitoring-plugins-basic", err)
	}
}

func plugin(name string, args ...string) []string {
	return append([]string{filepath.Join(pluginDir, name)}, args...)
}

func TestCommandMonitoringPlugins(t *testing.T) {
	needPlugins(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	tcpPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := strconv.Itoa(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "pulse says hello")
	}))
	defer srv.Close()
	httpPort := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)

	tests := []struct {
		name      string
		argv      []string
		perf      string
		crit      string
		state     State
		msgPrefix string
		perfLabel string // a perfdata item that must be present
		perfUOM   string
	}{
		{name: "dummy ok", argv: plugin("check_dummy", "0", "all fine"), state: OK, msgPrefix: "OK: all fine"},
		{name: "dummy warn", argv: plugin("check_dummy", "1", "so so"), state: Warn, msgPrefix: "WARNING: so so"},
		{name: "dummy crit", argv: plugin("check_dummy", "2", "down"), state: Crit, msgPrefix: "CRITICAL: down"},
		{name: "dummy unknown", argv: plugin("check_dummy", "3", "what"), state: Unknown, msgPrefix: "UNKNOWN: what"},
		{name: "disk always crit", argv: plugin("check_disk", "-w", "100%", "-c", "100%", "-p", "/"),
			state: Crit, msgPrefix: "DISK CRITICAL", perfLabel: "/"},
		{name: "disk never crit", argv: plugin("check_disk", "-w", "0%", "-c", "0%", "-p", "/"),
			state: OK, msgPrefix: "DISK OK", perfLabel: "/"},
		{name: "load ok", argv: plugin("check_load", "-w", "1000,1000,1000", "-c", "2000,2000,2000"),
			state: OK, msgPrefix: "LOAD OK", perfLabel: "load1"},
		{name: "load with a pulse threshold on load5", argv: plugin("check_load", "-w", "1000,1000,1000", "-c", "2000,2000,2000"),
			perf: "load5", crit: ">= 0", state: Crit, msgPrefix: "LOAD OK", perfLabel: "load5"},
		{name: "tcp open", argv: plugin("check_tcp", "-H", "127.0.0.1", "-p", tcpPort),
			state: OK, msgPrefix: "TCP OK", perfLabel: "time", perfUOM: "s"},
		{name: "tcp refused", argv: plugin("check_tcp", "-H", "127.0.0.1", "-p", closedPort),
			state: Crit, msgPrefix: "connect to address 127.0.0.1 and port " + closedPort},
		{name: "http ok with body", argv: plugin("check_http", "-H", "127.0.0.1", "-p", httpPort, "-u", "/", "-s", "says hello"),
			state: OK, msgPrefix: "HTTP OK", perfLabel: "size", perfUOM: "B"},
		{name: "http body missing", argv: plugin("check_http", "-H", "127.0.0.1", "-p", httpPort, "-u", "/", "-s", "not there"),
			state: Crit, msgPrefix: "HTTP CRITICAL"},
		{name: "http 500", argv: plugin("check_http", "-H", "127.0.0.1", "-p", httpPort, "-u", "/broken"),
			state: Crit, msgPrefix: "HTTP CRITICAL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &config.Check{KindFields: &config.KindFields{Command: tc.argv, Perf: tc.perf}}
			if tc.crit != "" {
				c.CritIf = threshold(t, tc.crit)
			}
			res := Run(context.Background(), "plugin", mustCommand(t, c), 20*time.Second, nil)
			if res.State != tc.state || !strings.HasPrefix(res.Message, tc.msgPrefix) {
				t.Fatalf("got %s %q, want %s %q...", res.State, res.Message, tc.state, tc.msgPrefix)
			}
			if strings.Contains(res.Message, "|") {
				t.Errorf("perfdata leaked into the message %q", res.Message)
			}
			if tc.perfLabel == "" {
				return
			}
			var found *Perf
			for i := range res.Perf {
				if res.Perf[i].Label == tc.perfLabel {
					found = &res.Perf[i]
				}
			}
			if found == nil {
				t.Fatalf("no perfdata %q in %+v", tc.perfLabel, res.Perf)
			}
			if tc.perfUOM != "" && found.UOM != tc.perfUOM {
				t.Errorf("UOM of %q = %q, want %q", tc.perfLabel, found.UOM, tc.perfUOM)
			}
			if !res.HasValue {
				t.Errorf("no value recorded")
			}
			if tc.perf != "" && res.Value != found.Value {
				t.Errorf("value = %v, want the %q perfdata %v", res.Value, tc.perf, found.Value)
			}
		})
	}
}

func TestSplitPluginOutput(t *testing.T) {
	for _, tc := range []struct{ in, msg, p1, p2 string }{
		{"", "", "", ""},
		{"OK", "OK", "", ""},
		{"OK|a=1", "OK", "a=1", ""},
		{" OK - x | a=1 \r\n", "OK - x", " a=1 \r", ""},
		{"OK\nlong\nlong | b=2\nc=3\n", "OK", "", " b=2\nc=3\n"},
		{"OK | a=1\nlong | b=2 | c=3", "OK", " a=1", " b=2 | c=3"},
	} {
		msg, p1, p2 := splitPluginOutput(tc.in)
		if msg != tc.msg || p1 != tc.p1 || p2 != tc.p2 {
			t.Errorf("splitPluginOutput(%q) = %q, %q, %q; want %q, %q, %q", tc.in, msg, p1, p2, tc.msg, tc.p1, tc.p2)
		}
	}
}
