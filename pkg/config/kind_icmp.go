package config

import (
	"net"
	"strings"
)

// icmpCheck pings a host and judges the share of echo requests lost and
// the mean round trip.
var icmpCheck = checkKind{
	keys:     []string{"address", "warn_if", "crit_if", "expect.latency"},
	groups:   kindGroup,
	defaults: icmpDefaults,
	validate: validateICMP,
}

// icmpDefaults: the packet-loss thresholds of Nagios' check_ping examples,
// warn from 20 % lost, crit from 60 %.
func icmpDefaults(s scope, c *Check) {
	if !s.has("warn_if") {
		c.WarnIf, _ = ParseThreshold(">= 20")
	}
	if !s.has("crit_if") {
		c.CritIf, _ = ParseThreshold(">= 60")
	}
}

func validateICMP(s scope, c *Check) {
	s.required("address", c.Address != "")
	if c.Address == "" {
		return
	}
	if _, _, err := net.SplitHostPort(c.Address); err == nil || strings.ContainsAny(c.Address, "/ ") {
		s.at("address", "want a host name or an IP address, without a port")
	}
}
