package cli

import (
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IO is where a command reads and writes. Tests build one over buffers; Main
// builds one over the process's standard streams.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// TTY reports whether Out is a terminal (colour, in-place refresh).
	TTY bool
	// NoColor is set by --no-color or a non-empty NO_COLOR.
	NoColor bool
	// Getenv reads the environment (os.LookupEnv in production).
	Getenv func(string) (string, bool)
}

// Color reports whether output may use ANSI colour.
func (s *IO) Color() bool { return s.TTY && !s.NoColor }

// SystemIO is the IO of the running process.
func SystemIO() *IO {
	tty := false
	if f, ok := any(os.Stdout).(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())
	}
	v, set := os.LookupEnv("NO_COLOR")
	return &IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, TTY: tty, NoColor: set && v != "", Getenv: os.LookupEnv}
}
