package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newHTTP is a placeholder until the http kind lands.
func newHTTP(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("http checks are not implemented yet")
}
