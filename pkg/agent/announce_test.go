package agent

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestAnnounceMaintenance(t *testing.T) {
	sun := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC) // a Sunday
	now := sun.Add(-48 * time.Hour)
	cfg := loadConfig(t, `[agent]
database = "pulse.db"

[[maintenance]]
checks = ["*"]
schedule = "0 3 * * SUN"
duration = "1h"
announce = true
title = "Database upgrade"
message = "Writes pause <b>briefly</b>."
`)
	a, err := New(Options{Config: cfg, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	ctx := context.Background()
	read := func() int {
		t.Helper()
		ups, err := a.store.PublicUpdates(ctx, sun.Add(-30*24*time.Hour), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		return len(ups)
	}

	a.announceMaintenance(ctx)
	if n := read(); n != 0 {
		t.Fatalf("announced 48h ahead (announce_before 24h): %d", n)
	}
	now = sun.Add(-23 * time.Hour)
	a.announceMaintenance(ctx)
	a.announceMaintenance(ctx) // the next minute: written once
	now = sun.Add(10 * time.Minute)
	a.announceMaintenance(ctx) // in progress: the same run
	ups, err := a.store.PublicUpdates(ctx, sun.Add(-30*24*time.Hour), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 1 {
		t.Fatalf("%d announcements, want 1: %+v", len(ups), ups)
	}
	u := ups[0]
	if u.IncidentID != 0 || u.Status != "scheduled" || !u.Public || u.Author != "pulse" || !u.At.Equal(sun.Add(-23*time.Hour)) ||
		u.Message != "Database upgrade\n\nSun 6 Dec 2026 03:00 – 04:00 UTC\n\nWrites pause <b>briefly</b>." ||
		!strings.HasSuffix(u.DedupKey, ":2026-12-06T03:00:00Z") {
		t.Fatalf("announcement = %+v", u)
	}
	// The next week's run is another announcement.
	now = sun.Add(6*24*time.Hour + time.Hour)
	a.announceMaintenance(ctx)
	if n := read(); n != 2 {
		t.Fatalf("%d announcements after the next week's, want 2", n)
	}
}
