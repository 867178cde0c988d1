package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newSystem is a placeholder until the system kind lands.
func newSystem(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("system checks are not implemented yet")
}
