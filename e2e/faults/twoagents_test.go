package faults

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTwoAgentsOneDatabase: a second `pulse run` on the same database
// refuses to start within 5s, naming the first agent's pid in one stderr
// line; the read commands keep working beside the first agent. Without a
// listener nothing else stops the second agent; with one, the database's
// owner must still be named rather than the busy port.
func TestTwoAgentsOneDatabase(t *testing.T) {
	t.Run("no-listener", func(t *testing.T) { twoAgents(t, false) })
	t.Run("listener", func(t *testing.T) { twoAgents(t, true) })
}

func twoAgents(t *testing.T, listener bool) {
	listen := ""
	if listener {
		listen = fmt.Sprintf("listen = \"127.0.0.1:%d\"", freePort(t))
	}
	e := newEnv(t, fmt.Sprintf(`[agent]
name = "faults"
database = "pulse.db"
%s

[[check]]
name = "closed-port"
type = "tcp"
address = "127.0.0.1:1"
interval = "1s"
timeout = "1s"
severity = "P3"
fail_after = 1
`, listen))
	first := e.start(t)
	waitFor(t, 15*time.Second, "the first agent's incident recorded", func() bool {
		incs, _ := e.tryIncidents()
		return len(incs) > 0
	})
	pid := first.cmd.Process.Pid

	second := e.start(t)
	began := time.Now()
	exited := second.wait(5 * time.Second)
	took := time.Since(began)
	second.kill()
	var pidLines []string
	for _, l := range strings.Split(strings.TrimSpace(second.log()), "\n") {
		if strings.Contains(l, "pid "+strconv.Itoa(pid)) {
			pidLines = append(pidLines, l)
		}
	}
	_, statusErr, statusCode := e.pulse(t, "status")
	_, incErr, incCode := e.pulse(t, "incidents")
	t.Logf("FIGURE two-agents: listener=%t second_exited=%t second_exit_status=%d second_exit_after=%.1fs pid_lines=%d status_exit=%d incidents_exit=%d first_alive=%t",
		listener, exited, second.code, took.Seconds(), len(pidLines), statusCode, incCode, !first.exited())
	if !exited {
		t.Errorf("the second `pulse run` on the same database was still running after 5s")
	} else if second.code == 0 {
		t.Errorf("the second `pulse run` exited 0, want non-zero")
	}
	if exited && len(pidLines) == 0 {
		t.Errorf("the second agent's stderr names no \"pid %d\" (the first agent):\n%s", pid, second.log())
	}
	if statusCode != 0 {
		t.Errorf("pulse status beside the agent: exit %d: %s", statusCode, statusErr)
	}
	if incCode != 0 {
		t.Errorf("pulse incidents beside the agent: exit %d: %s", incCode, incErr)
	}
	if first.exited() {
		t.Errorf("the first agent died (status %d)", first.code)
	}
}
