// Package checks holds one file per check kind. A check's outcome is a Result
// value: a failed assertion or a refused connection is a result, not an error.
package checks

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/redact"
)

// State is a check outcome, ordered by badness except Unknown, which sits
// between Warn and Crit for "worst of" purposes.
type State uint8

// The states a check reports (README "Configuration": ok / warn / crit;
// unknown counts as warn).
const (
	OK State = iota
	Warn
	Unknown
	Crit
)

// String returns "ok", "warn", "unknown" or "crit".
func (s State) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	case Crit:
		return "crit"
	default:
		return "unknown"
	}
}

// ParseState is the inverse of State.String.
func ParseState(s string) (State, error) {
	switch s {
	case "ok":
		return OK, nil
	case "warn":
		return Warn, nil
	case "crit":
		return Crit, nil
	case "unknown":
		return Unknown, nil
	}
	return Unknown, fmt.Errorf("unknown state %q", s)
}

// ExitCode is the Nagios exit code for s: 0 ok, 1 warn, 2 crit, 3 unknown.
func (s State) ExitCode() int {
	switch s {
	case OK:
		return 0
	case Warn:
		return 1
	case Crit:
		return 2
	}
	return 3
}

// Worse returns the worse of a and b (crit > unknown > warn > ok).
func Worse(a, b State) State {
	if b > a {
		return b
	}
	return a
}

// Perf is one performance-data item (Nagios plugin guidelines:
// 'label'=value[UOM];[warn];[crit];[min];[max]).
type Perf struct {
	Label string  `json:"label"`
	Value float64 `json:"value"`
	UOM   string  `json:"uom,omitempty"`
	Warn  string  `json:"warn,omitempty"`
	Crit  string  `json:"crit,omitempty"`
	Min   string  `json:"min,omitempty"`
	Max   string  `json:"max,omitempty"`
}

// Result is one run of one check.
type Result struct {
	Check    string
	Start    time.Time
	Duration time.Duration
	State    State
	Message  string  // one line: what was expected and what was seen
	Value    float64 // meaningful only when HasValue
	HasValue bool
	Perf     []Perf
}

// SetValue records v as the result's value.
func (r *Result) SetValue(v float64) { r.Value, r.HasValue = v, true }

// Checker runs one configured check. Run must honour ctx (the check's timeout)
// and return a Result whose State, Message, Value and Perf describe the
// outcome; Check, Start and Duration are filled in by Run below.
type Checker interface {
	Run(ctx context.Context) Result
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) Result

// Run calls f.
func (f CheckerFunc) Run(ctx context.Context) Result { return f(ctx) }

// Run executes c once under timeout and never panics: a panicking check
// becomes a crit result carrying the panic's message. name, Start and
// Duration are filled in; a check that overran its timeout is crit.
func Run(ctx context.Context, name string, c Checker, timeout time.Duration, now func() time.Time) Result {
	return RunLogged(ctx, nil, name, c, timeout, now)
}

// RunLogged is Run that also logs a panic's stack to log (nil: nowhere):
// the result carries only the panic's message, and an operator needs the
// stack to find the bug.
func RunLogged(ctx context.Context, log *slog.Logger, name string, c Checker, timeout time.Duration, now func() time.Time) (res Result) {
	if now == nil {
		now = time.Now
	}
	start := now()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			res = Result{State: Crit, Message: fmt.Sprintf("check panicked: %v", p)}
			if log != nil {
				log.Error("check panicked", "check", name, "panic", redact.Text(fmt.Sprint(p)), "stack", string(debug.Stack()))
			}
		}
		res.Check = name
		res.Start = start
		if res.Duration == 0 {
			res.Duration = now().Sub(start)
		}
		// Whatever made the message, a URL in it shows no credentials.
		res.Message = oneLine(redact.Text(res.Message))
	}()
	res = c.Run(ctx)
	if res.State != Crit && ctx.Err() == context.DeadlineExceeded && timeout > 0 {
		res.State = Crit
		res.Message = fmt.Sprintf("timed out after %s", timeout)
	}
	return res
}

// withDeadline bounds ctx by timeout unless it has a deadline already:
// checks.Run sets one, but a Checker's Run may be called on its own.
func withDeadline(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
}

// oneLine folds s to a single line of at most 500 bytes.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	if len(s) > 500 {
		cut := 497
		for cut > 0 && s[cut]&0xC0 == 0x80 { // don't split a UTF-8 sequence
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// foldLines puts a multi-line error on one line, so that oneLine keeps its
// cause: pgx says "failed to connect to `user=u database=d`:" and puts each
// attempt's reason on a line of its own. Lines are joined with "; " (a
// space after a line ending in ':'), a line repeating the one before is
// dropped, and runs of white space collapse.
func foldLines(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") && !strings.Contains(s, "  ") {
		return s
	}
	var (
		b    strings.Builder
		prev string
	)
	for line := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		line = strings.Join(strings.Fields(line), " ")
		if line == "" || line == prev { // sslmode=prefer fails twice alike
			continue
		}
		prev = line
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(line)
	}
	return b.String()
}
