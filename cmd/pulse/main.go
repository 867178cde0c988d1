// Command pulse is the pulse monitoring agent and its command line.
package main

import (
	"os"
	"runtime"

	"github.com/pulse-monitor/pulse/pkg/cli"
)

func main() {
	if os.Getenv("PULSE_PPROF") == "" {
		// Only PULSE_PPROF's endpoint reads heap profiles. Without it,
		// sampling allocations for them only costs memory: the runtime's
		// table of sampled call stacks held 1.5 MB of a 25,000-check agent
		// (docs/BENCHMARKS.md, goal 3).
		runtime.MemProfileRate = 0
	}
	os.Exit(cli.Main())
}
