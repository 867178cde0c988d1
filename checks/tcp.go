package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newTCP is a placeholder until the tcp kind lands.
func newTCP(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("tcp checks are not implemented yet")
}
