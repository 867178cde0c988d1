package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newCommand is a placeholder until the command kind lands.
func newCommand(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("command checks are not implemented yet")
}
