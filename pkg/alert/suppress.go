package alert

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/cron"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Silence is one `pulse silence add`: notifications for the checks that
// Pattern matches are muted until Until. The store owns silences; the caller
// loads the current ones and hands them to Suppressor.WithSilences.
type Silence struct {
	ID      int64
	Pattern string // a glob on check names, or "tag:NAME" (the tag may be a glob too)
	Until   time.Time
	Reason  string
}

// Suppressor answers whether a check's notifications are held right now:
// silences, maintenance windows and crit dependencies. It is immutable after
// construction and safe for concurrent use.
type Suppressor struct {
	windows  []window
	silences []Silence
	deps     map[string][]string // check name → depends_on, for transitive lookups
	loc      *time.Location
}

type window struct {
	spec     string
	sched    cron.Schedule
	dur      time.Duration
	patterns []string
}

// NewSuppressor builds a Suppressor from the config's [[maintenance]]
// windows (their cron schedules read in [agent].timezone, UTC when unset),
// the checks' depends_on, and the silences currently in force.
func NewSuppressor(cfg *config.Config, silences []Silence) (*Suppressor, error) {
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.UTC
	}
	s := &Suppressor{loc: loc, silences: silences, deps: map[string][]string{}} // only checks with depends_on: few of them
	for i := range cfg.Checks {
		if len(cfg.Checks[i].DependsOn) > 0 {
			s.deps[cfg.Checks[i].Name] = cfg.Checks[i].DependsOn
		}
	}
	var errs []error
	for i, m := range cfg.Maintenance {
		where := fmt.Sprintf("maintenance %d", i+1)
		if m.Line > 0 {
			where = fmt.Sprintf("maintenance at line %d", m.Line)
		}
		if strings.HasPrefix(strings.TrimSpace(m.Schedule), "@every") {
			errs = append(errs, fmt.Errorf("%s: schedule %q: @every has no start time; use a cron expression", where, m.Schedule))
			continue
		}
		// The agent's timezone, never the host's; DST-safe like check schedules.
		sched, err := cron.Parse(m.Schedule, loc, config.ParseEvery)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: schedule %q: %w", where, m.Schedule, err))
			continue
		}
		if m.Duration <= 0 {
			errs = append(errs, fmt.Errorf("%s: duration must be positive", where))
			continue
		}
		for _, pat := range m.Checks {
			if err := ValidPattern(pat); err != nil {
				errs = append(errs, fmt.Errorf("%s: checks: %w", where, err))
			}
		}
		s.windows = append(s.windows, window{spec: m.Schedule, sched: sched, dur: m.Duration.D(), patterns: m.Checks})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// WithSilences returns a Suppressor with the same windows and dependencies
// and these silences, for when the store's silences changed.
func (s *Suppressor) WithSilences(silences []Silence) *Suppressor {
	c := *s
	c.silences = silences
	return &c
}

// ValidPattern reports whether p is a usable check pattern: a glob on check
// names or "tag:GLOB". `pulse silence add` should call it before storing.
func ValidPattern(p string) error {
	g := strings.TrimPrefix(p, "tag:")
	if g == "" {
		return fmt.Errorf("empty pattern %q", p)
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("invalid pattern %q: %w", p, err)
	}
	return nil
}

// MatchCheck reports whether pattern selects check c: "tag:GLOB" matches
// when one of c's tags matches GLOB, any other pattern is a glob on c's
// name. A malformed glob matches only the identical name.
func MatchCheck(pattern string, c *config.Check) bool {
	if g, ok := strings.CutPrefix(pattern, "tag:"); ok {
		for _, t := range c.Tags {
			if glob(g, t) {
				return true
			}
		}
		return false
	}
	return glob(pattern, c.Name)
}

func glob(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	if err != nil {
		return pattern == s
	}
	return ok
}

// Muted reports whether notifications for check c are muted at now by a
// silence or a maintenance window, and a one-line reason for the timeline.
// A window is active from each scheduled start for its duration.
func (s *Suppressor) Muted(c *config.Check, now time.Time) (reason string, muted bool) {
	for _, sl := range s.silences {
		if now.Before(sl.Until) && MatchCheck(sl.Pattern, c) {
			r := fmt.Sprintf("silence #%d until %s", sl.ID, sl.Until.In(s.loc).Format("2006-01-02 15:04 MST"))
			if sl.Reason != "" {
				r += ": " + sl.Reason
			}
			return r, true
		}
	}
	for i := range s.windows {
		w := &s.windows[i]
		if !w.matches(c) {
			continue
		}
		if start, ok := w.activeAt(now); ok {
			return fmt.Sprintf("maintenance %q since %s for %s", w.spec,
				start.In(s.loc).Format("2006-01-02 15:04 MST"), ui.Setting(w.dur)), true
		}
	}
	return "", false
}

func (w *window) matches(c *config.Check) bool {
	for _, p := range w.patterns {
		if MatchCheck(p, c) {
			return true
		}
	}
	return false
}

// activeAt returns the start of the window run covering now. A run covers
// now when start ≤ now < start+dur, i.e. when some start lies in
// (now-dur, now]; the first start after now-dur is the one to test, so a
// single Next call answers without walking back through the schedule.
func (w *window) activeAt(now time.Time) (time.Time, bool) {
	start := w.sched.Next(now.Add(-w.dur))
	if start.IsZero() || start.After(now) {
		return time.Time{}, false
	}
	return start, true
}

// DependencyDown reports whether one of c's dependencies, direct or
// transitive (through the depends_on of the checks given to NewSuppressor),
// is crit in states, and names the first one found. Cycles are harmless.
func (s *Suppressor) DependencyDown(c *config.Check, states map[string]CheckState) (dep string, down bool) {
	if len(c.DependsOn) == 0 {
		return "", false
	}
	var seenBuf [16]string
	seen := append(seenBuf[:0], c.Name)
	var stackBuf [16]string
	stack := append(stackBuf[:0], c.DependsOn...)
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if contains(seen, name) {
			continue
		}
		seen = append(seen, name)
		if st, ok := states[name]; ok && st.State == checks.Crit {
			return name, true
		}
		stack = append(stack, s.deps[name]...)
	}
	return "", false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Reason returns why notifications for c's incidents are held at now, or ""
// when they may go out: a silence, a maintenance window, or a crit
// dependency. It is what IncidentInfo.Muted expects.
func (s *Suppressor) Reason(c *config.Check, states map[string]CheckState, now time.Time) string {
	if r, ok := s.Muted(c, now); ok {
		return r
	}
	if dep, ok := s.DependencyDown(c, states); ok {
		return "dependency " + dep + " is crit"
	}
	return ""
}
