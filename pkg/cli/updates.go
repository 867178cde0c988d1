package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// IncidentUpdateOptions are `pulse incidents update`'s inputs.
type IncidentUpdateOptions struct {
	ID      int64
	Status  string
	Message string
	Public  bool
	By      string
	Now     func() time.Time
}

func newIncidentUpdateCmd(g *Global) *cobra.Command {
	o := IncidentUpdateOptions{}
	cmd := &cobra.Command{
		Use:   "update ID --status STATUS --message TEXT [--public]",
		Short: "Add an update to an incident's timeline",
		Long: "update adds what people should know to the incident's timeline: its status (" +
			strings.Join(alert.UpdateStatuses, ", ") + ")\n" +
			"and a message (markdown). --public shows it on the status page, in /api/v1/incidents\n" +
			"and /feed.xml. --status resolved on an incident still open resolves it, as `pulse resolve`.\n\n" +
			"Exit status: 0 added, 1 unknown incident or bad input.",
		Example: "  pulse incidents update 42 --status identified --message 'The database is full; adding space.' --public",
		Args:    cobra.ExactArgs(1),
		RunE:    withIncidentID(&o.ID, func(ctx context.Context) error { return runIncidentUpdate(ctx, g, o) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.Status, "status", "", "investigating, identified, monitoring or resolved (required)")
	f.StringVar(&o.Message, "message", "", "what happened, markdown; - reads standard input (required)")
	f.BoolVar(&o.Public, "public", false, "show it on the status page, the API and the feed")
	f.StringVar(&o.By, "by", "", "who writes (default: $USER)")
	return cmd
}

func runIncidentUpdate(ctx context.Context, g *Global, o IncidentUpdateOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Status == "" {
		return exitCode(1, fmt.Errorf("--status is required: %s", strings.Join(alert.UpdateStatuses, ", ")))
	}
	if err := alert.CheckUpdateStatus(o.Status, false); err != nil {
		return exitCode(1, fmt.Errorf("--%w", err))
	}
	msg := o.Message
	if msg == "-" {
		b, err := io.ReadAll(io.LimitReader(g.IO.In, store.MaxUpdateMessage+1))
		if err != nil {
			return exitCode(1, fmt.Errorf("read the message from standard input: %w", err))
		}
		msg = string(b)
	}
	if strings.TrimSpace(msg) == "" {
		return exitCode(1, errors.New("--message is required: what people should know"))
	}
	st, cfg, err := openIncidentStore(g, true)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	before, err := st.Incident(ctx, o.ID)
	if errors.Is(err, store.ErrNotFound) {
		return exitCode(1, fmt.Errorf("no incident #%d", o.ID))
	}
	if err != nil {
		return exitCode(1, err)
	}
	by := operator(g, o.By)
	id, err := st.AddUpdate(ctx, store.Update{IncidentID: o.ID, At: o.Now(), Status: o.Status, Message: msg, Public: o.Public, Author: by})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return exitCode(1, fmt.Errorf("no incident #%d", o.ID))
	case err != nil:
		return exitCode(1, err)
	}
	vis := "private"
	if o.Public {
		vis = "public"
	}
	fmt.Fprintf(g.IO.Out, "update %d on incident #%d (%s %s): %s, %s\n", id, before.ID, before.Severity, before.Check, o.Status, vis)
	if alert.UpdateResolves(o.Status, before.Status == store.StatusResolved) {
		fmt.Fprintf(g.IO.Out, "resolved incident #%d (%s %s)\n", before.ID, before.Severity, before.Check)
	}
	if o.Public && !shownOnPage(cfg, before.Check) {
		fmt.Fprintf(g.IO.Err, "note: the status page and /feed.xml do not show check %q (public = false, disabled or no longer configured); the update is in /api/v1/incidents only\n", ui.Safe(before.Check))
	}
	return nil
}

// shownOnPage reports whether the status page shows check name's incidents.
func shownOnPage(cfg *config.Config, name string) bool {
	for i := range cfg.Checks {
		if c := &cfg.Checks[i]; c.Name == name {
			return c.OnStatusPage()
		}
	}
	return false
}

// IncidentPostmortemOptions are `pulse incidents postmortem`'s inputs.
type IncidentPostmortemOptions struct {
	ID     int64
	File   string
	Public bool
	By     string
}

func newIncidentPostmortemCmd(g *Global) *cobra.Command {
	o := IncidentPostmortemOptions{}
	cmd := &cobra.Command{
		Use:   "postmortem ID --file F.md [--public]",
		Short: "Attach the review written after an incident",
		Long: "postmortem stores the markdown file as the incident's postmortem, replacing an earlier one.\n" +
			"--public shows it on the status page and in /api/v1/incidents. The daily and weekly\n" +
			"digests list the postmortems written in their period.\n\n" +
			"Exit status: 0 stored, 1 unknown incident or bad input.",
		Example: "  pulse incidents postmortem 42 --file 2026-03-01-db-full.md --public",
		Args:    cobra.ExactArgs(1),
		RunE:    withIncidentID(&o.ID, func(ctx context.Context) error { return runIncidentPostmortem(ctx, g, o) }),
	}
	f := cmd.Flags()
	f.StringVar(&o.File, "file", "", "the postmortem, markdown; - reads standard input (required)")
	f.BoolVar(&o.Public, "public", false, "show it on the status page and the API")
	f.StringVar(&o.By, "by", "", "who wrote it (default: $USER)")
	return cmd
}

func runIncidentPostmortem(ctx context.Context, g *Global, o IncidentPostmortemOptions) error {
	if o.File == "" {
		return exitCode(1, errors.New("--file is required: the postmortem, a markdown file"))
	}
	var r io.Reader = g.IO.In
	if o.File != "-" {
		f, err := os.Open(o.File)
		if err != nil {
			return exitCode(1, fmt.Errorf("--file: %w", err))
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, store.MaxPostmortem+1))
	if err != nil {
		return exitCode(1, fmt.Errorf("--file %s: %w", o.File, err))
	}
	if len(b) > store.MaxPostmortem {
		return exitCode(1, fmt.Errorf("--file %s: more than %d bytes", o.File, store.MaxPostmortem))
	}
	st, _, err := openIncidentStore(g, true)
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
	pm, err := st.SetPostmortem(ctx, o.ID, string(b), operator(g, o.By), o.Public)
	if err != nil {
		return exitCode(1, err)
	}
	vis := "private"
	if pm.Public {
		vis = "public"
	}
	fmt.Fprintf(g.IO.Out, "postmortem of incident #%d (%s %s) stored: %d bytes, %s\n", inc.ID, inc.Severity, inc.Check, len(b), vis)
	return nil
}
