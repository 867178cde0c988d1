package checks

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// Output limits: a chatty or runaway plugin must not exhaust the agent's
// memory; the Nagios protocol only needs the first line and the perfdata.
const (
	commandMaxStdout = 64 << 10
	commandMaxStderr = 4 << 10
	// commandWaitDelay bounds how long Run waits for the output pipes after
	// the plugin and its process group were killed: a grandchild that
	// escaped the group (setsid) may hold them open indefinitely.
	commandWaitDelay = 100 * time.Millisecond
)

// commandCheck runs a Nagios/Monitoring Plugins compatible program.
type commandCheck struct {
	argv       []string
	env        []string // nil inherits the agent's environment
	warn, crit config.Threshold
	perf       string // the perfdata label thresholds apply to; "" for the first
}

var _ Checker = (*commandCheck)(nil)

// newCommand builds a command check: argv is executed directly (a shell only
// when argv names one), with env added to the agent's environment.
func newCommand(c *config.Check, env *Env) (Checker, error) {
	if len(c.Command) == 0 || c.Command[0] == "" {
		return nil, fmt.Errorf("check %q: command is empty", c.Name)
	}
	k := &commandCheck{
		argv: slices.Clone(c.Command),
		warn: c.WarnIf,
		crit: c.CritIf,
		perf: c.Perf,
	}
	if len(c.Env) > 0 {
		keys := make([]string, 0, len(c.Env))
		for name := range c.Env {
			if name == "" || strings.ContainsAny(name, "=\x00") {
				return nil, fmt.Errorf("check %q: invalid environment variable name %q", c.Name, name)
			}
			keys = append(keys, name)
		}
		slices.Sort(keys)
		// exec keeps the last value of a duplicated key, so these override
		// the agent's own variables.
		k.env = os.Environ()
		for _, name := range keys {
			k.env = append(k.env, name+"="+c.Env[name])
		}
	}
	return k, nil
}

// Run executes the plugin in its own process group and maps its exit status
// and output to a Result.
func (k *commandCheck) Run(ctx context.Context) Result {
	cmd := exec.CommandContext(ctx, k.argv[0], k.argv[1:]...)
	cmd.Env = k.env
	// A process group of its own lets a timeout kill the plugin together
	// with everything it started (a shell script's sleep, ping, ssh...).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	cmd.WaitDelay = commandWaitDelay
	stdout := &cappedBuffer{max: commandMaxStdout}
	stderr := &cappedBuffer{max: commandMaxStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	if err := cmd.Start(); err != nil {
		return Result{State: Unknown, Message: fmt.Sprintf("cannot run %s: %v", k.argv[0], err)}
	}
	// Whatever the plugin left in its group (a daemonised child with its
	// output redirected) dies with it, or one would pile up per run. The
	// group is killed while the exited plugin is not yet reaped: its pid,
	// the group id, cannot have been reused.
	waitExited(cmd.Process.Pid)
	_ = killGroup(cmd.Process)
	err := cmd.Wait()
	if err != nil && ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Result{State: Crit, Message: fmt.Sprintf("%s timed out; its process group was killed", k.argv[0])}
		}
		return Result{State: Unknown, Message: fmt.Sprintf("%s cancelled: %v", k.argv[0], ctx.Err())}
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// The plugin exited but something that left its group still holds
		// its output open: the plugin's verdict stands.
		err = nil
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return Result{State: Unknown, Message: fmt.Sprintf("cannot run %s: %v", k.argv[0], err)}
	}
	return k.interpret(cmd.ProcessState, stdout.b, stderr.b)
}

// interpret applies the plugin protocol to a finished process.
func (k *commandCheck) interpret(ps *os.ProcessState, stdout, stderr []byte) Result {
	msg, perf1, perf2 := splitPluginOutput(string(stdout))
	if msg == "" {
		msg, _, _ = strings.Cut(strings.TrimSpace(string(stderr)), "\n")
		msg = strings.TrimSpace(msg)
	}
	var res Result
	code := ps.ExitCode()
	switch code {
	case 0:
		res.State = OK
	case 1:
		res.State = Warn
	case 2:
		res.State = Crit
	default:
		res.State = Unknown
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			msg = joinMsg(fmt.Sprintf("killed by signal %s", ws.Signal()), msg)
		} else if code != 3 {
			msg = joinMsg(fmt.Sprintf("exit status %d", code), msg)
		}
	}
	if msg == "" {
		msg = fmt.Sprintf("%s printed nothing (exit status %d)", k.argv[0], code)
	}

	var (
		target       Perf
		found        bool
		undetermined bool
		perfErrs     int
	)
	collect := func(p Perf, u bool) {
		if k.perf != "" && !found && p.Label == k.perf {
			target, found, undetermined = p, true, u
		}
		if !u {
			if k.perf == "" && !found {
				target, found = p, true
			}
			res.Perf = append(res.Perf, p)
		}
	}
	for _, s := range [2]string{perf1, perf2} {
		var pe *PerfdataError
		if err := scanPerfdata(s, collect); errors.As(err, &pe) {
			perfErrs += pe.Count
		}
	}

	thresholds := k.warn.IsSet() || k.crit.IsSet()
	switch {
	case found && undetermined:
		if thresholds {
			res.State = Worse(res.State, Unknown)
			msg += fmt.Sprintf("; perfdata %q is U (undetermined)", k.perf)
		}
	case found:
		res.SetValue(target.Value)
		if st, why := judgeThresholds(k.warn, k.crit, target.Value); st != OK {
			res.State = Worse(res.State, st)
			msg += fmt.Sprintf("; %s = %s%s %s", quoteLabel(target.Label), formatNumber(target.Value), target.UOM, why)
		}
	case k.perf != "":
		res.State = Worse(res.State, Unknown)
		msg += fmt.Sprintf("; no perfdata %q in the plugin's output", k.perf)
	case thresholds:
		res.State = Worse(res.State, Unknown)
		msg += "; warn_if/crit_if set but the plugin printed no perfdata"
	}
	if perfErrs > 0 {
		msg += fmt.Sprintf(" (%d malformed perfdata item(s) skipped)", perfErrs)
	}
	res.Message = msg
	return res
}

// splitPluginOutput splits plugin output into the message (first line, before
// '|'), the perfdata of the first line, and the perfdata of the long output
// (everything after the first '|' of the following lines).
func splitPluginOutput(out string) (msg, perf1, perf2 string) {
	first, rest, _ := strings.Cut(out, "\n")
	msg, perf1, _ = strings.Cut(first, "|")
	if _, after, ok := strings.Cut(rest, "|"); ok {
		perf2 = after
	}
	return strings.TrimSpace(msg), perf1, perf2
}

// matchThresholds applies crit_if first, then warn_if, to v: the state,
// and the key and threshold that matched ("" when none). Unset thresholds
// never match. Every kind with warn_if / crit_if judges through it.
func matchThresholds(warn, crit config.Threshold, v float64) (State, string, config.Threshold) {
	switch {
	case crit.Match(v):
		return Crit, "crit_if", crit
	case warn.Match(v):
		return Warn, "warn_if", warn
	}
	return OK, "", config.Threshold{}
}

// judgeThresholds is matchThresholds worded for a message's tail:
// "(crit_if > 90)", or "" when none matched.
func judgeThresholds(warn, crit config.Threshold, v float64) (State, string) {
	st, key, th := matchThresholds(warn, crit, v)
	if st == OK {
		return OK, ""
	}
	return st, "(" + key + " " + th.String() + ")"
}

// waitExited blocks until the process pid has exited, without reaping it
// (WNOWAIT): cmd.Wait still collects its status afterwards.
func waitExited(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

func killGroup(p *os.Process) error {
	if p == nil {
		return nil
	}
	// The plugin is its group's leader, so its pid is the group id.
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

func joinMsg(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

func quoteLabel(l string) string {
	if strings.ContainsAny(l, " \t'=") {
		return "'" + strings.ReplaceAll(l, "'", "''") + "'"
	}
	return l
}

func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// cappedBuffer keeps the first max bytes written and discards the rest while
// still accepting it, so the writer never blocks on a full pipe.
type cappedBuffer struct {
	b   []byte
	max int
}

func (w *cappedBuffer) Write(p []byte) (int, error) {
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
