package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// SubscribersAddOptions are `pulse subscribers add`'s inputs: one of
// Webhook and Email.
type SubscribersAddOptions struct {
	Webhook string
	Email   string
}

func newSubscribersCmd(g *Global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subscribers",
		Short: "List, add and remove the status page's subscribers",
		Long: "subscribers manages who is told of the status page's public incident updates\n" +
			"([subscriptions] in the config). People subscribe by email from the status page\n" +
			"(double opt-in); webhooks are added here or with POST /api/v1/subscribers.",
		Example: "  pulse subscribers list\n  pulse subscribers add --webhook https://hooks.example.com/status\n  pulse subscribers remove 3",
		Args:    cobra.NoArgs,
	}
	var asJSON bool
	listCmd := &cobra.Command{
		Use:     "list",
		Short:   "List the subscribers",
		Example: "  pulse subscribers list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSubscribersList(cmd.Context(), g, asJSON)
		},
	}
	listCmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	add := SubscribersAddOptions{}
	addCmd := &cobra.Command{
		Use:   "add --webhook URL | --email ADDRESS",
		Short: "Add a webhook subscriber, or send an email address the opt-in mail",
		Long: "add subscribes a webhook at once (it gets a JSON POST per public update), or queues the\n" +
			"opt-in mail for an email address: it is subscribed when its owner confirms.",
		Example: "  pulse subscribers add --webhook https://hooks.example.com/status\n  pulse subscribers add --email ann@example.com",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSubscribersAdd(cmd.Context(), g, add)
		},
	}
	addCmd.Flags().StringVar(&add.Webhook, "webhook", "", "URL to POST updates to")
	addCmd.Flags().StringVar(&add.Email, "email", "", "address to send the opt-in mail to")
	removeCmd := &cobra.Command{
		Use:     "remove ID",
		Short:   "Remove a subscriber",
		Example: "  pulse subscribers remove 3",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(strings.TrimPrefix(args[0], "#"), 10, 64)
			if err != nil || id <= 0 {
				return exitCode(1, fmt.Errorf("%q is not a subscriber id", ui.Safe(args[0])))
			}
			return runSubscribersRemove(cmd.Context(), g, id)
		},
	}
	cmd.AddCommand(listCmd, addCmd, removeCmd)
	return cmd
}

// subscriberJSON is a subscriber as `list --json` prints it.
type subscriberJSON struct {
	ID          int64      `json:"id"`
	Kind        string     `json:"kind"`
	Address     string     `json:"address"`
	Confirmed   bool       `json:"confirmed"`
	CreatedAt   time.Time  `json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
}

func runSubscribersList(ctx context.Context, g *Global, asJSON bool) error {
	st, cfg, err := openIncidentStore(g, false)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	subs, err := st.Subscribers(ctx)
	if err != nil {
		return exitCode(1, err)
	}
	if asJSON {
		out := make([]subscriberJSON, len(subs))
		for i, s := range subs {
			out[i] = subscriberJSON{ID: s.ID, Kind: s.Kind, Address: s.Address, Confirmed: s.Confirmed(), CreatedAt: s.CreatedAt.UTC()}
			if s.Confirmed() {
				c := s.ConfirmedAt.UTC()
				out[i].ConfirmedAt = &c
			}
		}
		return writeJSON(g.IO.Out, out)
	}
	if len(subs) == 0 {
		fmt.Fprintln(g.IO.Out, "no subscribers")
		return nil
	}
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.Local
	}
	tw := tabwriter.NewWriter(g.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tSINCE\tADDRESS")
	for _, s := range subs {
		status := "pending"
		if s.Confirmed() {
			status = "confirmed"
		}
		// Addresses come from a public form: never let one drive the terminal.
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", s.ID, s.Kind, status, s.CreatedAt.In(loc).Format("2006-01-02 15:04"), ui.Safe(s.Address))
	}
	return tw.Flush()
}

func runSubscribersAdd(ctx context.Context, g *Global, o SubscribersAddOptions) error {
	if (o.Webhook == "") == (o.Email == "") {
		return exitCode(1, errors.New("give one of --webhook URL and --email ADDRESS"))
	}
	if o.Webhook != "" {
		if err := store.CheckSubscriberURL(o.Webhook); err != nil {
			return exitCode(1, fmt.Errorf("--webhook %q: %w", ui.Safe(o.Webhook), err))
		}
	} else if _, err := store.ParseSubscriberEmail(o.Email); err != nil {
		return exitCode(1, fmt.Errorf("--email %q: %w", ui.Safe(o.Email), err))
	}
	st, cfg, err := openIncidentStore(g, true)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	if !cfg.Subscriptions.Enabled {
		fmt.Fprintln(g.IO.Err, "pulse: warning: [subscriptions].enabled is false: nothing is sent to subscribers until it is set")
	}
	if o.Email != "" {
		if cfg.Subscriptions.EmailNotifier == "" {
			fmt.Fprintln(g.IO.Err, "pulse: warning: no [subscriptions].email_notifier: the opt-in mail cannot be sent until one is set")
		}
		if err := st.SubscribeEmail(ctx, o.Email); err != nil {
			return exitCode(1, err)
		}
		fmt.Fprintf(g.IO.Out, "opt-in mail queued for %s (unless one was sent within the hour or it is subscribed already)\n", ui.Safe(o.Email))
		return nil
	}
	sub, created, err := st.AddSubscriber(ctx, store.SubscriberWebhook, o.Webhook, true)
	if err != nil {
		return exitCode(1, err)
	}
	if !created {
		fmt.Fprintf(g.IO.Out, "subscriber %d: %s was subscribed already\n", sub.ID, ui.Safe(sub.Address))
		return nil
	}
	fmt.Fprintf(g.IO.Out, "subscriber %d: webhook %s added\n", sub.ID, ui.Safe(sub.Address))
	return nil
}

func runSubscribersRemove(ctx context.Context, g *Global, id int64) error {
	st, _, err := openIncidentStore(g, true)
	if err != nil {
		return exitCode(1, err)
	}
	defer st.Close()
	sub, err := st.RemoveSubscriber(ctx, id)
	if errors.Is(err, store.ErrNoSubscriber) {
		return exitCode(1, fmt.Errorf("no subscriber %d", id))
	}
	if err != nil {
		return exitCode(1, err)
	}
	fmt.Fprintf(g.IO.Out, "removed subscriber %d (%s %s)\n", sub.ID, sub.Kind, ui.Safe(sub.Address))
	return nil
}
