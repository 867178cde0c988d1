package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newTLS is a placeholder until the tls kind lands.
func newTLS(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("tls checks are not implemented yet")
}
