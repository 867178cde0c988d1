// Package pulsebin builds the pulse binary that the end-to-end tests run.
package pulsebin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RaceReport starts what a binary built with -race prints on a data race.
const RaceReport = "WARNING: DATA RACE"

// Main builds cmd/pulse (at cmdDir, relative to the test's package) into
// *bin, runs the tests and exits with their status. With PULSE_TEST_RACE=1
// (CI sets it) the binary is built with -race: the processes under test
// then report their own data races, which the test binary's -race cannot
// see; tests fail on RaceReport in their output.
func Main(m *testing.M, cmdDir string, bin *string) {
	dir, err := os.MkdirTemp("", "pulse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin = filepath.Join(dir, "pulse")
	args := []string{"build", "-o", *bin}
	if os.Getenv("PULSE_TEST_RACE") == "1" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, cmdDir)...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pulse:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
