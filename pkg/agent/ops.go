package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/server"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// Operations around the checks: the HTTP listener, retention, the systemd
// watchdog and the self-heartbeat. All but the listener are gated on one
// self-check (health): a wedged agent must stop feeding the watchdog and
// stop pinging [agent].heartbeat_url, so that something outside notices.
const (
	// tickWindow is how stale the scheduler's loop may be: it looks at its
	// queue at least every second while alive, even when saturated.
	tickWindow = 30 * time.Second
	// probeMaxAge is how long a database write probe's answer is reused;
	// /healthz polled every second costs one write per probeMaxAge.
	probeMaxAge = 10 * time.Second
	// probeWait is how long a caller waits for a write probe's answer.
	probeWait = 10 * time.Second

	pruneFirst         = time.Minute     // let a restart settle before pruning
	pruneEvery         = 5 * time.Minute // small, frequent prunes keep each one short
	selfHeartbeatEvery = time.Minute
	selfHeartbeatLimit = 10 * time.Second
	statusEvery        = 30 * time.Second // STATUS= refresh without a watchdog

	probeKey = "agent_alive" // meta row the write probe updates
)

// health is the agent's self-check: the scheduler loop ticked recently and
// the database commits a write through the writer goroutine.
type health struct {
	now      func() time.Time
	lastTick func() time.Time // zero before the scheduler runs
	probe    func(ctx context.Context) error
	// refusing, when set, says at once that the database refuses the
	// writer's batch: no need to wait for a probe stuck behind it.
	refusing func() error
	// leases, when set, says why an agent among several acts on nothing.
	leases func() error

	mu       sync.Mutex
	probedAt time.Time
	probeErr error
	running  chan struct{} // non-nil while a probe is in flight
	runStart time.Time
}

// check returns nil when the agent works, else why not.
func (h *health) check(ctx context.Context) error {
	now := h.now()
	tick := h.lastTick()
	if tick.IsZero() {
		return errors.New("scheduler not running")
	}
	if age := now.Sub(tick); age > tickWindow {
		return fmt.Errorf("scheduler stalled: last tick %s ago (expected within %s)", age.Round(time.Second), tickWindow)
	}
	if h.refusing != nil {
		if err := h.refusing(); err != nil {
			return fmt.Errorf("database does not accept writes: %w", err)
		}
	}
	if h.leases != nil {
		if err := h.leases(); err != nil {
			return err
		}
	}
	h.mu.Lock()
	if !h.probedAt.IsZero() && now.Sub(h.probedAt) < probeMaxAge && !now.Before(h.probedAt) {
		err := h.probeErr
		h.mu.Unlock()
		return err
	}
	// One probe at a time: a writer that hangs holds one goroutine, not one
	// per health request.
	if h.running == nil {
		done := make(chan struct{})
		h.running, h.runStart = done, now
		go func() {
			err := h.probe(context.WithoutCancel(ctx))
			if err != nil {
				err = fmt.Errorf("database does not accept writes: %w", err)
			}
			h.mu.Lock()
			h.probedAt, h.probeErr, h.running = h.now(), err, nil
			h.mu.Unlock()
			close(done)
		}()
	}
	done, start := h.running, h.runStart
	h.mu.Unlock()
	wait, cancel := context.WithTimeout(ctx, probeWait)
	defer cancel()
	// The probe may wait behind a batch the database has just refused:
	// look at the writer's answer meanwhile, so the 503 comes at once.
	poll := time.NewTicker(refusingPoll)
	defer poll.Stop()
	for {
		select {
		case <-done:
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.probeErr
		case <-poll.C:
			if h.refusing != nil {
				if err := h.refusing(); err != nil {
					return fmt.Errorf("database does not accept writes: %w", err)
				}
			}
		case <-wait.Done():
			return fmt.Errorf("database write pending for %s", h.now().Sub(start).Round(time.Second))
		}
	}
}

// refusingPoll is how often a health check waiting for its write probe
// looks whether the writer found the database refusing writes.
const refusingPoll = 50 * time.Millisecond

// Health is the agent's self-check, as /healthz reports it: nil when the
// scheduler ticked within its window and the database accepts writes.
func (a *Agent) Health(ctx context.Context) error { return a.health.check(ctx) }

// lastTick is when the scheduler last looked at its queue.
func (a *Agent) lastTick() time.Time {
	// a.sched is set before the goroutines that call this start.
	if a.sched != nil {
		return a.sched.LastTick()
	}
	return time.Time{}
}

// probeWrite commits one small write through the writer goroutine, so it
// fails when the writer is stuck as well as when the disk refuses.
func (a *Agent) probeWrite(ctx context.Context) error {
	done := make(chan error, 1)
	at := a.now().UTC().Format(time.RFC3339)
	err := a.store.Submit(store.Record{
		Apply: func(tx store.Tx) error { return tx.SetMeta(probeKey, at) },
		Done:  func(err error) { done <- err },
	})
	if err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startOps binds the listener (so a taken port fails the start) and starts
// the background loops; wait blocks until they have all stopped, which
// they do when ctx ends.
func (a *Agent) startOps(ctx context.Context) (wait func(), err error) {
	var wg sync.WaitGroup
	cfg := a.Config()
	if addr := cfg.Agent.Listen; addr != "" {
		ln, err := server.Listen(addr)
		if err != nil {
			return nil, err
		}
		srv := server.New(server.Options{
			Store:   a.store,
			Config:  a.Config,
			Health:  a.Health,
			Metrics: a.metrics,
			OnPing:  a.onPing(ctx),
			Logger:  a.log.With("component", "listener"),
			Now:     a.now,
		})
		wg.Go(func() {
			if err := srv.Serve(ctx, ln); err != nil {
				a.log.Error("listener stopped", "err", err)
			}
		})
	}
	wg.Go(func() { a.retentionLoop(ctx) })
	wg.Go(func() { a.fanOutLoop(ctx) })
	wg.Go(func() { a.watchdogLoop(ctx) })
	wg.Go(func() { a.heartbeatLoop(ctx, &http.Client{Timeout: selfHeartbeatLimit}) })
	return wg.Wait, nil
}

// retentionLoop prunes the database every few minutes. Store.Prune deletes
// in short chunks and vacuums incrementally between the writer's batches, so
// results keep flowing while it runs.
func (a *Agent) retentionLoop(ctx context.Context) {
	t := time.NewTimer(pruneFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.prune(ctx)
		t.Reset(pruneEvery)
	}
}

// prune sums the complete days of rollups not summed yet (status' 30-day
// figures read them), then applies [agent].retention and max_db_size once.
func (a *Agent) prune(ctx context.Context) (store.PruneStats, error) {
	if !a.maintainer() {
		return store.PruneStats{}, nil // another agent's job now
	}
	ag := a.Config().Agent
	if n, err := a.store.CompactRollups(ctx, a.now()); err != nil && ctx.Err() == nil {
		a.log.Error("sum daily rollups", "err", err)
	} else if n > 0 {
		a.log.Info("summed daily rollups", "days", n)
	}
	st, err := a.store.Prune(ctx, a.now(), ag.Retention.D(), int64(ag.MaxDBSize))
	if err != nil && ctx.Err() == nil {
		a.log.Error("prune database", "err", err)
	}
	return st, err
}

// watchdogLoop feeds systemd's watchdog at half its interval (WATCHDOG_USEC)
// while the agent is healthy, and refreshes the STATUS= line.
func (a *Agent) watchdogLoop(ctx context.Context) {
	every := statusEvery
	wd, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		a.log.Warn("systemd watchdog disabled: bad WATCHDOG_USEC", "err", err)
	}
	if wd > 0 {
		every = wd / 2
		a.log.Info("systemd watchdog enabled", "interval", wd)
	}
	tickUntil(ctx, every, func() { a.watchdogTick(ctx, wd > 0) })
}

// tickUntil calls f every period until ctx is done.
func tickUntil(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// watchdogTick sends WATCHDOG=1 (when fed is set) only if the self-check
// passes, and a STATUS= line either way. It returns the self-check's error.
func (a *Agent) watchdogTick(ctx context.Context, feed bool) error {
	err := a.health.check(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		if feed {
			a.log.Error("not feeding the systemd watchdog", "err", err)
		}
		a.notify("STATUS=unhealthy: " + err.Error())
		return err
	}
	if feed {
		a.notify("WATCHDOG=1")
	}
	a.notify("STATUS=" + a.summary(ctx))
	return nil
}

// summary is the one-line STATUS= text.
func (a *Agent) summary(ctx context.Context) string {
	n := 0
	for i, cfg := 0, a.Config(); i < len(cfg.Checks); i++ {
		if cfg.Checks[i].IsEnabled() {
			n++
		}
	}
	c := a.metrics.States()
	s := fmt.Sprintf("%d checks: %d ok, %d warn, %d crit, %d unknown", n, c.OK, c.Warn, c.Crit, c.Unknown)
	if incs, err := a.store.OpenIncidents(ctx); err == nil {
		s += fmt.Sprintf("; %d incidents open", len(incs))
	}
	if size, err := a.store.Size(); err == nil {
		s += fmt.Sprintf("; database %.1f MB", float64(size)/1e6)
	}
	return s
}

// heartbeatLoop pings [agent].heartbeat_url every minute while the agent
// is healthy: the outside service alerts when the pings stop.
func (a *Agent) heartbeatLoop(ctx context.Context, client *http.Client) {
	t := time.NewTicker(selfHeartbeatEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := a.heartbeatTick(ctx, client)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			a.log.Warn("self-heartbeat not sent", "err", err)
		case err == nil && failing:
			a.log.Info("self-heartbeat sent again")
		}
		failing = err != nil
	}
}

// errNoHeartbeatURL says [agent].heartbeat_url is not set.
var errNoHeartbeatURL = errors.New("no heartbeat_url")

// heartbeatTick GETs heartbeat_url if the agent is healthy.
func (a *Agent) heartbeatTick(ctx context.Context, client *http.Client) error {
	u := a.Config().Agent.HeartbeatURL
	if u == "" {
		return errNoHeartbeatURL
	}
	if !a.maintainer() {
		return nil // the maintainer pings for the agents sharing the database
	}
	if err := a.health.check(ctx); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.Reveal(), nil)
	if err != nil {
		return fmt.Errorf("heartbeat_url: %w", scrub(err, u))
	}
	req.Header.Set("User-Agent", "pulse")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("ping heartbeat_url: %w", scrub(err, u))
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("ping heartbeat_url: HTTP %d", resp.StatusCode)
	}
	return nil
}

// scrub keeps the (secret) URL out of an error's text.
func scrub(err error, u config.Secret) error {
	if u == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), u.Reveal(), u.String()))
}

// onPing returns the listener's ping hook: a heartbeat check is evaluated
// at once on a success or fail ping (a failed cron job is crit now, not at
// the check's next run). One evaluation per check at a time; pings that
// arrive meanwhile are covered by it or by the next scheduled run.
func (a *Agent) onPing(ctx context.Context) func(check, kind string) {
	var busy sync.Map // check name → *atomic.Bool
	return func(check, kind string) {
		if kind == store.PingStart {
			return
		}
		rt := a.lookup(check)
		if rt == nil {
			return
		}
		v, _ := busy.LoadOrStore(check, new(atomic.Bool))
		flag := v.(*atomic.Bool)
		if !flag.CompareAndSwap(false, true) {
			return
		}
		go func() {
			defer flag.Store(false)
			a.execute(context.WithoutCancel(ctx), rt)
		}()
	}
}
