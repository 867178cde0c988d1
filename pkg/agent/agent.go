// Package agent is the composition root of `pulse run`: it wires the config
// to checks, the scheduler, the store, the incident engine and the
// notification dispatcher, and handles reload and shutdown.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/cluster"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/schedule"
	"github.com/pulse-monitor/pulse/pkg/server"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// Options configure an Agent.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	Now    func() time.Time
	// Notify is called with sd_notify-style state strings ("READY=1",
	// "STATUS=...", "RELOADING=1", "STOPPING=1", "WATCHDOG=1"); nil = none.
	Notify func(state string)
	// SideRun is a one-off run beside the agent (`pulse check --record`):
	// it records results and the incidents they open or resolve, but the
	// acknowledgements and manual resolves queued by the CLI are the
	// running agent's to handle (it owns the incident state in memory).
	SideRun bool
}

// Agent runs checks on their schedules and records every result.
type Agent struct {
	log    *slog.Logger
	now    func() time.Time
	notify func(string)

	store *store.Store
	cl    *member // several agents on one PostgreSQL database; nil on SQLite
	sched *schedule.Scheduler
	inc   *incidents // incident records, escalation and notification delivery
	env   *checks.Env

	metrics *server.Metrics // /metrics; fed by record
	health  *health         // self-check of /healthz, the watchdog and heartbeat_url

	mu  sync.RWMutex // guards cfg and rts (replaced on reload)
	cfg *config.Config
	rts map[string]*runtime

	// incidentWrites counts the records with incident events evaluated so
	// far, applying those submitted and not yet committed (or given up).
	// The incident state in memory may be compared with the database only
	// while no such record is on its way (see incidents.reconcile).
	incidentWrites atomic.Uint64
	applying       atomic.Int64
}

// runtime is one configured check in the running agent.
type runtime struct {
	// cfg is the check's definition in the config in force. Runs read it
	// without a lock; a reload that keeps the runtime points it at the
	// new config's equal copy, so the old config can be collected.
	cfg     atomic.Pointer[config.Check]
	checker checks.Checker
	key     string // fingerprint of cfg: unchanged key = keep state on reload

	policy *alert.Policy // shared by the checks with the same one

	mu    sync.Mutex // serialises evaluation of this check's results
	state alert.CheckState

	site string // a copy of a check with locations: the location it runs (locations.go)
	// judging is when this runtime first took its verdict (a check with
	// locations; guarded by mu): the locations' results may lag until then.
	judging time.Time
}

// check is the runtime's definition in the config in force.
func (rt *runtime) check() *config.Check { return rt.cfg.Load() }

// New opens the database and builds every check; nothing runs until Run.
func New(o Options) (*Agent, error) {
	if o.Config == nil {
		return nil, errors.New("agent: no config")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Notify == nil {
		o.Notify = func(string) {}
	}
	st, err := store.Open(o.Config.Agent.StoreTarget(), store.Options{Logger: o.Logger, Now: o.Now})
	if err != nil {
		return nil, err
	}
	a := &Agent{log: o.Logger, now: o.Now, notify: o.Notify, store: st, metrics: server.NewMetrics(st, o.Logger)}
	if store.IsPostgres(o.Config.Agent.StoreTarget()) && !o.SideRun {
		if a.cl, err = newMember(o.Config, o.Logger); err != nil {
			st.Close()
			return nil, err
		}
	}
	a.health = &health{now: time.Now, lastTick: a.lastTick, probe: a.probeWrite, refusing: st.Refusing} // the scheduler's clock is real
	if a.cl != nil {
		a.health.leases = a.cl.health
	}
	a.env = &checks.Env{
		Now:        o.Now,
		Logger:     o.Logger,
		Targets:    o.Config.Targets,
		SQL:        checks.NewSQLPools(o.Logger),
		HTTP:       checks.NewHTTPClients(),
		History:    st,
		Heartbeats: st,
	}
	if a.cl != nil {
		db := a.cl.db
		a.env.Agents = func(ctx context.Context) ([]cluster.AgentInfo, error) { return cluster.Agents(ctx, db) }
	}
	rts, err := a.build(context.Background(), o.Config, nil)
	if err != nil {
		st.Close()
		return nil, err
	}
	a.cfg, a.rts = o.Config, rts
	if a.inc, err = newIncidents(a.incidentDeps(), o.Config, !o.SideRun); err != nil {
		st.Close()
		return nil, err
	}
	// The saved states may say an incident is open that was resolved by
	// hand while no agent ran, or the other way round.
	if err := a.inc.reconcile(context.Background(), true); err != nil {
		st.Close()
		return nil, err
	}
	return a, nil
}

// Reload switches to cfg: checks added start, removed ones stop, changed
// ones take their new definition, unchanged ones keep their schedule phase,
// state and open incidents. cfg must already be valid; on error the old
// configuration stays in force.
func (a *Agent) Reload(ctx context.Context, cfg *config.Config) error {
	start := a.now()
	a.mu.RLock()
	old := a.rts
	a.mu.RUnlock()
	rts, err := a.build(ctx, cfg, old)
	if err != nil {
		return err
	}
	js, err := jobs(cfg, rts)
	if err != nil {
		return err
	}
	if err := a.inc.reload(cfg); err != nil {
		return err
	}
	a.mu.Lock()
	a.cfg, a.rts = cfg, rts
	a.mu.Unlock()
	// Kept runtimes still point into the old config's []Check; one such
	// pointer would keep that whole array alive.
	for i := range cfg.Checks {
		if rt := rts[cfg.Checks[i].Name]; rt != nil {
			rt.cfg.Store(&cfg.Checks[i])
		}
	}
	a.metrics.Retain(cfg)
	if a.cl != nil {
		a.cl.Reconfigure(ConfigHash(cfg), notifierNames(cfg))
	}
	if a.sched != nil {
		a.setJobs(js)
	}
	kept := 0
	for name, rt := range rts {
		if old[name] == rt {
			kept++
		}
	}
	a.log.Info("config reloaded", "checks", len(rts), "unchanged", kept, "took", a.now().Sub(start))
	a.notify(fmt.Sprintf("STATUS=running %d checks (reloaded)", len(rts)))
	return nil
}

// build makes the runtimes of cfg, reusing those of old whose definition did
// not change (they keep their state and open incident).
func (a *Agent) build(ctx context.Context, cfg *config.Config, old map[string]*runtime) (map[string]*runtime, error) {
	saved := map[string][]byte{}
	if old == nil {
		var err error
		if saved, err = a.store.LoadStates(ctx); err != nil {
			return nil, fmt.Errorf("load check states: %w", err)
		}
	}
	rts := make(map[string]*runtime, len(cfg.Checks))
	policies := map[alert.Policy]*alert.Policy{} // most checks share a few
	var errs []error
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		if !c.IsEnabled() {
			continue
		}
		key := checkFingerprint(c)
		if c.CAFile != "" {
			// The bundle's contents count too: a CA rotated on disk is
			// a changed definition for the reload that follows.
			key += "+ca:" + a.env.HTTP.CADigest(c.CAFile)
		}
		if prev, ok := old[c.Name]; ok && prev.key == key {
			// Same definition: the runtime, its checker and its state carry
			// over. Reload points its cfg at c once the new config is in
			// force (the old one is equal but for its line number).
			rts[c.Name] = prev
			continue
		}
		chk, err := checks.New(c, a.env)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: check %q: %w", cfg.Path, c.Line, c.Name, err))
			continue
		}
		p := alert.PolicyFor(c, cfg.Agent)
		if policies[p] == nil {
			policies[p] = &p
		}
		rt := &runtime{checker: chk, key: key, policy: policies[p]}
		rt.cfg.Store(c)
		if prev, ok := old[c.Name]; ok {
			// A changed definition keeps its incident state: the check is
			// still the same service, and an open incident stays open.
			prev.mu.Lock()
			rt.state = prev.state
			prev.mu.Unlock()
		} else if b, ok := saved[c.Name]; ok {
			if err := json.Unmarshal(b, &rt.state); err != nil {
				a.log.Warn("discarding unreadable check state", "check", c.Name, "err", err)
			}
		}
		rts[c.Name] = rt
	}
	errs = append(errs, a.buildCopies(cfg, old, rts)...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	// Register the checks this agent has not registered yet (all at start;
	// on reload the new ones and those whose type changed).
	types := make(map[string]string, len(rts))
	for name, rt := range rts {
		if prev, ok := old[name]; !ok || prev.check().Type != rt.check().Type {
			types[name] = rt.check().Type
		}
	}
	// Heartbeat checks measure their first period from when pulse first saw them.
	if err := a.store.WatchChecks(ctx, types); err != nil {
		return nil, err
	}
	return rts, nil
}

// jobs is the scheduler's view of the runtimes.
func jobs(cfg *config.Config, rts map[string]*runtime) ([]schedule.Job, error) {
	out := make([]schedule.Job, 0, len(rts))
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		rt, ok := rts[c.Name]
		if !ok {
			continue
		}
		j, err := schedule.JobFor(evaluationSpec(c))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: check %q: %w", cfg.Path, c.Line, c.Name, err)
		}
		j.Key = rt.key
		out = append(out, j)
	}
	cs, err := copyJobs(cfg, rts)
	return append(out, cs...), err
}

// heartbeatEvery is how often a heartbeat check is evaluated when its
// `schedule` says when pings are expected rather than when to run.
const heartbeatEvery = 15 * time.Second

// evaluationSpec is c as the scheduler should run it. A heartbeat check's
// `schedule` is when its job is expected to ping, not when pulse should
// look: pulse must look often, or a missed deadline would wait for the next
// expected run to be noticed.
func evaluationSpec(c *config.Check) *config.Check {
	if c.Type != "heartbeat" {
		return c
	}
	cc := *c
	cc.Schedule = ""
	cc.Interval = config.Duration(heartbeatEvery)
	if c.Schedule == "" && c.Interval.D() > 0 && c.Interval.D() < heartbeatEvery {
		cc.Interval = c.Interval
	}
	return &cc
}

// Config returns the configuration in force.
func (a *Agent) Config() *config.Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

// Store is the agent's database.
func (a *Agent) Store() *store.Store { return a.store }

func (a *Agent) lookup(name string) *runtime {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.rts[name]
}

// Run runs the checks until ctx is cancelled, then lets in-flight checks
// finish (or time out), flushes every accepted result to disk and returns.
func (a *Agent) Run(ctx context.Context) error {
	var stop time.Time // when the stop began
	defer func() {
		a.close()
		if stop.IsZero() {
			return
		}
		took := time.Since(stop).Round(time.Millisecond)
		if n := a.store.Lost(); n > 0 {
			a.log.Error("stopped; records not written: the database refused them", "records", n, "took", took)
			return
		}
		a.log.Info("stopped: results and queued notifications are on disk", "took", took)
	}()
	a.store.Start(ctx)
	a.sched = schedule.New(schedule.RealClock(), a.cfg.Agent.MaxConcurrency, a.runJob)
	a.sched.OnStepBack = func(by time.Duration) {
		a.log.Warn("the wall clock went back; checks rescheduled from the new time", "by", by.Round(time.Millisecond))
	}
	js, err := jobs(a.cfg, a.rts)
	if err != nil {
		return err
	}
	memberDone := make(chan struct{})
	if a.cl != nil {
		go func() { defer close(memberDone); a.runMember(ctx) }()
	} else {
		close(memberDone)
	}
	a.setJobs(js)
	waitOps, err := a.startOps(ctx)
	if err != nil {
		return err
	}
	incDone := make(chan struct{})
	go func() { defer close(incDone); a.inc.run(ctx) }()
	digestsDone := make(chan struct{})
	go func() { defer close(digestsDone); a.runDigests(ctx) }()
	a.notify("READY=1")
	a.notify(fmt.Sprintf("STATUS=running %d checks", len(js)))
	a.log.Info("pulse running", "checks", len(js), "database", a.store.Path(), "pid", os.Getpid())
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); a.sched.Run(ctx) }()
	<-ctx.Done()
	stop = time.Now()
	a.log.Info("stopping", "why", context.Cause(ctx), "bound", StopBound)
	a.notify("STOPPING=1")
	// Whatever the database does (disk full, corrupt pages, locked), pulse
	// is gone within StopBound: the writer stops holding what the database
	// refuses at storeGiveUp, and whatever still runs at the bound (a check
	// past its timeout, a send) is left behind.
	a.store.StopBy(stop.Add(storeGiveUp))
	bound := time.NewTimer(StopBound - closeGrace)
	defer bound.Stop()
	for _, w := range []struct {
		what string
		done <-chan struct{}
	}{{"checks in flight", schedDone}, {"incident timer and notifications", incDone},
		{"digests", digestsDone}, {"listener and maintenance", doneCh(waitOps)}, {"leases", memberDone}} {
		select {
		case <-w.done:
		case <-bound.C:
			a.log.Warn("stop bound reached; left behind", "what", w.what, "after", time.Since(stop).Round(time.Millisecond))
			return nil
		}
	}
	return nil
}

// StopBound is how long pulse takes at most to stop once told to, whatever
// its checks, its receivers or its database do. systemd's TimeoutStopSec
// is well above it.
const StopBound = 10 * time.Second

const (
	// storeGiveUp is when, after the stop began, the writer drops what the
	// database refuses (counted and logged as not written).
	storeGiveUp = 7 * time.Second
	// closeGrace is what the bound leaves for closing the database.
	closeGrace = 1500 * time.Millisecond
)

// doneCh runs wait in a goroutine and returns a channel closed when it returns.
func doneCh(wait func()) <-chan struct{} {
	c := make(chan struct{})
	go func() { defer close(c); wait() }()
	return c
}

// RunOnce runs every enabled check once, records the results, evaluates
// incidents and delivers what is due now (`pulse run --once`).
func (a *Agent) RunOnce(ctx context.Context) error {
	_, err := a.RunChecks(ctx, nil)
	return err
}

// runOnceFlushLimit bounds how long RunChecks waits for its results to
// reach the disk.
const runOnceFlushLimit = 30 * time.Second

// RunChecks runs the named checks (every enabled check when names is empty)
// once, concurrently up to max_concurrency, records each result with its
// incident consequences, flushes them to disk, delivers the notifications
// due now and closes the agent. Results come back in config order.
func (a *Agent) RunChecks(ctx context.Context, names []string) ([]checks.Result, error) {
	if a.cl != nil {
		// A one-off run acts alone, like `pulse check --record`: it holds
		// no lease, so nothing of it would be written under one.
		a.cl.db.Close()
		a.cl = nil
	}
	defer a.close()
	a.store.Start(ctx)
	a.mu.RLock()
	var rts []*runtime
	for i := range a.cfg.Checks {
		c := &a.cfg.Checks[i]
		if rt := a.rts[c.Name]; rt != nil && (len(names) == 0 || slices.Contains(names, c.Name)) {
			rts = append(rts, rt)
		}
	}
	limit := a.cfg.Agent.MaxConcurrency
	a.mu.RUnlock()
	results := runConcurrently(len(rts), limit, func(i int) checks.Result {
		return a.execute(context.WithoutCancel(ctx), rts[i])
	})
	// The writer holds a batch the database refuses (disk full) until it
	// is taken: a one-shot run from cron must not wait for that forever.
	fctx, cancel := context.WithTimeout(ctx, runOnceFlushLimit)
	defer cancel()
	if err := a.store.Flush(fctx); err != nil {
		return results, err
	}
	return results, a.inc.deliverDue(ctx)
}

// runJob is the scheduler's callback: one run of one check.
func (a *Agent) runJob(ctx context.Context, job *schedule.Job, _ time.Time) {
	rt := a.lookup(job.Name)
	if rt == nil {
		return // removed by a reload while queued
	}
	a.execute(ctx, rt)
}

// execute runs rt's check and hands the result to the recorder.
func (a *Agent) execute(ctx context.Context, rt *runtime) checks.Result {
	c := rt.check()
	var res checks.Result
	if c.HasLocations() {
		var ok bool
		if res, ok = a.judge(ctx, rt); !ok { // the verdict of its locations (locations.go)
			return res
		}
	} else {
		res = checks.RunLogged(ctx, a.log, c.Name, rt.checker, c.Timeout.D(), a.now)
	}
	a.record(rt, res)
	return res
}

// record evaluates res and submits it, with the state and incident events
// it caused, to the writer: one transaction, nothing sent before it commits.
func (a *Agent) record(rt *runtime, res checks.Result) {
	fence, ok := a.fence(res.Check)
	if !ok {
		// Its shard moved to another agent while it ran: that agent runs
		// it now, and counts it once.
		a.log.Debug("result dropped: its shard is held by another agent now", "check", res.Check)
		return
	}
	if rt.site != "" {
		a.recordCopy(res, fence)
		return
	}
	a.metrics.ObserveResult(res, rt.check().Type)
	now := a.now()
	rt.mu.Lock()
	prev := rt.state
	next, events := alert.Evaluate(prev, res, *rt.policy, now)
	rt.state = next
	if len(events) > 0 {
		// Counted while the state is locked: reconcile, which reads it
		// under the same lock, then knows whether it may trust the
		// database's view (see incidents.reconcileWith).
		a.incidentWrites.Add(1)
		a.applying.Add(1)
	}
	rt.mu.Unlock()
	rec := store.Record{Result: res, Fence: fence}
	if len(events) > 0 {
		// The incident layer writes the state itself, after the store has
		// assigned the id of an incident just opened.
		rec.Apply = a.inc.apply(rt, res, events, now)
		rec.Done = func(err error) {
			a.applying.Add(-1)
			if err != nil {
				// The incident events were not written: the state in
				// memory says what the database does not. The timer
				// re-reads it (incidents.reconcile) within a second.
				a.inc.stale.Store(true)
			}
		}
	} else if persistable(prev, next, *rt.policy) {
		rec.State = marshalState(next)
	}
	if err := a.store.Submit(rec); err != nil {
		if rec.Done != nil {
			rec.Done(err)
		}
		a.log.Error("result not recorded", "check", res.Check, "err", err)
	}
}

func (a *Agent) close() {
	if err := a.store.Close(); err != nil {
		a.log.Error("close database", "err", err)
	}
	if a.cl != nil {
		// Once what was accepted is written under them, a graceful stop
		// gives the leases up at once: the others need not wait for them
		// to expire (a killed agent's do).
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := a.cl.Close(ctx); err != nil {
			a.log.Warn("cluster: leases not given up; they expire", "err", err)
		}
		cancel()
		a.cl.db.Close()
	}
	a.env.SQL.Close()
}
