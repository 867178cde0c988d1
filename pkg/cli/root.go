// Package cli is pulse's command line: one file per command, each parsing its
// flags into an options value and calling a function that tests call too.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse/pkg/agent/proc"
	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// Build information, set with -ldflags "-X github.com/pulse-monitor/pulse/pkg/cli.version=...".
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

// Global holds the global flags shared by every command.
type Global struct {
	IO        *IO
	Config    string // --config
	DB        string // --db
	LogFormat string // --log-format
	LogLevel  string // --log-level
	NoColor   bool   // --no-color
}

// exitError carries a command's exit status; its message (if any) was
// already printed or is printed by Main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode wraps err with an exit status.
func exitCode(code int, err error) error { return &exitError{code: code, err: err} }

// silentExit is an exit status whose message was already printed.
func silentExit(code int) error { return &exitError{code: code} }

// Main runs the command line of the current process and returns its exit
// status, with the process-wide settings of proc.Start in force.
func Main() int {
	proc.Start()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Execute(ctx, SystemIO(), os.Args[1:])
}

// Execute runs the command line args against io and returns the exit status.
func Execute(ctx context.Context, s *IO, args []string) int {
	g := &Global{IO: s}
	root := NewRoot(g)
	root.SetArgs(args)
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			printError(s.Err, ee.err)
		}
		return ee.code
	}
	printError(s.Err, err)
	return 1
}

// printError writes err as lines prefixed "pulse: " unless they already name a file.
func printError(w io.Writer, err error) {
	var ce *config.Errors
	if errors.As(err, &ce) {
		fmt.Fprintln(w, strings.TrimRight(ce.Error(), "\n"))
		return
	}
	fmt.Fprintf(w, "pulse: %s\n", err)
}

// NewRoot builds the command tree.
func NewRoot(g *Global) *cobra.Command {
	root := &cobra.Command{
		Use:           "pulse",
		Short:         "Service monitoring for teams that run their product on a few VMs",
		Long:          "pulse runs scheduled checks, records every result in SQLite, opens and resolves\nincidents and escalates them to Slack, Discord, Mattermost, Google Chat, email,\nPagerDuty and webhooks by severity.",
		Example:       "  pulse init && pulse validate && pulse run\n  pulse check api-health\n  pulse status --watch",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if g.NoColor {
				g.IO.NoColor = true
			}
			switch g.LogFormat {
			case "text", "json":
			default:
				return exitCode(1, fmt.Errorf("--log-format must be text or json, not %q", g.LogFormat))
			}
			if _, err := parseLevel(g.LogLevel); err != nil {
				return exitCode(1, err)
			}
			return nil
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	pf := root.PersistentFlags()
	pf.StringVar(&g.Config, "config", "", "config file (default: $PULSE_CONFIG, else ./pulse.toml, else /etc/pulse/pulse.toml)")
	pf.StringVar(&g.DB, "db", "", "SQLite file or postgres:// URL (overrides [agent].database and store)")
	pf.StringVar(&g.LogFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.BoolVar(&g.NoColor, "no-color", false, "no ANSI colours (NO_COLOR is honoured too)")

	for _, mk := range []func(*Global) *cobra.Command{
		newRunCmd, newCheckCmd, newStatusCmd, newReportCmd, newValidateCmd, newInitCmd, newVersionCmd,
		newIncidentsCmd, newAckCmd, newResolveCmd, newSilenceCmd, newNotifyCmd, newPingCmd, newMigrateCmd, newClusterCmd,
		newAnnotateCmd,
	} {
		root.AddCommand(mk(g))
	}
	root.AddCommand(newSubscribersCmd(g))
	return root
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", s)
}

// Logger builds the operator log: one line per event on stderr.
func (g *Global) Logger() *slog.Logger {
	lvl, _ := parseLevel(g.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(g.IO.Err, opts))
	}
	return slog.New(slog.NewTextHandler(g.IO.Err, opts))
}

// ConfigPath resolves the config file: --config, $PULSE_CONFIG, ./pulse.toml,
// /etc/pulse/pulse.toml (the first that exists of the last two).
func (g *Global) ConfigPath() (string, error) {
	if g.Config != "" {
		return g.Config, nil
	}
	if v, ok := g.IO.Getenv("PULSE_CONFIG"); ok && v != "" {
		return v, nil
	}
	for _, p := range []string{"pulse.toml", "/etc/pulse/pulse.toml"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no config file: pass --config, set PULSE_CONFIG, or create ./pulse.toml (`pulse init` writes a starter)")
}

// LoadConfig reads and validates the config, applying --db.
func (g *Global) LoadConfig() (*config.Config, error) {
	path, err := g.ConfigPath()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if g.DB != "" {
		if store.IsPostgres(g.DB) {
			cfg.Agent.Store = config.Secret(g.DB)
		} else {
			cfg.Agent.Database, cfg.Agent.Store = g.DB, ""
		}
	}
	return cfg, nil
}
