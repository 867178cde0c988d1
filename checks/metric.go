package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newMetric is a placeholder until the metric kind lands.
func newMetric(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("metric checks are not implemented yet")
}
