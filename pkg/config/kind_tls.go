package config

// tlsCheck reads the certificate a TLS server presents.
var tlsCheck = checkKind{
	keys:     []string{"address", "server_name", "ca_file", "warn_days", "crit_days", "expect.latency"},
	groups:   kindGroup,
	defaults: tlsDefaults,
	validate: validateTLS,
}

func tlsDefaults(s scope, c *Check) {
	if !s.has("warn_days") {
		c.WarnDays = DefaultWarnDays
	}
	if !s.has("crit_days") {
		c.CritDays = DefaultCritDays
	}
}

func validateTLS(s scope, c *Check) {
	validateTCP(s, c)
	if c.CritDays < 0 {
		s.at("crit_days", "must not be negative")
	}
	if c.WarnDays < c.CritDays {
		s.at("warn_days", "must be at least crit_days (%d)", c.CritDays)
	}
	s.l.checkReadable(s.key("ca_file"), c.CAFile)
}
