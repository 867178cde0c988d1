// Command pulse is the pulse monitoring agent and its command line.
package main

import (
	"os"

	"github.com/pulse-monitor/pulse/pkg/cli"
)

func main() {
	os.Exit(cli.Main())
}
