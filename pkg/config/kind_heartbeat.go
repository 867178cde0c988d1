package config

import "time"

// heartbeatCheck waits for pings from a job.
var heartbeatCheck = checkKind{
	keys:     []string{"period", "grace"},
	groups:   kindGroup,
	validate: validateHeartbeat,
}

func validateHeartbeat(s scope, c *Check) {
	switch {
	case s.has("period") && s.has("schedule"):
		s.l.in(s.key("period"), "set period or schedule, not both")
	case !s.has("period") && !s.has("schedule"):
		s.l.in(s.path, "missing required key \"period\" (or \"schedule\")")
	case s.has("period") && c.Period.D() < time.Second:
		s.at("period", "must be at least 1s")
	}
}
