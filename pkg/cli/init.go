package cli

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

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
		Short: "Write a commented starter config and its ack-link key",
		Long: "init writes a commented starter configuration to the --config path (default ./pulse.toml)\n" +
			"and, next to it, PATH.key: 32 random bytes in base64 (mode 0600) that sign the ack links\n" +
			"of P1/P2 alerts, named by [agent].secret_file. It refuses to overwrite either file.",
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

// ackKeyBytes is how many random bytes `pulse init` puts in the key file.
const ackKeyBytes = 32

// runInit writes the key first and the config second, each created
// exclusively; when either fails, what it already wrote is removed, so a
// failed init leaves neither a config naming a missing key nor a stray key.
func runInit(s *IO, o InitOptions) error {
	keyPath := o.Path + ".key"
	for _, p := range []string{o.Path, keyPath} {
		if _, err := os.Lstat(p); err == nil {
			return exitCode(1, fmt.Errorf("%s already exists; not overwriting it", p))
		}
	}
	cfg, err := starterConfig(filepath.Base(keyPath))
	if err != nil {
		return exitCode(1, err)
	}
	if err := writeAckKey(keyPath); err != nil {
		return exitCode(1, err)
	}
	if err := writeNew(o.Path, cfg, 0o640); err != nil {
		os.Remove(keyPath)
		return exitCode(1, fmt.Errorf("write starter config: %w", err))
	}
	fmt.Fprintf(s.Out, "wrote %s and %s (the ack-link key: keep it secret)\nnext: pulse --config %s validate && pulse --config %s run\n",
		o.Path, keyPath, o.Path, o.Path)
	return nil
}

// writeAckKey writes ackKeyBytes random bytes, base64 and a newline, to a
// new file of mode 0600.
func writeAckKey(path string) error {
	b := make([]byte, ackKeyBytes)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("ack-link key: %w", err)
	}
	if err := writeNew(path, []byte(base64.StdEncoding.EncodeToString(b)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write ack-link key: %w", err)
	}
	return nil
}

// writeNew creates path (never overwriting) with data and mode perm (set
// explicitly, whatever the umask), removing it again when writing fails.
func writeNew(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting it", path)
	}
	if err != nil {
		return err
	}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// exampleAckLines are the commented ack-link lines of pulse.example.toml's
// [agent] section that starterConfig replaces.
var exampleAckLines = []byte(`# public_url = "https://status.example.com"  # where people reach the listener; with
# secret_file = "pulse.key"         # ...a key (>= 32 random bytes, raw or base64:
#                                   # head -c 32 /dev/urandom | base64 > pulse.key),
#                                   # P1/P2 alerts carry an ack link to /ack/TOKEN
`)

// starterConfig is pulse.example.toml with [agent].secret_file naming the
// key init writes next to it (keyName, relative to the config's folder).
func starterConfig(keyName string) ([]byte, error) {
	if strings.ContainsAny(keyName, "\"\\") || strings.IndexFunc(keyName, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return nil, fmt.Errorf("%q: a config file name with quotes, backslashes or control characters cannot be named in TOML by init; choose another --config path", keyName)
	}
	if !bytes.Contains(pulse.ExampleConfig, exampleAckLines) {
		return nil, errors.New("starter config: [agent] ack-link lines not found (this is a bug in pulse)")
	}
	lines := fmt.Sprintf("secret_file = %-22s# signs ack links: 32 random bytes, base64, mode 0600 (pulse init)\n", `"`+keyName+`"`) +
		"# public_url = \"https://status.example.com\"  # where people reach the listener; set it and\n" +
		"#                                   # P1/P2 alerts carry an ack link to /ack/TOKEN\n"
	return bytes.Replace(pulse.ExampleConfig, exampleAckLines, []byte(lines), 1), nil
}
