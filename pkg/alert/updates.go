package alert

import (
	"fmt"
	"slices"
	"strings"
)

// Statuses of an incident update people write (`pulse incidents update`),
// in the order an incident usually goes through them, and the status of an
// announcement of planned maintenance.
const (
	UpdateInvestigating = "investigating"
	UpdateIdentified    = "identified"
	UpdateMonitoring    = "monitoring"
	UpdateResolved      = "resolved"
	UpdateScheduled     = "scheduled"
)

// UpdateStatuses are the statuses an incident's update may have.
var UpdateStatuses = []string{UpdateInvestigating, UpdateIdentified, UpdateMonitoring, UpdateResolved}

// CheckUpdateStatus returns an error naming the statuses allowed when s is
// not one of UpdateStatuses (announcement: whether it is an announcement
// of planned maintenance, whose only status is UpdateScheduled).
func CheckUpdateStatus(s string, announcement bool) error {
	if announcement {
		if s != UpdateScheduled {
			return fmt.Errorf("status %q: an announcement of maintenance has status %q", s, UpdateScheduled)
		}
		return nil
	}
	if !slices.Contains(UpdateStatuses, s) {
		return fmt.Errorf("status %q: want %s", s, strings.Join(UpdateStatuses, ", "))
	}
	return nil
}

// UpdateResolves reports whether an update of status s on an incident
// resolves it: a "resolved" update on an incident still open (or
// acknowledged) is a resolve by hand, as `pulse resolve` does, with the
// same notifications. An update on a resolved incident changes nothing but
// its timeline.
func UpdateResolves(s string, incidentResolved bool) bool {
	return s == UpdateResolved && !incidentResolved
}
