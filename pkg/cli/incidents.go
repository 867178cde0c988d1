package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/report"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// IncidentsOptions are `pulse incidents`' inputs.
type IncidentsOptions struct {
	Open     bool
	Since    time.Duration // 0: all
	Severity string
	JSON     bool
	Limit    int
	Now      func() time.Time // time.Now when nil
}

func newIncidentsCmd(g *Global) *cobra.Command {
	o := IncidentsOptions{}
	var since string
	cmd := &cobra.Command{
		Use:   "incidents",
		Short: "List incidents, newest first",
		Long: "incidents lists incidents from the database, newest first: severity, check, status,\n" +
			"when it opened, who acknowledged it, when it resolved, how long it lasted and how many\n" +
			"notifications were sent and failed. `pulse incidents show ID` prints one incident's timeline.",
		Example: "  pulse incidents --open\n  pulse incidents --since 7d --severity P1\n  pulse incidents --json | jq '.[0]'\n  pulse incidents show 42",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != "" {
				d, err := config.ParseDuration(since)
				if err != nil || d <= 0 {
					return exitCode(1, fmt.Errorf("--since %q: want a positive duration such as 90m, 24h or 7d", since))
				}
				o.Since = d
			}
			return runIncidents(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.Open, "open", false, "only incidents not resolved")
	f.StringVar(&since, "since", "", "only incidents opened within this long (e.g. 24h, 7d)")
	f.StringVar(&o.Severity, "severity", "", "only this severity (P1..P4)")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	f.IntVar(&o.Limit, "limit", 0, "at most this many (0: all)")
	cmd.AddCommand(newIncidentShowCmd(g), newIncidentUpdateCmd(g), newIncidentPostmortemCmd(g))
	return cmd
}

// openIncidentStore opens the database for the incident commands; write
// opens read-write (ack, resolve, silence), which upgrades an old schema.
func openIncidentStore(g *Global, write bool) (*store.Store, *config.Config, error) {
	cfg, err := g.LoadConfig()
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(cfg.Agent.StoreTarget(), store.Options{ReadOnly: !write})
	if err != nil {
		return nil, nil, err
	}
	return st, cfg, nil
}

func runIncidents(ctx context.Context, g *Global, o IncidentsOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Severity != "" && !config.ValidSeverity(strings.ToUpper(o.Severity)) {
		return exitCode(1, fmt.Errorf("--severity %q: want P1, P2, P3 or P4", o.Severity))
	}
	st, cfg, err := openIncidentStore(g, false)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	now := o.Now()
	f := store.IncidentFilter{Open: o.Open, Severity: strings.ToUpper(o.Severity), Limit: o.Limit}
	if o.Since > 0 {
		f.Since = now.Add(-o.Since)
	}
	list, err := st.Incidents(ctx, f)
	if err != nil {
		return exitCode(1, err)
	}
	out := g.IO.Out
	if o.JSON {
		// The shape of /api/v1/incidents, with every update and postmortem
		// (the listener's has the public ones only).
		ids := make([]int64, len(list))
		for i := range list {
			ids[i] = list[i].ID
		}
		ups, err := st.UpdatesOf(ctx, ids, false)
		if err != nil {
			return exitCode(1, err)
		}
		pms, err := st.Postmortems(ctx, ids, false)
		if err != nil {
			return exitCode(1, err)
		}
		return writeJSON(out, report.IncidentRecordsWith(list, ups, pms, now))
	}
	if len(list) == 0 {
		fmt.Fprintln(out, "no incidents")
		return nil
	}
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.Local
	}
	sty := ui.NewStyles(g.IO.Color())
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEV\tCHECK\tSTATUS\tOPENED\tACKED\tRESOLVED\tDURATION\tSENT/FAILED")
	for i := range list {
		inc := &list[i]
		acked := "-"
		if !inc.AckedAt.IsZero() {
			acked = ui.Safe(inc.AckedBy) + " " + stamp(inc.AckedAt, now, loc)
		}
		resolved := "-"
		if !inc.ResolvedAt.IsZero() {
			resolved = stamp(inc.ResolvedAt, now, loc)
			if inc.ResolvedBy != "" {
				resolved += " by " + ui.Safe(inc.ResolvedBy)
			}
		}
		status := inc.Status
		switch inc.Status {
		case store.StatusOpen:
			status = sty.State(inc.State, status)
		case store.StatusResolved:
			status = sty.State("ok", status)
		}
		failed := strconv.Itoa(inc.Failed)
		if inc.Failed > 0 {
			failed = sty.State("crit", failed)
		}
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%s\n", inc.ID, inc.Severity, ui.Safe(inc.Check), status,
			stamp(inc.OpenedAt, now, loc), acked, resolved, ui.Duration(inc.Duration(now).Truncate(time.Second)), inc.Sent, failed)
	}
	return tw.Flush()
}

// stamp prints t as "15:04" today, "Jan 02 15:04" within the year, with the
// year otherwise.
func stamp(t, now time.Time, loc *time.Location) string {
	t, now = t.In(loc), now.In(loc)
	switch {
	case t.Year() == now.Year() && t.YearDay() == now.YearDay():
		return t.Format("15:04:05")
	case t.Year() == now.Year():
		return t.Format("Jan 02 15:04")
	}
	return t.Format("2006-01-02 15:04")
}

// withIncidentID is the RunE of a `CMD ID` command: it parses the argument
// into *id (exit status 1 when it is not an incident id), then calls run.
func withIncidentID(id *int64, run func(ctx context.Context) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		n, err := parseIncidentID(args[0])
		if err != nil {
			return exitCode(1, err)
		}
		*id = n
		return run(cmd.Context())
	}
}

// parseIncidentID accepts "42" and "#42".
func parseIncidentID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not an incident id (a number such as 42)", s)
	}
	return id, nil
}

// IncidentShowOptions are `pulse incidents show`'s inputs.
type IncidentShowOptions struct {
	ID   int64
	JSON bool
	Now  func() time.Time
}

func newIncidentShowCmd(g *Global) *cobra.Command {
	o := IncidentShowOptions{}
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Print one incident and its timeline",
		Example: "  pulse incidents show 42",
		Args:    cobra.ExactArgs(1),
		RunE:    withIncidentID(&o.ID, func(ctx context.Context) error { return runIncidentShow(ctx, g, o) }),
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}

func runIncidentShow(ctx context.Context, g *Global, o IncidentShowOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	st, cfg, err := openIncidentStore(g, false)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	inc, err := st.Incident(ctx, o.ID)
	if errors.Is(err, store.ErrNotFound) {
		return exitCode(1, fmt.Errorf("no incident #%d", o.ID))
	}
	if err != nil {
		return exitCode(1, err)
	}
	tl, err := st.Timeline(ctx, o.ID)
	if err != nil {
		return exitCode(1, err)
	}
	notes, err := st.IncidentNotifications(ctx, o.ID)
	if err != nil {
		return exitCode(1, err)
	}
	ups, err := st.IncidentUpdates(ctx, o.ID)
	if err != nil {
		return exitCode(1, err)
	}
	var pm *store.Postmortem
	if p, err := st.Postmortem(ctx, o.ID); err == nil {
		pm = &p
	} else if !errors.Is(err, store.ErrNotFound) {
		return exitCode(1, err)
	}
	now := o.Now()
	out := g.IO.Out
	if o.JSON {
		d := report.NewIncidentDetail(&inc, tl, notes, now)
		d.Updates, d.Postmortem = report.NewUpdateRecords(ups), report.NewPostmortemRecord(pm)
		return writeJSON(out, d)
	}
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.Local
	}
	sty := ui.NewStyles(g.IO.Color())
	// Messages, notes and receivers' errors come from outside: each is
	// made terminal-safe (the JSON above is escaped by encoding/json).
	fmt.Fprintf(out, "%s %s %s  %s\n", sty.Bold.Render(fmt.Sprintf("#%d", inc.ID)), inc.Severity, ui.Safe(inc.Check), inc.Status)
	fmt.Fprintf(out, "  %s: %s\n", inc.State, ui.Safe(inc.Message))
	fmt.Fprintf(out, "  opened %s, lasted %s, notifications %d sent, %d failed\n",
		inc.OpenedAt.In(loc).Format("2006-01-02 15:04:05 MST"), ui.Duration(inc.Duration(now).Truncate(time.Second)), inc.Sent, inc.Failed)
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, e := range tl {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", e.At.In(loc).Format("2006-01-02 15:04:05"), e.Kind, ui.Safe(e.Detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var pending, failed []store.OutboxRowInfo
	for _, n := range notes {
		switch n.Status {
		case store.OutboxPending:
			pending = append(pending, n)
		case store.OutboxFailed:
			failed = append(failed, n)
		}
	}
	for _, n := range pending {
		line := fmt.Sprintf("  queued: %s → %s, due %s", n.Event, n.Notifier, n.DueAt.In(loc).Format("15:04:05"))
		if n.Attempts > 0 {
			line += fmt.Sprintf(", %d failed attempts, last: %s", n.Attempts, ui.Safe(n.LastError))
		}
		fmt.Fprintln(out, line)
	}
	for _, n := range failed {
		fmt.Fprintf(out, "  %s: %s → %s: %s\n", sty.State("crit", "failed"), n.Event, n.Notifier, ui.Safe(n.LastError))
	}
	printUpdates(out, ups, pm, loc)
	return nil
}

// printUpdates prints what people wrote about an incident, each line of
// each message made terminal-safe.
func printUpdates(out io.Writer, ups []store.Update, pm *store.Postmortem, loc *time.Location) {
	if len(ups) > 0 {
		fmt.Fprintln(out)
		fmt.Fprintln(out, "  updates:")
	}
	for _, u := range ups {
		vis := "private"
		if u.Public {
			vis = "public"
		}
		fmt.Fprintf(out, "  %s  %s  %s  by %s\n", u.At.In(loc).Format("2006-01-02 15:04:05"), u.Status, vis, ui.Safe(u.Author))
		for _, line := range strings.Split(strings.TrimRight(u.Message, "\n"), "\n") {
			fmt.Fprintf(out, "      %s\n", ui.Safe(strings.TrimRight(line, "\r")))
		}
	}
	fmt.Fprintln(out)
	if pm == nil {
		fmt.Fprintln(out, "  postmortem: none (pulse incidents postmortem ID --file F.md)")
		return
	}
	vis := "private"
	if pm.Public {
		vis = "public"
	}
	fmt.Fprintf(out, "  postmortem: %d bytes, %s, written %s by %s\n", len(pm.Body), vis, pm.WrittenAt.In(loc).Format("2006-01-02 15:04:05"), ui.Safe(pm.Author))
}
