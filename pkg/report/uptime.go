package report

import (
	"fmt"

	"github.com/pulse-monitor/pulse/pkg/store"
)

// UptimeText is the availability of a period's runs as the status page
// shows it: "99.95% uptime", or "no data" without runs.
func UptimeText(r *store.Rollup) string {
	if r.Runs == 0 {
		return "no data"
	}
	return UptimePercent(r.Availability()*100) + " uptime"
}

// UptimePercent formats an availability in percent with two decimals
// ("99.95%", "100%"); it never rounds a period with failures up to 100%.
func UptimePercent(p float64) string {
	if p >= 100 {
		return "100%"
	}
	s := fmt.Sprintf("%.2f%%", p)
	if s == "100.00%" {
		s = "99.99%"
	}
	return s
}

// UptimeNoData is UptimeState's answer for a period without runs.
const UptimeNoData = "none"

// UptimeState says how a period's availability compares with target (in
// percent): "ok" at or above it, "warn" below it but at or above 95% (or
// the target, when lower), "crit" below that, UptimeNoData without runs.
func UptimeState(r *store.Rollup, target float64) string {
	if r.Runs == 0 {
		return UptimeNoData
	}
	a := r.Availability() * 100
	switch {
	case a >= target:
		return "ok"
	case a >= min(target, 95):
		return "warn"
	}
	return "crit"
}

// OverallState sums up the states of the checks a status page shows (as
// CheckStatus.State: ok, warn, crit, unknown or StatePending) in a sentence
// and the state it is shown in: all crit is "Major outage", some crit
// "Partial outage", any warn or unknown "Degraded performance", none with a
// result yet "Awaiting first results", no checks "No checks to show",
// otherwise "All systems operational".
func OverallState(states []string) (text, state string) {
	var bad, degraded, pending int
	for _, s := range states {
		switch s {
		case "ok":
		case "crit":
			bad++
		case "warn", "unknown":
			degraded++
		default:
			pending++
		}
	}
	switch n := len(states); {
	case n == 0:
		return "No checks to show", StatePending
	case bad == n:
		return "Major outage", "crit"
	case bad > 0:
		return "Partial outage", "crit"
	case degraded > 0:
		return "Degraded performance", "warn"
	case pending == n:
		return "Awaiting first results", StatePending
	}
	return "All systems operational", "ok"
}
