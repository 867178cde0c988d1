package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newDNS is a placeholder until the dns kind lands.
func newDNS(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("dns checks are not implemented yet")
}
