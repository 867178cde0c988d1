package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// SilenceAddOptions are `pulse silence add`'s inputs.
type SilenceAddOptions struct {
	Pattern string
	For     time.Duration
	Reason  string
	By      string
	Now     func() time.Time
}

func newSilenceCmd(g *Global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "silence",
		Short: "Mute notifications of some checks for a while",
		Long: "silence mutes notifications of the checks a pattern selects (a glob on check names, or\n" +
			"tag:NAME). Checks still run, results are recorded and incidents open; incidents still\n" +
			"open when the silence ends are notified then. The running agent notices within a second.",
		Example: "  pulse silence add --check 'api-*' --for 2h --reason 'deploy'\n  pulse silence list\n  pulse silence remove 3",
		Args:    cobra.NoArgs,
	}
	add := SilenceAddOptions{}
	var dur string
	addCmd := &cobra.Command{
		Use:     "add --check PATTERN --for DURATION --reason TEXT",
		Short:   "Add a silence",
		Example: "  pulse silence add --check 'tag:db' --for 30m --reason 'failover test'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := config.ParseDuration(dur)
			if err != nil || d <= 0 {
				return exitCode(1, fmt.Errorf("--for %q: want a positive duration such as 30m, 2h or 1d", dur))
			}
			add.For = d
			return runSilenceAdd(cmd.Context(), g, add)
		},
	}
	addCmd.Flags().StringVar(&add.Pattern, "check", "", "checks to silence: a glob on names, or tag:NAME (required)")
	addCmd.Flags().StringVar(&dur, "for", "", "how long (required), e.g. 30m, 2h, 1d")
	addCmd.Flags().StringVar(&add.Reason, "reason", "", "why (required)")
	addCmd.Flags().StringVar(&add.By, "by", "", "who (default: $USER)")
	for _, f := range []string{"check", "for", "reason"} {
		_ = addCmd.MarkFlagRequired(f)
	}
	listCmd := &cobra.Command{
		Use:     "list",
		Short:   "List the silences in force",
		Example: "  pulse silence list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSilenceList(cmd.Context(), g, time.Now)
		},
	}
	removeCmd := &cobra.Command{
		Use:     "remove ID",
		Short:   "Remove a silence",
		Example: "  pulse silence remove 3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return exitCode(1, fmt.Errorf("%q is not a silence id", args[0]))
			}
			return runSilenceRemove(cmd.Context(), g, id)
		},
	}
	cmd.AddCommand(addCmd, listCmd, removeCmd)
	return cmd
}

func runSilenceAdd(ctx context.Context, g *Global, o SilenceAddOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := alert.ValidPattern(o.Pattern); err != nil {
		return exitCode(1, fmt.Errorf("--check: %w", err))
	}
	if o.Reason == "" {
		return exitCode(1, errors.New("--reason: say why, for whoever wonders tomorrow"))
	}
	st, cfg, err := openIncidentStore(g, true)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	now := o.Now()
	sl := store.Silence{Pattern: o.Pattern, Until: now.Add(o.For), Reason: o.Reason, CreatedBy: operator(g, o.By), CreatedAt: now}
	id, err := st.AddSilence(ctx, sl)
	if err != nil {
		return exitCode(1, err)
	}
	matched := 0
	for i := range cfg.Checks {
		if alert.MatchCheck(o.Pattern, &cfg.Checks[i]) {
			matched++
		}
	}
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.Local
	}
	fmt.Fprintf(g.IO.Out, "silence %d: %s muted until %s (%d checks match)\n", id, o.Pattern,
		sl.Until.In(loc).Format("2006-01-02 15:04 MST"), matched)
	if matched == 0 {
		fmt.Fprintf(g.IO.Err, "pulse: warning: %q matches no configured check\n", o.Pattern)
	}
	return nil
}

func runSilenceList(ctx context.Context, g *Global, now func() time.Time) error {
	st, cfg, err := openIncidentStore(g, false)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	sls, err := st.Silences(ctx, now())
	if err != nil {
		return exitCode(1, err)
	}
	if len(sls) == 0 {
		fmt.Fprintln(g.IO.Out, "no silences in force")
		return nil
	}
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.Local
	}
	tw := tabwriter.NewWriter(g.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPATTERN\tUNTIL\tBY\tREASON")
	for _, s := range sls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.ID, ui.Safe(s.Pattern), s.Until.In(loc).Format("2006-01-02 15:04 MST"), ui.Safe(s.CreatedBy), ui.Safe(s.Reason))
	}
	return tw.Flush()
}

func runSilenceRemove(ctx context.Context, g *Global, id int64) error {
	st, _, err := openIncidentStore(g, true)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	if err := st.RemoveSilence(ctx, id); errors.Is(err, store.ErrNotFound) {
		return exitCode(1, fmt.Errorf("no silence %d", id))
	} else if err != nil {
		return exitCode(1, err)
	}
	fmt.Fprintf(g.IO.Out, "removed silence %d\n", id)
	return nil
}
