package agent

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
)

// persistable reports whether next differs from prev in a way worth writing
// to disk. Streak counters past the policy's thresholds carry no meaning (an
// ok check stays ok however long its streak), so a steady check costs no
// state write per result — the hot path at thousands of results a second.
func persistable(prev, next alert.CheckState, p alert.Policy) bool {
	limit := max(p.FailAfter, p.RecoverAfter, 1)
	return prev.State != next.State || !prev.LastChange.Equal(next.LastChange) ||
		min(prev.OK, limit) != min(next.OK, limit) || min(prev.NonOK, limit) != min(next.NonOK, limit) ||
		prev.Worst != next.Worst || prev.IncidentOpen != next.IncidentOpen ||
		prev.IncidentID != next.IncidentID || prev.IncidentSeverity != next.IncidentSeverity ||
		prev.IncidentState != next.IncidentState || prev.Flapping != next.Flapping ||
		!prev.FlappingSince.Equal(next.FlappingSince) || !slices.EqualFunc(prev.Changes, next.Changes, time.Time.Equal)
}

func marshalState(s alert.CheckState) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		return nil // CheckState always encodes; a nil blob keeps the old one
	}
	return b
}
