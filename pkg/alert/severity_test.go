package alert

import "testing"

func TestSeverityRank(t *testing.T) {
	order := []string{"P1", "P2", "P3", "P4", "", "P9", "crit"}
	for i := 1; i < 5; i++ {
		if SeverityRank(order[i-1]) >= SeverityRank(order[i]) {
			t.Errorf("SeverityRank(%q) = %d, not before SeverityRank(%q) = %d", order[i-1], SeverityRank(order[i-1]), order[i], SeverityRank(order[i]))
		}
	}
	for _, s := range order[4:] {
		if SeverityRank(s) != SeverityRank("") {
			t.Errorf("SeverityRank(%q) = %d, want unknown severities to rank with \"\" (%d)", s, SeverityRank(s), SeverityRank(""))
		}
	}
}
