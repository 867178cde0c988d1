package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// AnnotateOptions are `pulse annotate`'s inputs.
type AnnotateOptions struct {
	Tag     string
	Message string
	By      string
	At      string // RFC 3339; empty: now
	Now     func() time.Time
}

func newAnnotateCmd(g *Global) *cobra.Command {
	o := AnnotateOptions{}
	cmd := &cobra.Command{
		Use:   "annotate --tag TAG --message TEXT",
		Short: "Mark a moment (a deploy, a migration) on the dashboards' time axes",
		Long: "annotate stores a note the dashboards draw on their time axes: /dash/operations marks\n" +
			"the ones tagged deploy. The tag is 1 to 64 of a-z, 0-9, _ and -; the message at most\n" +
			"1000 characters. The same can be sent as POST /api/v1/annotations with the API token.",
		Example: "  pulse annotate --tag deploy --message 'api v2.3.1'\n" +
			"  pulse annotate --tag migration --message 'orders table split' --at 2026-05-01T22:00:00Z\n" +
			"  pulse annotate list --since 7d",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAnnotate(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Tag, "tag", "", "kind of event, e.g. deploy (required)")
	f.StringVar(&o.Message, "message", "", "what happened")
	f.StringVar(&o.By, "by", "", "who (default: $USER)")
	f.StringVar(&o.At, "at", "", "when, RFC 3339 (default: now)")
	_ = cmd.MarkFlagRequired("tag")

	var since string
	listCmd := &cobra.Command{
		Use:     "list [--since DURATION]",
		Short:   "List recent annotations",
		Example: "  pulse annotate list --since 30d",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := config.ParseDuration(since)
			if err != nil || d <= 0 {
				return exitCode(1, fmt.Errorf("--since %q: want a positive duration such as 24h or 7d", since))
			}
			return runAnnotateList(cmd.Context(), g, d, time.Now)
		},
	}
	listCmd.Flags().StringVar(&since, "since", "7d", "how far back")
	cmd.AddCommand(listCmd)
	return cmd
}

func runAnnotate(ctx context.Context, g *Global, o AnnotateOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	at := o.Now()
	if o.At != "" {
		t, err := time.Parse(time.RFC3339, o.At)
		if err != nil {
			return exitCode(1, fmt.Errorf("--at %q: want RFC 3339, e.g. 2026-05-01T22:00:00Z", o.At))
		}
		at = t
	}
	a := store.Annotation{At: at, Tag: o.Tag, Message: o.Message, Author: operator(g, o.By)}
	if err := store.ValidateAnnotation(a); err != nil {
		return exitCode(1, flagError(err))
	}
	st, _, err := openIncidentStore(g, true)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	id, err := st.AddAnnotation(ctx, a)
	if err != nil {
		return exitCode(1, err)
	}
	fmt.Fprintf(g.IO.Out, "annotation %d: %s at %s\n", id, a.Tag, at.UTC().Format(time.RFC3339))
	return nil
}

// flagError names the flag an invalid annotation's field came from:
// "--tag: must not be empty"; the author is given with --by.
func flagError(err error) error {
	rest, ok := strings.CutPrefix(err.Error(), store.ErrInvalidAnnotation.Error()+": ")
	if !ok || rest == "" {
		return err
	}
	if r, ok := strings.CutPrefix(rest, "author: "); ok {
		rest = "by: " + r
	}
	return errors.New("--" + rest)
}

func runAnnotateList(ctx context.Context, g *Global, since time.Duration, now func() time.Time) error {
	st, cfg, err := openIncidentStore(g, false)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	t := now()
	as, err := st.Annotations(ctx, t.Add(-since), t.Add(time.Minute))
	if err != nil {
		return exitCode(1, err)
	}
	if len(as) == 0 {
		fmt.Fprintln(g.IO.Out, "no annotations")
		return nil
	}
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.Local
	}
	tw := tabwriter.NewWriter(g.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAT\tTAG\tBY\tMESSAGE")
	for _, a := range as {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", a.ID, a.At.In(loc).Format("2006-01-02 15:04 MST"), ui.Safe(a.Tag), ui.Safe(a.Author), ui.Safe(a.Message))
	}
	return tw.Flush()
}
