package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/agent"
	"github.com/pulse-monitor/pulse/pkg/agent/proc"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// RunOptions are `pulse run`'s inputs.
type RunOptions struct {
	Once bool
}

func newRunCmd(g *Global) *cobra.Command {
	o := RunOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent: scheduled checks, incidents and notifications",
		Long: "run is the agent. It runs every check on its schedule, records each result in the\n" +
			"database, opens and resolves incidents and delivers notifications, until SIGINT or\n" +
			"SIGTERM (in-flight checks finish or time out; queued notifications stay on disk).\n" +
			"SIGHUP reloads the config; an invalid new config is logged and the old one kept.",
		Example: "  pulse run\n  pulse --config /etc/pulse/pulse.toml --log-format json run\n  pulse run --once",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRun(cmd.Context(), g, o)
		},
	}
	cmd.Flags().BoolVar(&o.Once, "once", false, "run every check once, evaluate incidents, deliver what is due now, and exit")
	return cmd
}

func runRun(ctx context.Context, g *Global, o RunOptions) error {
	log := g.Logger()
	defer startPprof(g, log)()
	cfg, err := g.LoadConfig()
	if err != nil {
		return exitCode(1, err)
	}
	// One agent per database: a second would open a second incident for
	// every failure and send every notification twice.
	lock, err := store.LockAgent(cfg.Agent.StoreTarget())
	if err != nil {
		return exitCode(1, err)
	}
	defer lock.Unlock()
	a, err := agent.New(agent.Options{Config: cfg, Logger: log, Notify: sdNotifier(log)})
	if err != nil {
		return exitCode(1, err)
	}
	var mem proc.Memory
	if p := mem.Tune(); p != 0 {
		log.Debug("collector headroom set for the live heap", "gogc", p)
	}
	if o.Once {
		if err := a.RunOnce(ctx); err != nil {
			return exitCode(1, err)
		}
		return nil
	}
	go mem.KeepTuned(ctx, proc.TunePeriod)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if ctx.Err() != nil {
					return // stopping: a reload now would race the shutdown
				}
				reload(ctx, g, a, &mem, log)
			}
		}
	}()
	if err := a.Run(ctx); err != nil {
		return exitCode(1, err)
	}
	return nil
}

// reload reads the config again and switches the agent to it, within the
// memory the agent already uses (proc.Memory.Cap).
func reload(ctx context.Context, g *Global, a *agent.Agent, mem *proc.Memory, log *slog.Logger) {
	defer mem.Cap()()
	next, err := g.LoadConfig()
	if err != nil {
		log.Error("reload refused: the new config is invalid; still running the old one", "err", err)
		return
	}
	if err := a.Reload(ctx, next); err != nil {
		log.Error("reload failed; still running the old config", "err", err)
	}
}
