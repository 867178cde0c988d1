package cli

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/checks"
	"github.com/pulse-monitor/pulse/pkg/agent"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// CheckOptions are `pulse check`'s inputs.
type CheckOptions struct {
	Names  []string // names or globs; all enabled checks when empty
	Record bool
}

func newCheckCmd(g *Global) *cobra.Command {
	o := CheckOptions{}
	cmd := &cobra.Command{
		Use:   "check [NAME...]",
		Short: "Run checks once, now, and print each result",
		Long: "check runs the named checks (all enabled checks when none are named; globs allowed) once\n" +
			"and prints each result. Nothing is recorded unless --record is given.\n\n" +
			"Exit status follows the Nagios convention: 0 all ok, 1 worst is warn, 2 worst is crit,\n" +
			"3 unknown or a config error.",
		Example: "  pulse check\n  pulse check api-health 'db-*'\n  pulse check --record failed-payments",
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Names = args
			return runCheck(cmd.Context(), g, o)
		},
	}
	cmd.Flags().BoolVar(&o.Record, "record", false, "record the results (and evaluate incidents) in the database")
	return cmd
}

func runCheck(ctx context.Context, g *Global, o CheckOptions) error {
	cfg, err := g.LoadConfig()
	if err != nil {
		return exitCode(3, err)
	}
	selected, err := selectChecks(cfg, o.Names)
	if err != nil {
		return exitCode(3, err)
	}
	results, err := agent.Check(ctx, cfg, agent.CheckOptions{Checks: selected, Record: o.Record, Logger: g.Logger()})
	if err != nil {
		return exitCode(3, err)
	}

	worst := checks.OK
	st := ui.NewStyles(g.IO.Color())
	for i, r := range results {
		worst = checks.Worse(worst, r.State)
		fmt.Fprintln(g.IO.Out, formatResult(st, selected[i], r))
	}
	if code := worst.ExitCode(); code != 0 {
		return silentExit(code)
	}
	return nil
}

// selectChecks returns the enabled checks matching names (globs), in the
// order of names (config order within a glob), each once; a name that
// matches nothing is an error.
func selectChecks(cfg *config.Config, names []string) ([]*config.Check, error) {
	var out []*config.Check
	if len(names) == 0 {
		for i := range cfg.Checks {
			if cfg.Checks[i].IsEnabled() {
				out = append(out, &cfg.Checks[i])
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s: no enabled checks", cfg.Path)
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, n := range names {
		matched := false
		for i := range cfg.Checks {
			c := &cfg.Checks[i]
			if ok, _ := path.Match(n, c.Name); ok || n == c.Name {
				matched = true
				if !seen[c.Name] {
					seen[c.Name] = true
					out = append(out, c)
				}
			}
		}
		if !matched {
			return nil, fmt.Errorf("no check named %q in %s%s", n, cfg.Path, suggestCheck(cfg, n))
		}
	}
	return out, nil
}

func suggestCheck(cfg *config.Config, n string) string {
	names := make([]string, len(cfg.Checks))
	for i, c := range cfg.Checks {
		names[i] = c.Name
	}
	return config.Suggest(n, names)
}

// formatResult is one line of `pulse check` output:
// STATE  NAME  TYPE  DURATION  [value]  message. The message comes from the
// monitored service and is made terminal-safe.
func formatResult(st ui.Styles, c *config.Check, r checks.Result) string {
	var b strings.Builder
	b.WriteString(st.State(r.State.String(), fmt.Sprintf("%-7s", strings.ToUpper(r.State.String()))))
	fmt.Fprintf(&b, " %-24s %-9s %8s", ui.Safe(c.Name), c.Type, ui.Duration(r.Duration))
	if r.HasValue {
		fmt.Fprintf(&b, "  value=%s", ui.Number(r.Value))
	}
	b.WriteString("  ")
	b.WriteString(ui.Safe(r.Message))
	return b.String()
}
