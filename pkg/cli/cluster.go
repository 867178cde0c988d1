package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/agent"
	"github.com/pulse-monitor/pulse/pkg/cluster"
	"github.com/pulse-monitor/pulse/pkg/redact"
	"github.com/pulse-monitor/pulse/pkg/store"
	"github.com/pulse-monitor/pulse/pkg/ui"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

func newClusterCmd(g *Global) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "List the agents sharing the PostgreSQL database and what each holds",
		Long: "cluster lists the agents that share [agent].store: where each runs, its config hash\n" +
			"(agents whose config differs from the majority's take no work), when it was last seen\n" +
			"and the check shards, notifier channels and maintainer lease it holds.",
		Example: "  pulse cluster\n  pulse cluster --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCluster(cmd.Context(), g, asJSON, time.Now)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// clusterAgent is one agent as `pulse cluster --json` prints it.
type clusterAgent struct {
	ID         string    `json:"id"`
	Location   string    `json:"location"`
	Host       string    `json:"host"`
	PID        int       `json:"pid"`
	ConfigHash string    `json:"config_hash"`
	SameConfig bool      `json:"same_config"` // as this command's config
	State      string    `json:"state"`       // live | drift | left | lost
	StartedAt  time.Time `json:"started_at"`
	LastSeen   time.Time `json:"last_seen"`
	Shards     []int     `json:"shards"`
	SiteShards []int     `json:"site_shards"` // of its location: the copies of checks with locations
	Channels   []string  `json:"channels"`
	Maintainer bool      `json:"maintainer"`
}

func runCluster(ctx context.Context, g *Global, asJSON bool, now func() time.Time) error {
	cfg, err := g.LoadConfig()
	if err != nil {
		return exitCode(1, err)
	}
	target := cfg.Agent.StoreTarget()
	if !store.IsPostgres(target) {
		return exitCode(1, errors.New("one agent on SQLite: set [agent].store to a postgres:// URL to run several (README: Running several agents)"))
	}
	// Opening the store checks the schema as the other read commands do.
	st, err := store.Open(target, store.Options{ReadOnly: true})
	if err != nil {
		return exitCode(1, err)
	}
	st.Close()
	db, err := sql.Open("pgx", target)
	if err != nil {
		return exitCode(1, fmt.Errorf("open database %s: %s", redact.URL(target), redact.Text(err.Error())))
	}
	defer db.Close()
	infos, err := cluster.Agents(ctx, db)
	if err != nil {
		return exitCode(1, err)
	}
	mine := agent.ConfigHash(cfg)
	out := make([]clusterAgent, 0, len(infos))
	for _, a := range infos {
		c := clusterAgent{ID: a.ID, Location: a.Location, Host: a.Host, PID: a.PID, ConfigHash: a.ConfigHash,
			SameConfig: a.ConfigHash == mine, StartedAt: a.StartedAt, LastSeen: a.LastSeen,
			Shards: a.Shards, SiteShards: a.SiteShards, Channels: a.Channels, Maintainer: a.Maintainer}
		switch {
		case a.Drift:
			c.State = "drift"
		case a.Live:
			c.State = "live"
		case a.Left:
			c.State = "left"
		default:
			c.State = "lost"
		}
		if c.Shards == nil {
			c.Shards = []int{}
		}
		if c.Channels == nil {
			c.Channels = []string{}
		}
		if c.SiteShards == nil {
			c.SiteShards = []int{}
		}
		out = append(out, c)
	}
	if asJSON {
		enc := json.NewEncoder(g.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(g.IO.Out, "no agent has joined this database yet")
		return nil
	}
	tw := tabwriter.NewWriter(g.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AGENT\tLOCATION\tSTATE\tLAST SEEN\tCONFIG\tSHARDS\tCHANNELS\tMAINTAINER")
	for _, a := range out {
		conf := a.ConfigHash
		if !a.SameConfig {
			conf += " (differs from this config)"
		}
		shards := shardRanges(a.Shards)
		if len(a.SiteShards) > 0 {
			shards += " site " + shardRanges(a.SiteShards)
		}
		maint := ""
		if a.Maintainer {
			maint = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%s\t%s\t%s\t%s\n", ui.Safe(a.ID), ui.Safe(orDash(a.Location)), a.State,
			ui.Approx(now().Sub(a.LastSeen)), conf, shards, ui.Safe(orDash(strings.Join(a.Channels, ","))), maint)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shardRanges writes shard numbers compactly: "0-21 (22)".
func shardRanges(s []int) string {
	if len(s) == 0 {
		return "-"
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s[i]))
		if j > i {
			b.WriteString("-" + strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	return fmt.Sprintf("%s (%d)", b.String(), len(s))
}
