package faults

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeScript writes an executable shell script into dir.
func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// alive reports whether pid still runs: it exists and is not a zombie (a
// killed orphan that pid 1 has not reaped yet is gone for our purpose).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) S ...: the state follows the last ')'.
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

// TestPluginChildrenDoNotOutliveTheCheck: a plugin that detaches a child
// (`sleep 301 &`) and exits: once the check is over, by the agent or by
// `pulse check`, no such child is left running.
func TestPluginChildrenDoNotOutliveTheCheck(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "PIDS")
	plugin := writeScript(t, dir, "detach.sh", fmt.Sprintf(
		"sleep 301 >/dev/null 2>&1 </dev/null &\necho $! >> %s\necho \"OK\"\nexit 0\n", pids))
	e := newEnv(t, fmt.Sprintf(`[agent]
name = "faults"
database = "pulse.db"

[[check]]
name = "detacher"
type = "command"
command = [%q]
interval = "1s"
timeout = "5s"
severity = "P3"
`, plugin))
	readPids := func() []int {
		b, _ := os.ReadFile(pids)
		var out []int
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
		return out
	}
	t.Cleanup(func() {
		for _, pid := range readPids() {
			if alive(pid) {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})

	a := e.start(t)
	time.Sleep(3 * time.Second)
	fromAgent := len(readPids())
	// Look while the agent still runs: a child of a run that has finished
	// must already be gone, not only at the agent's exit.
	time.Sleep(time.Second)
	var aliveDuring []int
	for _, pid := range readPids()[:fromAgent] {
		if alive(pid) {
			aliveDuring = append(aliveDuring, pid)
		}
	}
	a.term(15 * time.Second)
	out, _, code := e.pulse(t, "check", "detacher")

	all := readPids()
	deadline := time.Now().Add(time.Second)
	var left []int
	for {
		left = left[:0]
		for _, pid := range all {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("FIGURE plugin-children: children=%d from_agent=%d alive_while_agent_ran=%d left_after_1s=%d check_exit=%d",
		len(all), fromAgent, len(aliveDuring), len(left), code)
	if fromAgent == 0 || len(all) <= fromAgent {
		t.Fatalf("the plugin did not run as expected (agent runs %d, all runs %d); pulse check printed %q", fromAgent, len(all), out)
	}
	if len(aliveDuring) > 0 {
		t.Errorf("while the agent ran, %d children of finished plugin runs were still running: %v", len(aliveDuring), aliveDuring)
	}
	if len(left) > 0 {
		t.Errorf("%d of %d detached plugin children still run 1s after the checks ended: %v", len(left), len(all), left)
	}
}

// terminalBytes are the bytes that let a check's output drive the
// operator's terminal: ESC, BEL and the 8-bit CSI.
func terminalBytes(s string) []string {
	var found []string
	for _, c := range []byte{0x1b, 0x07, 0x9b} {
		if i := strings.IndexByte(s, c); i >= 0 {
			lo, hi := max(i-20, 0), min(i+20, len(s))
			found = append(found, fmt.Sprintf("0x%02x in %q", c, s[lo:hi]))
		}
	}
	return found
}

// TestEscapeSequencesNeverReachTheTerminal: a plugin and an HTTP target
// whose output carries OSC/CSI sequences, BEL and an 8-bit CSI; neither
// `pulse check` (with and without --no-color) nor `pulse incidents show`
// prints any of those bytes.
func TestEscapeSequencesNeverReachTheTerminal(t *testing.T) {
	dir := t.TempDir()
	osc := writeScript(t, dir, "osc.sh", `printf 'CRITICAL \033]0;pwned\007\033[31mred\033[0m\n'
exit 2
`)
	c1 := writeScript(t, dir, "c1.sh", `printf 'CRITICAL raw\23331m8-bit csi and \302\23331m utf-8 csi\n'
exit 2
`)
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"down\u001b]0;pwned\u0007\u001b[2J\u009b31m"}`)
	}))
	t.Cleanup(tg.Close)
	e := newEnv(t, fmt.Sprintf(`[agent]
name = "faults"
database = "pulse.db"

[[check]]
name = "osc-plugin"
type = "command"
command = [%q]
interval = "1s"
severity = "P3"
fail_after = 1

[[check]]
name = "c1-plugin"
type = "command"
command = [%q]
interval = "1s"
severity = "P3"
fail_after = 1

[[check]]
name = "json-target"
type = "http"
url = %q
interval = "1s"
severity = "P3"
fail_after = 1
  [check.expect]
  json = { "status" = "up" }
`, osc, c1, tg.URL))

	type surface struct{ name, out string }
	var surfaces []surface
	out, _, code := e.pulse(t, "check", "--no-color")
	surfaces = append(surfaces, surface{"pulse check --no-color", out})
	if code != 2 {
		t.Errorf("pulse check --no-color: exit %d, want 2:\n%s", code, out)
	}
	out, _, _ = e.pulse(t, "check")
	surfaces = append(surfaces, surface{"pulse check", out})

	a := e.start(t)
	waitFor(t, 15*time.Second, "three incidents recorded", func() bool {
		incs, _ := e.tryIncidents()
		return len(incs) >= 3
	})
	a.term(15 * time.Second)
	for _, inc := range e.incidents(t) {
		out, _, _ := e.pulse(t, "incidents", "show", strconv.FormatInt(inc.ID, 10))
		surfaces = append(surfaces, surface{fmt.Sprintf("pulse incidents show %d (%s)", inc.ID, inc.Check), out})
	}
	out, _, _ = e.pulse(t, "incidents")
	surfaces = append(surfaces, surface{"pulse incidents", out})
	out, _, _ = e.pulse(t, "status")
	surfaces = append(surfaces, surface{"pulse status", out})

	var dirty []string
	for _, s := range surfaces {
		if found := terminalBytes(s.out); len(found) > 0 {
			dirty = append(dirty, s.name)
			t.Errorf("%s prints terminal control bytes: %s", s.name, strings.Join(found, "; "))
		}
	}
	t.Logf("FIGURE escapes: surfaces=%d dirty=%d dirty_list=%q", len(surfaces), len(dirty), strings.Join(dirty, ","))
}
