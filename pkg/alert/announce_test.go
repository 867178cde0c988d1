package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

func TestAnnouncements(t *testing.T) {
	cfg := &config.Config{Maintenance: []config.Maintenance{
		// Sundays 03:00 UTC for 1h, announced 24h ahead.
		{Checks: []string{"api"}, Schedule: "0 3 * * SUN", Duration: config.Duration(time.Hour), Announce: true,
			Title: "DB upgrade", Message: "Writes pause.", AnnounceBefore: config.Duration(24 * time.Hour)},
		// Not announced.
		{Checks: []string{"api"}, Schedule: "0 3 * * SUN", Duration: config.Duration(time.Hour)},
	}}
	sun := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC) // a Sunday
	tests := []struct {
		name  string
		now   time.Time
		start time.Time // zero: nothing due
	}{
		{"two days ahead", sun.Add(-48 * time.Hour), time.Time{}},
		{"just over 24h ahead", sun.Add(-24*time.Hour - time.Second), time.Time{}},
		{"24h ahead", sun.Add(-24 * time.Hour), sun},
		{"an hour ahead", sun.Add(-time.Hour), sun},
		{"starting", sun, sun},
		{"in progress", sun.Add(59 * time.Minute), sun},
		{"over", sun.Add(time.Hour), time.Time{}},
		{"a day before the next", sun.Add(6 * 24 * time.Hour), sun.Add(7 * 24 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Announcements(cfg, tc.now)
			if tc.start.IsZero() {
				if len(got) != 0 {
					t.Fatalf("due: %+v", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d announcements, want 1", len(got))
			}
			a := got[0]
			if !a.Start.Equal(tc.start) || !a.End.Equal(tc.start.Add(time.Hour)) || a.Title != "DB upgrade" || a.Checks[0] != "api" {
				t.Errorf("announcement = %+v", a)
			}
			if !strings.HasPrefix(a.Key, "maintenance:") || !strings.HasSuffix(a.Key, tc.start.UTC().Format(time.RFC3339)) {
				t.Errorf("key = %q", a.Key)
			}
		})
	}
	// One key per run: the same before and during, another the next week.
	k1 := Announcements(cfg, sun.Add(-time.Hour))[0].Key
	k2 := Announcements(cfg, sun.Add(30*time.Minute))[0].Key
	k3 := Announcements(cfg, sun.Add(6*24*time.Hour))[0].Key
	if k1 != k2 || k1 == k3 {
		t.Errorf("keys %q %q %q", k1, k2, k3)
	}
	a := Announcements(cfg, sun.Add(-time.Hour))[0]
	if got, want := a.Text(time.UTC), "DB upgrade\n\nSun 6 Dec 2026 03:00 – 04:00 UTC\n\nWrites pause."; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
	// Schedules are read in [agent].timezone.
	ny, _ := time.LoadLocation("America/New_York")
	cfg.Agent.Location = ny
	if a := Announcements(cfg, time.Date(2026, 12, 6, 7, 30, 0, 0, time.UTC)); len(a) != 1 || !a[0].Start.Equal(time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)) {
		t.Errorf("in New York: %+v", a)
	}
}
