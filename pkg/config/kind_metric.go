package config

import (
	"slices"
	"strings"
)

// metricCheck reads a value over http (a JSON path) or sql and compares it,
// or its drop against an earlier value.
var metricCheck = checkKind{
	keys: slices.Concat([]string{"source", "value", "warn_if", "crit_if", "compare", "warn_if_drop", "crit_if_drop"},
		httpSourceKeys, sqlSourceKeys[:3]),
	groups:      httpGroup | kindGroup,
	defaults:    metricDefaults,
	validate:    validateMetric,
	foreignKeys: metricForeignKeys,
}

// metricSourceOnly returns the keys that belong to one metric source only.
func metricSourceOnly(source string) []string {
	switch source {
	case "http":
		return []string{"url", "method", "headers", "body", "follow_redirects", "insecure_skip_verify",
			"ca_file", "basic_auth", "max_body", "expect.status", "value"}
	case "sql":
		return []string{"driver", "dsn", "query"}
	}
	return nil
}

// metricForeignKeys reports the keys of the other source ("url" on a sql
// metric).
func metricForeignKeys(s scope, c *Check, present []string) {
	if c.Source != "http" && c.Source != "sql" {
		return
	}
	other := "sql"
	if c.Source == "sql" {
		other = "http"
	}
	own := metricSourceOnly(c.Source)
	for _, k := range present {
		if applies(metricSourceOnly(other), k) && !applies(own, k) {
			s.l.notApplicable(s.key(k), "key %q does not apply to metric source %q", k, c.Source)
		}
	}
}

func metricDefaults(s scope, c *Check) {
	switch c.Source {
	case "http":
		httpRequestDefaults(s, c)
	case "sql":
		sqlSourceDefaults(s, c)
	}
}

func validateMetric(s scope, c *Check) {
	switch c.Source {
	case "":
		s.required("source", false)
	case "http":
		validateHTTPRequest(s, c)
		s.required("value", strings.TrimSpace(c.Value) != "")
	case "sql":
		validateSQLSource(s, c)
	default:
		s.at("source", "unknown source %q (use http or sql)", c.Source)
	}
	if s.has("compare") && c.Compare <= 0 {
		s.at("compare", "must be greater than 0 (e.g. \"1d\" or \"7d\")")
	}
	for _, k := range []string{"warn_if_drop", "crit_if_drop"} {
		v := c.WarnIfDrop
		if k == "crit_if_drop" {
			v = c.CritIfDrop
		}
		if !s.has(k) {
			continue
		}
		if v < 0 || v > 100 {
			s.at(k, "must be a percentage from 0 to 100")
		}
		if !s.has("compare") {
			s.at(k, "needs compare (e.g. compare = \"1d\")")
		}
	}
	if s.has("compare") && !s.has("warn_if_drop") && !s.has("crit_if_drop") {
		s.l.in(s.key("compare"), "compare needs warn_if_drop or crit_if_drop")
	}
}
