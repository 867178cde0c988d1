package checks

import (
	"errors"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// newSQL is a placeholder until the sql kind lands.
func newSQL(c *config.Check, env *Env) (Checker, error) {
	return nil, errors.New("sql checks are not implemented yet")
}

// SQLPools shares database handles between checks, one per driver and DSN.
type SQLPools struct{}
