package config

import "strings"

// domainCheck reads a domain's registration over RDAP and judges the days
// until it expires.
var domainCheck = checkKind{
	keys:     []string{"address", "url", "warn_days", "crit_days"},
	groups:   httpGroup | kindGroup, // url: the registry's RDAP server
	defaults: domainDefaults,
	validate: validateDomain,
}

// Registration lapses take a site and its mail down together and renewals
// can wait on a purchase order, so domains warn earlier than certificates.
const (
	DefaultDomainWarnDays = 30
	DefaultDomainCritDays = 7
)

func domainDefaults(s scope, c *Check) {
	if !s.has("warn_days") {
		c.WarnDays = DefaultDomainWarnDays
	}
	if !s.has("crit_days") {
		c.CritDays = DefaultDomainCritDays
	}
}

func validateDomain(s scope, c *Check) {
	s.required("address", c.Address != "")
	if d := strings.TrimSuffix(c.Address, "."); d != "" &&
		(!strings.Contains(d, ".") || strings.ContainsAny(d, ":/ @") || strings.HasPrefix(d, ".")) {
		s.at("address", "want a registered domain like \"example.com\" (no scheme, port or path)")
	}
	if c.URL != "" {
		if err := checkURL(c.URL, false); err != nil {
			s.at("url", "%v", err)
		}
	}
	if c.CritDays < 0 {
		s.at("crit_days", "must not be negative")
	}
	if c.WarnDays < c.CritDays {
		s.at("warn_days", "must be at least crit_days (%d)", c.CritDays)
	}
}
