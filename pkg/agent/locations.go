package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/cluster"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/schedule"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// Checks with locations (config.Check.Locations). Each location runs its
// copy of the check, NAME@LOCATION (config.CopyName): an ordinary run of
// the same checker, by an agent of that location ([agent].location) that
// holds the copy's site shard (cluster.SiteShards), its results written
// under that lease and kept under the copy's name. A copy opens no
// incident and keeps no state: its results are what the verdict reads.
//
// The check itself is the verdict: scheduled like any check, on the holder
// of its global shard, at its interval, it runs no checker but reads the
// latest results of the copies from the database and judges them
// (alert.Locations, alert.Judge). Its result goes through record, so its
// incidents follow the check's policy like any other's (unknown, too few
// fresh locations, is a P3 by default: alert.PolicyFor).

// buildCopies adds to rts the copies of cfg's checks with locations that
// this agent's location runs, reusing those of old whose definition did
// not change.
func (a *Agent) buildCopies(cfg *config.Config, old, rts map[string]*runtime) []error {
	site := cfg.Agent.Site
	if site == "" {
		return nil
	}
	var errs []error
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		if !c.IsEnabled() || !c.HasLocations() || !containsString(c.Locations, site) {
			continue
		}
		name := config.CopyName(c.Name, site)
		key := checkFingerprint(c) + "@" + site
		if c.CAFile != "" {
			key += "+ca:" + a.env.HTTP.CADigest(c.CAFile)
		}
		if prev, ok := old[name]; ok && prev.key == key {
			rts[name] = prev
			continue
		}
		cc := copyCheck(c, site)
		chk, err := checks.New(cc, a.env)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: check %q: %w", cfg.Path, c.Line, c.Name, err))
			continue
		}
		p := alert.PolicyFor(cc, cfg.Agent)
		rt := &runtime{checker: chk, key: key, policy: &p, site: site}
		rt.cfg.Store(cc)
		rts[name] = rt
	}
	return errs
}

// copyCheck is c as its copy at site runs it: its own name, no locations.
func copyCheck(c *config.Check, site string) *config.Check {
	cc := *c
	cc.Name = config.CopyName(c.Name, site)
	cc.Locations, cc.Quorum = nil, 0
	cc.DependsOn = nil
	return &cc
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// copyJobs are the scheduler's jobs of the copies in rts.
func copyJobs(cfg *config.Config, rts map[string]*runtime) ([]schedule.Job, error) {
	var out []schedule.Job
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		if !c.HasLocations() {
			continue
		}
		rt, ok := rts[config.CopyName(c.Name, cfg.Agent.Site)]
		if !ok || rt.site == "" {
			continue
		}
		j, err := schedule.JobFor(rt.check())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: check %q: %w", cfg.Path, c.Line, c.Name, err)
		}
		j.Key = rt.key
		out = append(out, j)
	}
	return out, nil
}

// recordCopy submits a copy's result, under its site shard's lease: no
// state, no incident (the verdict has them).
func (a *Agent) recordCopy(res checks.Result, fence *store.Fence) {
	if err := a.store.Submit(store.Record{Result: res, Fence: fence}); err != nil {
		a.log.Error("result not recorded", "check", res.Check, "err", err)
	}
}

// siteFence is fence for a copy: the lease of its site shard.
func (a *Agent) siteFence(name string) (*store.Fence, bool) {
	if a.cl == nil {
		return nil, true // a lone agent runs its location's copies itself
	}
	t, ok := a.cl.OwnsSite(cluster.ShardOf(name, cluster.SiteShards))
	if !ok {
		return nil, false
	}
	return &store.Fence{Lease: t.Name, Owner: t.Owner, Epoch: t.Epoch}, true
}

// runs reports whether the agent runs the job named name under held: a
// copy when it holds the copy's site shard, a check when it holds its
// shard.
func (m *member) runs(held cluster.Snapshot, name string) bool {
	if _, _, ok := config.SplitCopyName(name); ok {
		_, ok := held.Sites[cluster.ShardOf(name, cluster.SiteShards)]
		return ok
	}
	_, ok := held.Shards[cluster.ShardOf(name, m.shards)]
	return ok
}

// judge is the run of a check with locations: the verdict of its copies'
// results at now. A database that cannot be read gives unknown. ok is
// false for an unknown verdict within the first StaleAfter periods (and
// judgeGrace) this runtime judges: after a start, a reload or a takeover
// the copies may not have run yet, nor their results reached the
// database. It is not recorded.
func (a *Agent) judge(ctx context.Context, rt *runtime) (res checks.Result, ok bool) {
	c := rt.check()
	now := a.now()
	period := alert.Period(c, now)
	rt.mu.Lock()
	if rt.judging.IsZero() {
		rt.judging = now
	}
	since := rt.judging
	rt.mu.Unlock()
	in, err := a.locationResults(ctx, c, now)
	if err != nil {
		res = checks.Result{State: checks.Unknown, Message: "cannot read the locations' results: " + err.Error()}
	} else {
		res = alert.Judge(alert.Locations(in, period, c.FailAfter, now), c.QuorumOf())
	}
	res.Check, res.Start = c.Name, now
	if res.State == checks.Unknown && now.Sub(since) < alert.StaleAfter*period+judgeGrace {
		return res, false
	}
	return res, true
}

// judgeGrace is what judge allows beyond StaleAfter periods for the first
// results of the copies: the leases claimed, the first runs spread over an
// interval, the writer's batch.
const judgeGrace = 5 * time.Second

// locationResults reads each location's latest results, up to fail_after
// of them, oldest first.
func (a *Agent) locationResults(ctx context.Context, c *config.Check, now time.Time) ([]alert.LocationInput, error) {
	timeout := c.Timeout.D()
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := make([]alert.LocationInput, 0, len(c.Locations))
	for _, loc := range c.Locations {
		rs, err := a.store.Results(ctx, config.CopyName(c.Name, loc), time.Time{}, now.Add(time.Hour), max(c.FailAfter, 1))
		if err != nil {
			return nil, err
		}
		out = append(out, alert.LocationInput{Location: loc, Recent: rs})
	}
	return out, nil
}

// testAgentIDs names the agents of tests that run several in one process
// (AgentID is per process): config → id.
var testAgentIDs sync.Map

func agentIDOf(cfg *config.Config) string {
	if id, ok := testAgentIDs.Load(cfg); ok {
		return id.(string)
	}
	return AgentID()
}
