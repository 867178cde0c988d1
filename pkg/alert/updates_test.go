package alert

import "testing"

func TestCheckUpdateStatus(t *testing.T) {
	for _, s := range UpdateStatuses {
		if err := CheckUpdateStatus(s, false); err != nil {
			t.Errorf("%s: %v", s, err)
		}
		if err := CheckUpdateStatus(s, true); err == nil {
			t.Errorf("%s accepted for an announcement", s)
		}
	}
	for _, s := range []string{"", "Resolved", "scheduled", "open", "fixed"} {
		if err := CheckUpdateStatus(s, false); err == nil {
			t.Errorf("%q accepted for an incident update", s)
		}
	}
	if err := CheckUpdateStatus("scheduled", true); err != nil {
		t.Error(err)
	}
	err := CheckUpdateStatus("fixed", false)
	if err == nil || err.Error() != `status "fixed": want investigating, identified, monitoring, resolved` {
		t.Errorf("error = %v", err)
	}
}

func TestUpdateResolves(t *testing.T) {
	tests := []struct {
		status   string
		resolved bool
		want     bool
	}{
		{UpdateResolved, false, true},
		{UpdateResolved, true, false},
		{UpdateMonitoring, false, false},
		{UpdateInvestigating, false, false},
		{UpdateIdentified, true, false},
	}
	for _, tc := range tests {
		if got := UpdateResolves(tc.status, tc.resolved); got != tc.want {
			t.Errorf("UpdateResolves(%q, %v) = %v, want %v", tc.status, tc.resolved, got, tc.want)
		}
	}
}
