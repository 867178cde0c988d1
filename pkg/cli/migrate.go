package cli

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/redact"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// MigrateOptions are `pulse migrate`'s inputs.
type MigrateOptions struct {
	To string // postgres:// URL
}

func newMigrateCmd(g *Global) *cobra.Command {
	o := MigrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate --to postgres://...",
		Short: "Copy the SQLite history into PostgreSQL",
		Long: "migrate copies everything in the SQLite database ([agent].database, or --db) into an\n" +
			"empty PostgreSQL database or schema: results, rollups, incidents, outbox, silences,\n" +
			"check state, ids kept. Stop the agent first (migrate refuses while it runs). The file\n" +
			"must have this pulse's schema (run `pulse run` once with it if not); it is only read.\n" +
			"All rows go in one transaction: on any error the target is left without a row.\n" +
			"Then set [agent].store to the URL and start the agent again.",
		Example: "  systemctl stop pulse\n" +
			"  pulse migrate --to 'postgres://pulse@db.internal:5432/pulse?sslmode=require'\n" +
			"  pulse migrate --db /var/lib/pulse/pulse.db --to 'postgres://pulse@db.internal/pulse?search_path=pulse'",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrate(cmd.Context(), g, o)
		},
	}
	cmd.Flags().StringVar(&o.To, "to", "", "the PostgreSQL database: a postgres:// URL (required)")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

func runMigrate(ctx context.Context, g *Global, o MigrateOptions) error {
	if !store.IsPostgres(o.To) {
		return exitCode(1, fmt.Errorf("--to %s: want a postgres:// URL", redact.Text(o.To)))
	}
	// The source is a SQLite file: --db, else [agent].database (whatever
	// [agent].store says). With --db the config is only read for the hint.
	var source, cfgPath string
	switch {
	case store.IsPostgres(g.DB):
		return exitCode(1, errors.New("--db names the SQLite file to copy from; the target goes in --to"))
	case g.DB != "":
		source = g.DB
		if path, err := g.ConfigPath(); err == nil {
			cfgPath = path
		}
	default:
		cfg, err := g.LoadConfig()
		if err != nil {
			return exitCode(1, err)
		}
		source, cfgPath = cfg.Agent.Database, cfg.Path
	}

	out := g.IO.Out
	started := false
	stats, err := store.CopyToPostgres(ctx, source, o.To, store.CopyOptions{Progress: func(p store.CopyProgress) {
		if !started {
			// Once the checks passed and the rows go.
			fmt.Fprintf(out, "copying %s into %s\n", source, redact.URL(o.To))
			started = true
		}
		if !p.Done {
			// A long table: say it is moving, on stderr.
			fmt.Fprintf(g.IO.Err, "  %s: %d of %d rows...\n", p.Table, p.Rows, p.Total)
			return
		}
		fmt.Fprintf(out, "  %-16s %11d rows\n", p.Table, p.Rows)
	}})
	if err != nil {
		return exitCode(1, err)
	}
	fmt.Fprintf(out, "copied %d rows in %s; every table holds as many rows as in %s, which is left as it was\n",
		stats.Rows, stats.Elapsed.Round(100*time.Millisecond), source)
	where := "the config"
	if cfgPath != "" {
		where = cfgPath
	}
	fmt.Fprintf(out, "next: set store = %q under [agent] in %s, then start the agent again (systemctl restart pulse)\n",
		storeHint(o.To), where)
	fmt.Fprintln(out, "keep the password out of the TOML: put it in ~/.pgpass of the user pulse runs as, or PGPASSWORD in its environment")
	return nil
}

// storeHint is raw without its password and secret query parameters
// (sslpassword...): what to write in the TOML, the password living in
// ~/.pgpass or PGPASSWORD.
func storeHint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redact.URL(raw)
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if u.RawQuery != "" {
		var keep []string
		for _, kv := range strings.Split(u.RawQuery, "&") {
			k, _, _ := strings.Cut(kv, "=")
			if name, err := url.QueryUnescape(k); err == nil && !redact.IsSecretKey(name) {
				keep = append(keep, kv)
			}
		}
		u.RawQuery = strings.Join(keep, "&")
	}
	return u.String()
}
