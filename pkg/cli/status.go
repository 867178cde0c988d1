package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// StatusOptions are `pulse status`'s inputs.
type StatusOptions struct {
	JSON  bool
	Watch bool
	ByTag bool
	Check string // one check's detail
	// Width of the table; 0 detects it: $COLUMNS, else the terminal's width
	// on a TTY, else no limit (piped output is for files and grep, which
	// do not wrap).
	Width    int
	Interval time.Duration    // --watch refresh; 2s when 0
	Now      func() time.Time // the clock; time.Now when nil
}

func newStatusCmd(g *Global) *cobra.Command {
	o := StatusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every check's state, uptime and latency against the KPI targets",
		Long: "status reads the database (never runs a check) and prints a header with the checks\n" +
			"by state, the open incidents by severity, the KPIs against [targets] over 24 hours and\n" +
			"30 days and the 30-day error budget, then one row per check, worst first.\n\n" +
			"Columns are dropped, least useful first, to fit the terminal ($COLUMNS, else its width;\n" +
			"piped output is not limited). Exit status 1 when the database cannot be read.",
		Example: "  pulse status\n  pulse status --watch\n  pulse status --by-tag\n  pulse status --check api-health\n  pulse status --json | jq '.check_status[] | select(.state != \"ok\")'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStatus(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.JSON, "json", false, "print the status as JSON (fields: README, \"pulse status --json fields\")")
	f.BoolVar(&o.Watch, "watch", false, "refresh in place every 2 seconds until interrupted")
	f.BoolVar(&o.ByTag, "by-tag", false, "group the checks by tag")
	f.StringVar(&o.Check, "check", "", "show one check's recent results and incidents")
	return cmd
}

func runStatus(ctx context.Context, g *Global, o StatusOptions) error {
	cfg, err := g.LoadConfig()
	if err != nil {
		return exitCode(1, err)
	}
	st, err := store.Open(cfg.Agent.StoreTarget(), store.Options{ReadOnly: true})
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Width == 0 && !o.JSON {
		o.Width = terminalWidth(g.IO)
	}
	if !o.Watch {
		return printStatus(ctx, g, cfg, st, o)
	}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for {
		if g.IO.TTY {
			// Home and clear: the frame replaces the last one in place.
			if _, err := io.WriteString(g.IO.Out, "\x1b[H\x1b[2J"); err != nil {
				return exitCode(1, err)
			}
		}
		if err := printStatus(ctx, g, cfg, st, o); err != nil {
			if ctx.Err() != nil {
				return nil // interrupted mid-frame: a clean stop, not a failure
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if !g.IO.TTY {
			fmt.Fprintln(g.IO.Out)
		}
	}
}

func printStatus(ctx context.Context, g *Global, cfg *config.Config, st *store.Store, o StatusOptions) error {
	now := o.Now()
	s, err := report.BuildStatus(ctx, st, cfg, now)
	if err != nil {
		return exitCode(1, err)
	}
	styles := ui.NewStyles(g.IO.Color())
	if o.Check != "" {
		d, err := report.BuildCheckDetail(ctx, st, s, o.Check, 20, now)
		if err != nil {
			return exitCode(1, err)
		}
		if o.JSON {
			return writeJSON(g.IO.Out, d)
		}
		_, err = io.WriteString(g.IO.Out, d.Text(styles, cfg.Agent.Location))
		return err
	}
	if o.JSON {
		return writeJSON(g.IO.Out, s)
	}
	_, err = io.WriteString(g.IO.Out, s.Text(styles, report.StatusTextOptions{Width: o.Width, ByTag: o.ByTag}))
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitCode(1, fmt.Errorf("write json: %w", err))
	}
	return nil
}

// terminalWidth is $COLUMNS, else the width of the terminal on a TTY
// (80 when it cannot be read), else 0: no limit.
func terminalWidth(s *IO) int {
	if s.Getenv != nil {
		if v, ok := s.Getenv("COLUMNS"); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	if !s.TTY {
		return 0
	}
	if f, ok := s.Out.(*os.File); ok {
		if w, _, err := term.GetSize(f.Fd()); err == nil && w > 0 {
			return w
		}
	}
	return 80
}
