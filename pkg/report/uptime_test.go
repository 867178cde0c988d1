package report

import (
	"testing"

	"github.com/pulse-monitor/pulse/pkg/store"
)

func TestUptime(t *testing.T) {
	tests := []struct {
		runs, failures int64
		target         float64
		text, state    string
	}{
		{0, 0, 99.9, "no data", UptimeNoData},
		{4, 0, 99.9, "100% uptime", "ok"},
		{100000, 1, 99.9, "99.99% uptime", "ok"}, // 99.999 is never 100%
		{4, 1, 99.9, "75.00% uptime", "crit"},
		{100, 3, 99.9, "97.00% uptime", "warn"},
		{100, 3, 90, "97.00% uptime", "ok"},
		{100, 15, 90, "85.00% uptime", "crit"},
	}
	for _, tt := range tests {
		r := store.Rollup{Runs: tt.runs, Failures: tt.failures}
		if got := UptimeText(&r); got != tt.text {
			t.Errorf("UptimeText(%d of %d failed) = %q, want %q", tt.failures, tt.runs, got, tt.text)
		}
		if got := UptimeState(&r, tt.target); got != tt.state {
			t.Errorf("UptimeState(%d of %d failed, %v) = %q, want %q", tt.failures, tt.runs, tt.target, got, tt.state)
		}
	}
}

func TestOverallState(t *testing.T) {
	tests := []struct {
		states      []string
		text, state string
	}{
		{nil, "No checks to show", StatePending},
		{[]string{"ok", "ok"}, "All systems operational", "ok"},
		{[]string{"ok", "pending"}, "All systems operational", "ok"},
		{[]string{"ok", "warn"}, "Degraded performance", "warn"},
		{[]string{"unknown", "ok"}, "Degraded performance", "warn"},
		{[]string{"crit", "warn"}, "Partial outage", "crit"},
		{[]string{"crit", "crit"}, "Major outage", "crit"},
		{[]string{"pending", "pending"}, "Awaiting first results", StatePending},
	}
	for _, tt := range tests {
		text, state := OverallState(tt.states)
		if text != tt.text || state != tt.state {
			t.Errorf("OverallState(%q) = %q, %q; want %q, %q", tt.states, text, state, tt.text, tt.state)
		}
	}
}
