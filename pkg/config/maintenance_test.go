package config

import (
	"testing"
	"time"
)

func TestMaintenanceAnnounce(t *testing.T) {
	src := `
[[check]]
name = "api"
type = "tcp"
address = "127.0.0.1:1"

[[maintenance]]
checks = ["api"]
schedule = "0 3 * * SUN"
duration = "1h"
announce = true
title = "Database upgrade"
message = "Writes pause for **up to an hour**."

[[maintenance]]
checks = ["api"]
schedule = "0 4 1 * *"
duration = "2h"
announce = true
title = "Monthly patching"
announce_before = "3d"

[[maintenance]]
checks = ["api"]
schedule = "0 5 * * *"
duration = "10m"
`
	cfg, err := Parse("pulse.toml", []byte(src), testEnv)
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Maintenance
	if !m[0].Announce || m[0].Title != "Database upgrade" || m[0].Message != "Writes pause for **up to an hour**." ||
		m[0].AnnounceBefore.D() != DefaultAnnounceBefore {
		t.Errorf("window 1 = %+v", m[0])
	}
	if m[1].AnnounceBefore.D() != 3*24*time.Hour || m[1].Message != "" {
		t.Errorf("window 2 = %+v", m[1])
	}
	if m[2].Announce || m[2].AnnounceBefore != 0 {
		t.Errorf("window 3 (no announcement) = %+v", m[2])
	}
}
