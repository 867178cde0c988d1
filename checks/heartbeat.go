package checks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pulse-monitor/pulse/pkg/cron"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// hbMaxRuntime bounds the start → success gap counted as a run time: a
// start ping older than this belongs to some earlier, abandoned run.
const hbMaxRuntime = 12 * time.Hour

// heartbeatCheck is the heartbeat kind, on the Healthchecks model: cron jobs
// ping pulse, and the check goes crit when the pings stop coming on time or
// a job reports failure. It only reads the pings; the listener stores them.
type heartbeatCheck struct {
	name    string
	period  time.Duration
	grace   time.Duration
	sched   cron.Schedule // nil when period is used
	loc     *time.Location
	store   Heartbeats
	now     func() time.Time
	created time.Time // stands in for FirstSeen when the store has none
}

var _ Checker = (*heartbeatCheck)(nil)

func newHeartbeat(c *config.Check, env *Env) (Checker, error) {
	k := &heartbeatCheck{
		name:    c.Name,
		period:  c.Period.D(),
		grace:   c.Grace.D(),
		loc:     c.Location,
		store:   env.Heartbeats,
		now:     env.Now,
		created: env.Now(),
	}
	if k.loc == nil {
		k.loc = time.UTC
	}
	switch {
	case k.period > 0 && c.Schedule != "":
		return nil, fmt.Errorf("check %q: set period or schedule, not both", c.Name)
	case c.Schedule != "":
		s, err := cron.Parse(c.Schedule, k.loc, config.ParseEvery)
		if err != nil {
			return nil, fmt.Errorf("check %q: schedule: %w", c.Name, err)
		}
		k.sched = s
	case k.period <= 0:
		return nil, errors.New("check " + strconv.Quote(c.Name) + ": a heartbeat needs period (e.g. \"1h\") or schedule")
	}
	return k, nil
}

// due returns when the next success is expected after a success (or the
// start of watching) at t: t + period, or the schedule's next run after t.
// Counting from the last success rather than from the latest expected run
// keeps a missed run crit until a success arrives, instead of turning ok
// again when the following run becomes due.
func (k *heartbeatCheck) due(t time.Time) time.Time {
	if k.sched != nil {
		return k.sched.Next(t)
	}
	return t.Add(k.period)
}

// Run evaluates the latest pings against the clock.
func (k *heartbeatCheck) Run(ctx context.Context) Result {
	if k.store == nil {
		return Result{State: Unknown, Message: "no heartbeat store (heartbeats need `pulse run`)"}
	}
	ps, err := k.store.LastPings(ctx, k.name)
	if err != nil {
		return Result{State: Unknown, Message: "cannot read pings: " + err.Error()}
	}
	now := k.now()
	res := k.judge(now, ps)
	if rt, ok := hbRuntime(ps); ok {
		res.SetValue(rt.Seconds())
		res.Perf = []Perf{{Label: "runtime", Value: rt.Seconds(), UOM: "s"}}
		if res.State == OK {
			res.Message += ", ran " + sqlShortDur(rt)
		}
	}
	return res
}

func (k *heartbeatCheck) judge(now time.Time, ps PingState) Result {
	succ := ps.LastSuccess
	if !ps.LastFail.IsZero() && ps.LastFail.After(succ) {
		return Result{State: Crit, Message: "job reported failure " + ui.Approx(now.Sub(ps.LastFail)) + " ago"}
	}
	running := !ps.LastStart.IsZero() && ps.LastStart.After(succ)
	// With no grace a running job cannot be told from a hung one; the
	// period deadline alone judges it then.
	if running && k.grace > 0 && now.Sub(ps.LastStart) >= k.grace {
		return Result{State: Crit, Message: "started " + ui.Approx(now.Sub(ps.LastStart)) + " ago, no success within grace " + config.Duration(k.grace).String()}
	}
	if succ.IsZero() {
		watched := ps.FirstSeen
		if watched.IsZero() {
			watched = k.created
		}
		if deadline := k.due(watched).Add(k.grace); !now.Before(deadline) {
			return Result{State: Crit, Message: "no ping since started watching " + ui.Approx(now.Sub(watched)) + " ago (" + k.rule() + ")"}
		}
		if running {
			return Result{State: OK, Message: "running, started " + ui.Approx(now.Sub(ps.LastStart)) + " ago (new)"}
		}
		return Result{State: OK, Message: "waiting for first ping (new)"}
	}
	due := k.due(succ)
	if !now.Before(due.Add(k.grace)) {
		if k.sched != nil {
			return Result{State: Crit, Message: "no success since the run expected at " + due.In(k.loc).Format("2006-01-02 15:04") +
				" (grace " + config.Duration(k.grace).String() + "), last ping " + ui.Approx(now.Sub(succ)) + " ago"}
		}
		return Result{State: Crit, Message: "no ping for " + ui.Approx(now.Sub(succ)) + " (" + k.rule() + ")"}
	}
	if running {
		return Result{State: OK, Message: "running, started " + ui.Approx(now.Sub(ps.LastStart)) + " ago, last success " + ui.Approx(now.Sub(succ)) + " ago"}
	}
	msg := "last ping " + ui.Approx(now.Sub(succ)) + " ago"
	if !now.Before(due) {
		// Late but within grace: Healthchecks' "late", not yet worth an alert.
		msg += ", late (grace ends in " + ui.Approx(due.Add(k.grace).Sub(now)) + ")"
	}
	return Result{State: OK, Message: msg}
}

// rule describes the deadline for messages: "period 1h + grace 5m".
func (k *heartbeatCheck) rule() string {
	if k.sched != nil {
		return "schedule + grace " + config.Duration(k.grace).String()
	}
	return "period " + config.Duration(k.period).String() + " + grace " + config.Duration(k.grace).String()
}

// hbRuntime is the last run's duration, when its start ping preceded its
// success within hbMaxRuntime.
func hbRuntime(ps PingState) (time.Duration, bool) {
	if ps.LastStart.IsZero() || ps.LastSuccess.IsZero() || ps.LastStart.After(ps.LastSuccess) {
		return 0, false
	}
	d := ps.LastSuccess.Sub(ps.LastStart)
	return d, d <= hbMaxRuntime
}
