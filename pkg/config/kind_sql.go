package config

import (
	"slices"
	"strings"
)

// sqlCheck runs a query and compares the first column of its first row.
var sqlCheck = checkKind{
	keys:     slices.Concat(sqlSourceKeys, []string{"warn_if", "crit_if"}),
	groups:   kindGroup,
	defaults: sqlSourceDefaults,
	validate: validateSQLSource,
}

// sqlSourceKeys are the keys of sql checks and sql-sourced metrics.
var sqlSourceKeys = []string{"driver", "dsn", "query", "expect.latency"}

// sqlSourceDefaults gives sql checks and sql-sourced metrics the latency
// target of [targets] as their expect.latency.
func sqlSourceDefaults(s scope, c *Check) {
	if t := s.cfg.Targets.SQLLatency; !s.has("expect.latency") && t != 0 {
		if c.Expect == nil {
			c.Expect = &Expect{}
		}
		c.Expect.Latency = t
	}
}

// validateSQLSource checks the keys of sql checks and sql-sourced metrics.
func validateSQLSource(s scope, c *Check) {
	s.required("driver", c.Driver != "")
	if c.Driver != "" && !slices.Contains([]string{"postgres", "mysql", "sqlite"}, c.Driver) {
		s.at("driver", "unknown driver %q (use postgres, mysql or sqlite)", c.Driver)
	}
	s.required("dsn", c.DSN != "")
	if c.DSN != "" {
		if err := checkDSN(c.Driver, c.DSN.Reveal()); err != nil {
			s.at("dsn", "%v", err)
		}
	}
	s.required("query", strings.TrimSpace(c.Query) != "")
}
