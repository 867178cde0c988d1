package config

import (
	"slices"
	"strings"
)

// dnsCheck resolves a name.
var dnsCheck = checkKind{
	keys:     []string{"query", "record", "server", "expect.values", "expect.latency"},
	groups:   kindGroup,
	defaults: dnsDefaults,
	validate: validateDNS,
}

func dnsDefaults(s scope, c *Check) {
	if !s.has("record") {
		c.Record = "A"
	}
	c.Record = strings.ToUpper(c.Record)
}

func validateDNS(s scope, c *Check) {
	s.required("query", strings.TrimSpace(c.Query) != "")
	if !slices.Contains([]string{"A", "AAAA", "CNAME", "MX", "TXT", "NS"}, c.Record) {
		s.at("record", "unknown record type %q (use A, AAAA, CNAME, MX, TXT or NS)", c.Record)
	}
	if c.Server != "" {
		if err := checkHostPort(c.Server, false); err != nil {
			s.at("server", "%v", err)
		}
	}
}
