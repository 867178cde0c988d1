package config

import "time"

// clusterCheck watches the agents sharing a PostgreSQL database ([agent].store):
// crit when one runs a config that differs from the majority's (it takes
// no work) or stopped renewing its leases without leaving (it lost its
// database, or died). With store set and no check of this type, Parse adds
// one named ClusterCheckName at P2 (ImplicitClusterCheck).
var clusterCheck = checkKind{
	validate: func(s scope, c *Check) {
		if s.cfg.Agent.Store == "" {
			s.l.in(s.path, "type \"cluster\" watches the agents sharing [agent].store: set store, or remove this check")
		}
	},
}

// ClusterCheckName is the name of the check Parse adds with store.
const ClusterCheckName = "cluster"

// implicitClusterCheck is the check of the agents sharing the database
// that a config with store gets unless it declares one: every 5 s, at P2
// (README: Running several agents).
func implicitClusterCheck(cfg *Config) Check {
	name := ClusterCheckName
	for i := range cfg.Checks {
		if cfg.Checks[i].Name == name {
			name = "pulse-" + ClusterCheckName
		}
	}
	c := Check{
		Name:         name,
		Type:         "cluster",
		Interval:     Duration(5 * time.Second),
		Timeout:      Duration(5 * time.Second),
		Severity:     "P2",
		FailAfter:    1,
		RecoverAfter: 1,
		Description:  "the pulse agents sharing the database: each with the majority's config, none lost",
		Location:     cfg.Agent.Location,
	}
	c.AllocFields()
	return c
}
