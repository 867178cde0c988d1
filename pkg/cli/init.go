package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/pulse-monitor/pulse"
)

// InitOptions are `pulse init`'s inputs.
type InitOptions struct {
	Path string
}

func newInitCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:   "init",
		Short: "Write a commented starter config that validates and runs offline",
		Long: "init writes a commented starter configuration to the --config path (default ./pulse.toml).\n" +
			"It refuses to overwrite an existing file.",
		Example: "  pulse init\n  pulse --config /etc/pulse/pulse.toml init",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := g.Config
			if path == "" {
				path = "pulse.toml"
			}
			return runInit(g.IO, InitOptions{Path: path})
		},
	}
}

func runInit(s *IO, o InitOptions) error {
	f, err := os.OpenFile(o.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if errors.Is(err, fs.ErrExist) {
		return exitCode(1, fmt.Errorf("%s already exists; not overwriting it", o.Path))
	}
	if err != nil {
		return exitCode(1, fmt.Errorf("write starter config: %w", err))
	}
	if _, err := f.Write(pulse.ExampleConfig); err != nil {
		f.Close()
		return exitCode(1, fmt.Errorf("write %s: %w", o.Path, err))
	}
	if err := f.Close(); err != nil {
		return exitCode(1, fmt.Errorf("write %s: %w", o.Path, err))
	}
	fmt.Fprintf(s.Out, "wrote %s\nnext: pulse --config %s validate && pulse --config %s run\n", o.Path, o.Path, o.Path)
	return nil
}
