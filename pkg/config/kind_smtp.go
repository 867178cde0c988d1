package config

// smtpCheck talks SMTP to a mail server: its greeting, STARTTLS (TLS from
// the first byte on port 465) and the certificate it presents, judged by
// the same days as a tls check.
var smtpCheck = checkKind{
	keys:     []string{"address", "server_name", "ca_file", "warn_days", "crit_days", "expect.latency"},
	groups:   kindGroup,
	defaults: tlsDefaults,
	validate: validateTLS,
}
