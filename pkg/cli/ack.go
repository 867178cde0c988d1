package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// AckOptions are `pulse ack`'s inputs.
type AckOptions struct {
	ID   int64
	By   string
	Note string
	Now  func() time.Time
}

func newAckCmd(g *Global) *cobra.Command {
	o := AckOptions{}
	cmd := &cobra.Command{
		Use:   "ack ID",
		Short: "Acknowledge an incident: stop repeats and escalation, tell PagerDuty",
		Long: "ack records who acknowledged the incident. The running agent notices within two\n" +
			"seconds: it stops reminders and escalation steps and sends PagerDuty an acknowledge\n" +
			"(and the other notifiers that were told of the incident a note).\n\n" +
			"Exit status: 0 acknowledged (or already acknowledged), 1 unknown or resolved incident.",
		Example: "  pulse ack 42\n  pulse ack 42 --by alice --note 'restarting the API'",
		Args:    cobra.ExactArgs(1),
		RunE:    withIncidentID(&o.ID, func(ctx context.Context) error { return runAck(ctx, g, o) }),
	}
	cmd.Flags().StringVar(&o.By, "by", "", "who acknowledges (default: $USER)")
	cmd.Flags().StringVar(&o.Note, "note", "", "a note for the timeline and the notifications")
	return cmd
}

// operator is --by, else $USER, else "unknown".
func operator(g *Global, by string) string {
	if by != "" {
		return by
	}
	for _, k := range []string{"USER", "LOGNAME"} {
		if v, ok := g.IO.Getenv(k); ok && v != "" {
			return v
		}
	}
	return "unknown"
}

func runAck(ctx context.Context, g *Global, o AckOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	st, _, err := openIncidentStore(g, true)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	by := operator(g, o.By)
	inc, err := st.Ack(ctx, o.ID, by, o.Note, o.Now())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return exitCode(1, fmt.Errorf("no incident #%d", o.ID))
	case errors.Is(err, store.ErrResolved):
		return exitCode(1, fmt.Errorf("incident #%d (%s) is already resolved", o.ID, inc.Check))
	case errors.Is(err, store.ErrAcknowledged):
		fmt.Fprintf(g.IO.Out, "incident #%d (%s) was already acknowledged by %s at %s\n",
			inc.ID, ui.Safe(inc.Check), ui.Safe(inc.AckedBy), inc.AckedAt.Format(time.RFC3339))
		return nil
	case err != nil:
		return exitCode(1, err)
	}
	fmt.Fprintf(g.IO.Out, "acknowledged incident #%d (%s %s) as %s\n", inc.ID, inc.Severity, inc.Check, by)
	return nil
}
