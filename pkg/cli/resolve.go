package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/store"
)

// ResolveOptions are `pulse resolve`'s inputs.
type ResolveOptions struct {
	ID  int64
	By  string
	Now func() time.Time
}

func newResolveCmd(g *Global) *cobra.Command {
	o := ResolveOptions{}
	cmd := &cobra.Command{
		Use:   "resolve ID",
		Short: "Resolve an incident by hand",
		Long: "resolve closes the incident now. The running agent notices within two seconds and sends\n" +
			"the resolve to every notifier that was told of it (PagerDuty: resolve). A check that is\n" +
			"still failing opens a new incident with its next failing run.\n\n" +
			"Exit status: 0 resolved (or already resolved), 1 unknown incident.",
		Example: "  pulse resolve 42",
		Args:    cobra.ExactArgs(1),
		RunE:    withIncidentID(&o.ID, func(ctx context.Context) error { return runResolve(ctx, g, o) }),
	}
	cmd.Flags().StringVar(&o.By, "by", "", "who resolves (default: $USER)")
	return cmd
}

func runResolve(ctx context.Context, g *Global, o ResolveOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	st, _, err := openIncidentStore(g, true)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	by := operator(g, o.By)
	inc, err := st.Resolve(ctx, o.ID, by, o.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return exitCode(1, fmt.Errorf("no incident #%d", o.ID))
	case errors.Is(err, store.ErrResolved):
		fmt.Fprintf(g.IO.Out, "incident #%d (%s) was already resolved at %s\n", inc.ID, inc.Check, inc.ResolvedAt.Format(time.RFC3339))
		return nil
	case err != nil:
		return exitCode(1, err)
	}
	fmt.Fprintf(g.IO.Out, "resolved incident #%d (%s %s)\n", inc.ID, inc.Severity, inc.Check)
	return nil
}
