package config

import (
	"slices"
	"strings"
)

// commonCheckKeys are the keys every check kind accepts.
var commonCheckKeys = []string{
	"name", "type", "interval", "schedule", "timezone", "timeout", "severity",
	"warn_severity", "fail_after", "recover_after", "tags", "depends_on",
	"description", "runbook", "enabled", "public",
}

// httpSourceKeys are the request keys of http checks and http-sourced metrics.
var httpSourceKeys = []string{
	"url", "method", "headers", "body", "follow_redirects", "insecure_skip_verify",
	"ca_file", "basic_auth", "max_body", "expect.status", "expect.latency",
}

// sqlSourceKeys are the keys of sql checks and sql-sourced metrics.
var sqlSourceKeys = []string{"driver", "dsn", "query", "expect.latency"}

// kindKeys lists each kind's own keys; sub-keys of [check.expect] are written "expect.NAME".
func kindKeys(kind string) []string {
	switch kind {
	case "http":
		return slices.Concat(httpSourceKeys, []string{
			"expect.body_contains", "expect.body_not_contains", "expect.body_regex",
			"expect.json", "expect.headers", "expect.cert_expiry",
		})
	case "tcp":
		return []string{"address", "expect.latency"}
	case "dns":
		return []string{"query", "record", "server", "expect.values", "expect.latency"}
	case "tls":
		return []string{"address", "server_name", "ca_file", "warn_days", "crit_days", "expect.latency"}
	case "sql":
		return slices.Concat(sqlSourceKeys, []string{"warn_if", "crit_if"})
	case "command":
		return []string{"command", "env", "warn_if", "crit_if", "perf"}
	case "system":
		return []string{"metric", "path", "warn_if", "crit_if"}
	case "heartbeat":
		return []string{"period", "grace"}
	case "metric":
		return slices.Concat([]string{"source", "value", "warn_if", "crit_if", "compare", "warn_if_drop", "crit_if_drop"},
			httpSourceKeys, sqlSourceKeys[:3])
	}
	return nil
}

// Kinds returns the check types pulse knows, sorted.
func Kinds() []string {
	return []string{"command", "dns", "heartbeat", "http", "metric", "sql", "system", "tcp", "tls"}
}

// KindKeys returns, for each check type, every key a [[check]] of that type
// accepts (common keys included; keys of [check.expect] as "expect.NAME").
// A "NAME_file" form is accepted wherever NAME holds a string.
func KindKeys() map[string][]string {
	m := make(map[string][]string, len(Kinds()))
	for _, k := range Kinds() {
		keys := slices.Concat(commonCheckKeys, kindKeys(k))
		slices.Sort(keys)
		m[k] = slices.Compact(keys)
	}
	return m
}

// NotifierKinds returns the notifier types pulse knows, sorted.
func NotifierKinds() []string { return []string{"email", "pagerduty", "slack", "webhook"} }

// notifierKeys lists each notifier type's keys beyond name, type and timeout.
func notifierKeys(kind string) []string {
	switch kind {
	case "pagerduty":
		return []string{"routing_key", "url"}
	case "slack":
		return []string{"webhook_url"}
	case "email":
		return []string{"host", "port", "tls", "username", "password", "from", "to"}
	case "webhook":
		return []string{"url", "headers"}
	}
	return nil
}

// metricSourceKeys returns the keys that belong to one metric source only.
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

// applies reports whether key (maybe "expect.x", maybe "x_file") is in keys.
func applies(keys []string, key string) bool {
	if slices.Contains(keys, key) {
		return true
	}
	base, ok := strings.CutSuffix(key, "_file")
	return ok && slices.Contains(keys, base)
}
