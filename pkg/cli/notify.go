package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/registry"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// NotifyTestOptions are `pulse notify test`'s inputs.
type NotifyTestOptions struct {
	Name string
	Now  func() time.Time
}

func newNotifyCmd(g *Global) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "notify",
		Short:   "Work with notifiers",
		Example: "  pulse notify test oncall",
		Args:    cobra.NoArgs,
	}
	o := NotifyTestOptions{}
	test := &cobra.Command{
		Use:   "test NOTIFIER",
		Short: "Send a test message through one notifier, now",
		Long: "test builds the notifier from the config and sends it a test message at once (PagerDuty:\n" +
			"a trigger and its resolve). It prints what the receiver answered.\n\n" +
			"Exit status: 0 delivered, 1 not.",
		Example: "  pulse notify test ops",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return runNotifyTest(cmd.Context(), g, o)
		},
	}
	cmd.AddCommand(test)
	return cmd
}

func runNotifyTest(ctx context.Context, g *Global, o NotifyTestOptions) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg, err := g.LoadConfig()
	if err != nil {
		return exitCode(1, err)
	}
	var names []string
	for i := range cfg.Notifiers {
		c := &cfg.Notifiers[i]
		names = append(names, c.Name)
		if c.Name != o.Name {
			continue
		}
		host, _ := os.Hostname()
		agent := cfg.Agent.Name
		if agent == "" {
			agent = host
		}
		n, err := registry.New(c, registry.Options{Logger: g.Logger(), Now: o.Now, Agent: agent, Host: host})
		if err != nil {
			return exitCode(1, err)
		}
		now := o.Now()
		m := &notify.Message{Agent: agent, Source: host, SentAt: now, Items: []notify.Item{{
			Event: notify.EventTest, At: now,
			Incident: notify.Incident{Key: agent + "-test", Severity: "P4", Status: "resolved", Message: "pulse test notification", OpenedAt: now},
			Check:    notify.Check{Name: "pulse-test", Type: "test"},
			Note:     "sent by `pulse notify test " + c.Name + "`",
		}}}
		start := time.Now()
		if err := n.Send(ctx, m); err != nil {
			var se *notify.SendError
			if errors.As(err, &se) && se.Answer != "" {
				fmt.Fprintf(g.IO.Out, "receiver answered: %s\n", ui.Safe(se.Answer))
			}
			return exitCode(1, fmt.Errorf("notifier %q (%s): not delivered: %w", c.Name, c.Type, err))
		}
		fmt.Fprintf(g.IO.Out, "delivered a test message through %q (%s) in %s: the receiver accepted it\n",
			c.Name, c.Type, time.Since(start).Round(time.Millisecond))
		return nil
	}
	if len(names) == 0 {
		return exitCode(1, fmt.Errorf("no notifier named %q: the config has no [[notifier]]", o.Name))
	}
	return exitCode(1, fmt.Errorf("no notifier named %q (configured: %v)", o.Name, names))
}
