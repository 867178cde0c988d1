package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newHeartbeat is a placeholder until the heartbeat kind lands.
func newHeartbeat(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("heartbeat checks are not implemented yet")
}
