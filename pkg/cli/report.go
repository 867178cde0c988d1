package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/registry"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// ReportOptions are `pulse report`'s inputs.
type ReportOptions struct {
	Weekly bool
	Date   string // the day (daily) or the last day (weekly); default yesterday
	Format string // text | markdown | html | json
	Send   bool
	Now    func() time.Time // the clock; time.Now when nil
	// NewNotifier builds a notifier of [report].notify; registry.New when nil.
	NewNotifier func(c *config.Notifier, o registry.Options) (notify.Notifier, error)
}

func newReportCmd(g *Global) *cobra.Command {
	o := ReportOptions{}
	var daily bool
	cmd := &cobra.Command{
		Use:   "report --daily|--weekly",
		Short: "Print or send the daily (or weekly) digest",
		Long: "report builds the digest of one day (midnight to midnight in [agent].timezone; default\n" +
			"yesterday) or, with --weekly, of the seven days ending on --date: executive summary\n" +
			"(availability, error budget, incidents, MTTA, MTTR), operations (slowest checks, error\n" +
			"rates, latency and SQL query times against [targets], failed notifications), business\n" +
			"metrics, the P4 incidents and what changed since the period before.\n\n" +
			"--send delivers it to the notifiers of [report].notify instead of printing it.",
		Example: "  pulse report --daily\n  pulse report --daily --date 2026-11-25 --format html > digest.html\n" +
			"  pulse report --weekly --format markdown\n  pulse report --daily --send",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if daily && o.Weekly {
				return exitCode(1, errors.New("--daily and --weekly exclude each other"))
			}
			return runReport(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&daily, "daily", false, "the digest of one day (the default)")
	f.BoolVar(&o.Weekly, "weekly", false, "the digest of the seven days ending on --date")
	f.StringVar(&o.Date, "date", "", "the day, YYYY-MM-DD in [agent].timezone (default: yesterday)")
	f.StringVar(&o.Format, "format", "text", "output format: "+strings.Join(report.Formats, ", "))
	f.BoolVar(&o.Send, "send", false, "deliver the digest to [report].notify instead of printing it")
	return cmd
}

func runReport(ctx context.Context, g *Global, o ReportOptions) error {
	if !slices.Contains(report.Formats, o.Format) {
		return exitCode(1, fmt.Errorf("--format must be one of %s, not %q", strings.Join(report.Formats, ", "), o.Format))
	}
	if o.Date != "" {
		if _, err := time.Parse(report.DateLayout, o.Date); err != nil {
			return exitCode(1, fmt.Errorf("--date must be YYYY-MM-DD, not %q", o.Date))
		}
	}
	cfg, err := g.LoadConfig()
	if err != nil {
		return exitCode(1, err)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	st, err := store.Open(cfg.Agent.StoreTarget(), store.Options{ReadOnly: true})
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	kind := report.Daily
	if o.Weekly {
		kind = report.Weekly
	}
	now := o.Now()
	d, err := report.BuildDigest(ctx, st, cfg, report.DigestOptions{Kind: kind, Date: o.Date, Now: now})
	if err != nil {
		return exitCode(1, fmt.Errorf("build digest: %w", err))
	}
	if !o.Send {
		if err := report.RenderDigest(g.IO.Out, d, o.Format, ui.NewStyles(g.IO.Color())); err != nil {
			return exitCode(1, err)
		}
		return nil
	}
	return sendDigest(ctx, g, cfg, o, d, now)
}

func sendDigest(ctx context.Context, g *Global, cfg *config.Config, o ReportOptions, d *report.Digest, now time.Time) error {
	if len(cfg.Report.Notify) == 0 {
		return exitCode(1, fmt.Errorf("%s: [report] notify is empty: nowhere to send the digest", cfg.Path))
	}
	newNotifier := o.NewNotifier
	if newNotifier == nil {
		newNotifier = registry.New
	}
	host, _ := os.Hostname()
	from := report.DigestSender{Agent: cfg.Agent.Name, Host: host, Now: now}
	var errs []error
	for _, name := range cfg.Report.Notify {
		i := slices.IndexFunc(cfg.Notifiers, func(n config.Notifier) bool { return n.Name == name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("[report] notify: no notifier named %q", name))
			continue
		}
		n, err := newNotifier(&cfg.Notifiers[i], registry.Options{Logger: g.Logger(), Now: o.Now, Agent: cfg.Agent.Name, Host: host})
		if err != nil {
			errs = append(errs, fmt.Errorf("notifier %q: %w", name, err))
			continue
		}
		if err := report.SendDigest(ctx, d, from, report.DigestTarget{Name: name, Notifier: n}); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(g.IO.Out, "sent %s to %s\n", strings.TrimPrefix(d.Title, "pulse "), name)
	}
	if len(errs) > 0 {
		return exitCode(1, errors.Join(errs...))
	}
	return nil
}
