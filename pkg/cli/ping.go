package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// PingOptions are `pulse ping`'s inputs.
type PingOptions struct {
	Name  string
	Start bool
	Fail  bool
	// URL is the agent listener's base URL; empty: http://[agent].listen.
	URL     string
	Timeout time.Duration
	Client  *http.Client // nil: a client with Timeout
}

func newPingCmd(g *Global) *cobra.Command {
	o := PingOptions{}
	cmd := &cobra.Command{
		Use:   "ping NAME",
		Short: "Send a heartbeat ping to the local agent (for cron jobs)",
		Long: "ping tells the running agent that the heartbeat check NAME's job ran: it POSTs to\n" +
			"/ping/NAME on the agent's listener ([agent].listen, or --url). --start marks the start\n" +
			"of a run (the run time is measured to the next ping), --fail reports a failed run\n" +
			"(crit at once). Exit status 0 when the agent recorded the ping, 1 when it did not.",
		Example: "  pulse ping nightly-backup\n" +
			"  pulse ping nightly-backup --start && backup.sh && pulse ping nightly-backup || pulse ping nightly-backup --fail\n" +
			"  pulse ping --url http://10.0.0.5:9108 nightly-backup",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return runPing(cmd.Context(), g, o)
		},
	}
	cmd.Flags().BoolVar(&o.Start, "start", false, "the job is starting")
	cmd.Flags().BoolVar(&o.Fail, "fail", false, "the job failed")
	cmd.Flags().StringVar(&o.URL, "url", "", "the agent's listener (default: http:// + [agent].listen of the config)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Second, "give up after this long")
	cmd.MarkFlagsMutuallyExclusive("start", "fail")
	return cmd
}

func runPing(ctx context.Context, g *Global, o PingOptions) error {
	base := o.URL
	if base == "" {
		cfg, err := g.LoadConfig()
		if err != nil {
			return exitCode(1, err)
		}
		if cfg.Agent.Listen == "" {
			return exitCode(1, fmt.Errorf("%s: [agent].listen is not set, so the agent has no listener to ping (or pass --url)", cfg.Path))
		}
		base = "http://" + dialable(cfg.Agent.Listen)
	}
	target := strings.TrimRight(base, "/") + "/ping/" + url.PathEscape(o.Name)
	switch {
	case o.Start:
		target += "/start"
	case o.Fail:
		target += "/fail"
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: o.Timeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, nil)
	if err != nil {
		return exitCode(1, fmt.Errorf("ping %s: %w", o.Name, err))
	}
	req.Header.Set("User-Agent", "pulse/"+version)
	resp, err := client.Do(req)
	if err != nil {
		return exitCode(1, fmt.Errorf("ping %s: is the agent running? %w", o.Name, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		msg := strings.TrimSpace(string(body))
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return exitCode(1, fmt.Errorf("ping %s: agent answered %d: %s", o.Name, resp.StatusCode, msg))
	}
	return nil
}

// dialable turns a listen address into one to connect to: a wildcard host
// (":9108", "0.0.0.0:9108", "[::]:9108") means this machine.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port)
}
