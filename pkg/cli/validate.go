package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/schedule"
)

func newValidateCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the config and print its checks, notifiers and next run times",
		Long: "validate parses and checks the config file and prints every problem, one line each\n" +
			"as FILE:LINE: context: problem. A valid config is summarised: each check with its next\n" +
			"three run times, and each notifier. Run it before `systemctl reload pulse`.",
		Example: "  pulse validate\n  pulse --config /etc/pulse/pulse.toml validate",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.LoadConfig()
			if err != nil {
				return exitCode(1, err)
			}
			return printSummary(g.IO, cfg, time.Now())
		},
	}
}

// printSummary writes validate's summary of a valid config. Secrets are
// never printed: notifiers show only their type and non-secret endpoints.
func printSummary(s *IO, cfg *config.Config, now time.Time) error {
	w := s.Out
	enabled := 0
	for i := range cfg.Checks {
		if cfg.Checks[i].IsEnabled() {
			enabled++
		}
	}
	fmt.Fprintf(w, "%s: valid — %d checks (%d enabled), %d notifiers\n\n", cfg.Path, len(cfg.Checks), enabled, len(cfg.Notifiers))
	fmt.Fprintln(w, "checks:")
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		every := "every " + c.Interval.String()
		if c.Schedule != "" {
			every = "schedule " + c.Schedule
		}
		sev := c.Severity
		if !c.IsEnabled() {
			fmt.Fprintf(w, "  %-24s %-9s %-3s %s (disabled)\n", c.Name, c.Type, sev, every)
			continue
		}
		j, err := schedule.JobFor(c)
		if err != nil {
			return exitCode(1, fmt.Errorf("%s:%d: check %q: %w", cfg.Path, c.Line, c.Name, err))
		}
		runs := schedule.NextRuns(&j, now, 3)
		ts := make([]string, len(runs))
		for k, t := range runs {
			ts[k] = t.In(c.Location).Format("2006-01-02 15:04:05 MST")
		}
		fmt.Fprintf(w, "  %-24s %-9s %-3s %s; next: %s\n", c.Name, c.Type, sev, every, strings.Join(ts, ", "))
	}
	if len(cfg.Notifiers) > 0 {
		fmt.Fprintln(w, "\nnotifiers:")
		for _, n := range cfg.Notifiers {
			fmt.Fprintf(w, "  %-24s %s%s\n", n.Name, n.Type, notifierDetail(n))
		}
	}
	fmt.Fprintln(w, "\nescalation:")
	for _, p := range config.Severities {
		e := cfg.Escalation[p]
		if e.Digest {
			fmt.Fprintf(w, "  %s  daily digest only\n", p)
			continue
		}
		to := strings.Join(e.Notify, ", ")
		if to == "" {
			to = "(no notifiers configured)"
		}
		line := fmt.Sprintf("  %s  within %s to %s", p, e.Within, to)
		if e.Repeat > 0 {
			line += fmt.Sprintf("; repeat every %s", e.Repeat)
		}
		for _, st := range e.Escalate {
			line += fmt.Sprintf("; after %s also %s", st.After, strings.Join(st.Notify, ", "))
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// notifierDetail names where a notifier delivers, without any secret.
func notifierDetail(n config.Notifier) string {
	switch n.Type {
	case "email":
		return fmt.Sprintf(" via %s:%d (%s) to %s", n.Host, n.Port, n.TLS, strings.Join(n.To, ", "))
	}
	return ""
}
