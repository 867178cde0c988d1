package alert

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/cron"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Multi-location checks: every location runs its copy of the check, and the
// holder of the check's shard takes the verdict from the copies' latest
// results (Judge). The verdict is an ordinary result of the check, so its
// incidents follow the check's policy (Evaluate); the copies open none.

// StaleAfter is how many intervals a location's latest result counts as
// fresh: older, the location counts as absent.
const StaleAfter = 2

// LocationInput is what Judge knows of one location: its copy's recent
// results, oldest first (up to fail_after of them; none when it has none).
type LocationInput struct {
	Location string
	Recent   []checks.Result
}

// LocationState is one location as the verdict and the displays see it.
type LocationState struct {
	Location string
	Has      bool          // it has a result at all
	Fresh    bool          // its latest result started within StaleAfter intervals
	Age      time.Duration // since its latest result started
	// State is the location's say: its latest result's state once that
	// has held fail_after results in a row, ok before (a failure not yet
	// confirmed at that location).
	State    checks.State
	Latest   checks.State // its latest result's own state
	Duration time.Duration
	Message  string
}

// Locations summarises each location's recent results at now: fresh or
// stale, and its say under fail_after.
func Locations(in []LocationInput, interval time.Duration, failAfter int, now time.Time) []LocationState {
	failAfter = max(failAfter, 1)
	out := make([]LocationState, 0, len(in))
	for _, l := range in {
		s := LocationState{Location: l.Location}
		if n := len(l.Recent); n > 0 {
			last := l.Recent[n-1]
			s.Has = true
			s.Age = now.Sub(last.Start)
			s.Fresh = s.Age <= StaleAfter*interval
			s.Latest, s.State = last.State, last.State
			s.Duration, s.Message = last.Duration, last.Message
			if last.State != checks.OK {
				streak := 0
				for i := n - 1; i >= 0 && l.Recent[i].State != checks.OK; i-- {
					streak++
				}
				if streak < failAfter {
					s.State = checks.OK
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// Judge takes the verdict of a check run from several locations: crit when
// at least quorum fresh locations say crit, warn when at least quorum say
// warn or worse, unknown when fewer than quorum locations are fresh, ok
// otherwise. Its Duration is the median latency of the fresh locations.
// The caller fills Check and Start.
func Judge(locs []LocationState, quorum int) checks.Result {
	quorum = max(quorum, 1)
	var fresh, crit, bad, stale []LocationState
	for _, l := range locs {
		if !l.Fresh {
			stale = append(stale, l)
			continue
		}
		fresh = append(fresh, l)
		if l.State == checks.Crit {
			crit = append(crit, l)
		}
		if l.State != checks.OK {
			bad = append(bad, l)
		}
	}
	res := checks.Result{Duration: median(fresh)}
	of := fmt.Sprintf("(quorum %d of %d)", quorum, len(locs))
	switch {
	case len(fresh) < quorum:
		res.State = checks.Unknown
		var why []string
		for _, l := range stale {
			if l.Has {
				why = append(why, l.Location+" stale "+ui.Approx(l.Age))
			} else {
				why = append(why, l.Location+" no result")
			}
		}
		res.Message = fmt.Sprintf("not enough locations: %d of %d fresh (quorum %d): %s",
			len(fresh), len(locs), quorum, strings.Join(why, ", "))
	case len(crit) >= quorum:
		res.State = checks.Crit
		res.Message = fmt.Sprintf("crit from %s %s: %s", names(crit), of, crit[0].Message)
	case len(bad) >= quorum:
		res.State = worstState(bad)
		res.Message = fmt.Sprintf("%s from %s %s: %s", res.State, names(bad), of, bad[0].Message)
	default:
		res.State = checks.OK
		var okd []LocationState
		for _, l := range fresh {
			if l.State == checks.OK {
				okd = append(okd, l)
			}
		}
		res.Message = fmt.Sprintf("ok from %s %s", names(okd), of)
		for _, l := range fresh {
			switch {
			case l.State != checks.OK:
				res.Message += fmt.Sprintf("; %s %s: %s", l.Location, l.State, l.Message)
			case l.Latest != checks.OK:
				res.Message += fmt.Sprintf("; %s %s (not yet fail_after): %s", l.Location, l.Latest, l.Message)
			}
		}
		for _, l := range stale {
			if l.Has {
				res.Message += fmt.Sprintf("; %s stale %s", l.Location, ui.Approx(l.Age))
			} else {
				res.Message += fmt.Sprintf("; %s no result", l.Location)
			}
		}
	}
	return res
}

// worstState is "warn", or "unknown" when every location in ls says unknown.
func worstState(ls []LocationState) checks.State {
	for _, l := range ls {
		if l.State == checks.Warn || l.State == checks.Crit {
			return checks.Warn
		}
	}
	return checks.Unknown
}

func names(ls []LocationState) string {
	n := make([]string, len(ls))
	for i, l := range ls {
		n[i] = l.Location
	}
	return strings.Join(n, ", ")
}

func median(ls []LocationState) time.Duration {
	if len(ls) == 0 {
		return 0
	}
	d := make([]time.Duration, len(ls))
	for i, l := range ls {
		d[i] = l.Duration
	}
	slices.Sort(d)
	if len(d)%2 == 1 {
		return d[len(d)/2]
	}
	return (d[len(d)/2-1] + d[len(d)/2]) / 2
}

// locationsWarnSeverity is the default warn severity of a check with
// locations: an unknown verdict (not enough locations) is a P3, never a
// page, unless the crit severity is lower still.
func locationsWarnSeverity(severity string) string {
	if SeverityRank(severity) > SeverityRank("P3") {
		return severity
	}
	return "P3"
}

// Period is how often c runs, what freshness is measured in: its interval,
// or the gap between the next two runs of its schedule after now (a minute
// when neither says).
func Period(c *config.Check, now time.Time) time.Duration {
	if c.Schedule == "" {
		if d := c.Interval.D(); d > 0 {
			return d
		}
		return time.Minute
	}
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	s, err := cron.Parse(c.Schedule, loc, config.ParseEvery)
	if err != nil {
		return time.Minute
	}
	next := s.Next(now)
	return s.Next(next).Sub(next)
}
