package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/config"
)

// CheckOptions are the inputs of Check.
type CheckOptions struct {
	// Checks are the checks to run, pointers into the config's Checks (the
	// CLI selects them by name or glob). None runs every enabled check.
	Checks []*config.Check
	// Record runs them the way `pulse run` does, beside a running agent:
	// results, incidents and the notifications due now are recorded and
	// delivered (see Options.SideRun). Without it nothing is recorded and
	// a check that cannot be built is an unknown result rather than an
	// error.
	Record bool
	Logger *slog.Logger     // discard when nil
	Now    func() time.Time // time.Now when nil
}

// Check runs checks once, now, concurrently up to [agent].max_concurrency,
// and returns one result per check in the order of o.Checks (config order
// when o.Checks is empty). It is `pulse check`: the CLI only prints. The
// error is about the run itself (the database, a check that cannot be
// built when recording), never about a check's outcome.
func Check(ctx context.Context, cfg *config.Config, o CheckOptions) ([]checks.Result, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sel := o.Checks
	if len(sel) == 0 {
		for i := range cfg.Checks {
			if cfg.Checks[i].IsEnabled() {
				sel = append(sel, &cfg.Checks[i])
			}
		}
	}
	if o.Record {
		return checkRecorded(ctx, cfg, o, sel)
	}
	// Nothing recorded: the checks get no history or heartbeat store.
	env := &checks.Env{Now: o.Now, Logger: o.Logger, Targets: cfg.Targets, SQL: checks.NewSQLPools(o.Logger), HTTP: checks.NewHTTPClients()}
	if env.Now == nil {
		env.Now = time.Now
	}
	defer env.SQL.Close()
	return runConcurrently(len(sel), cfg.Agent.MaxConcurrency, func(i int) checks.Result {
		c := sel[i]
		chk, err := checks.New(c, env)
		if err != nil {
			return checks.Result{Check: c.Name, Start: env.Now(), State: checks.Unknown, Message: err.Error()}
		}
		return checks.RunLogged(ctx, o.Logger, c.Name, chk, c.Timeout.D(), o.Now)
	}), nil
}

// checkRecorded is Check with Record: the agent's own path.
func checkRecorded(ctx context.Context, cfg *config.Config, o CheckOptions, sel []*config.Check) ([]checks.Result, error) {
	// The acks and resolves the CLI queued stay the running agent's to
	// handle (SideRun).
	a, err := New(Options{Config: cfg, Logger: o.Logger, Now: o.Now, SideRun: true})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(sel))
	for i, c := range sel {
		names[i] = c.Name
	}
	got, err := a.RunChecks(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("record results: %w", err)
	}
	// RunChecks answers in config order; the caller asked in its own.
	byName := make(map[string]checks.Result, len(got))
	for _, r := range got {
		byName[r.Check] = r
	}
	out := make([]checks.Result, len(sel))
	for i, c := range sel {
		out[i] = byName[c.Name]
	}
	return out, nil
}

// runConcurrently calls run(0) … run(n-1), at most limit (at least 1) at a
// time, and returns their results in that order.
func runConcurrently(n, limit int, run func(i int) checks.Result) []checks.Result {
	results := make([]checks.Result, n)
	sem := make(chan struct{}, max(1, limit))
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = run(i)
		}()
	}
	wg.Wait()
	return results
}
