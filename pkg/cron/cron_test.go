package cron_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/cron"
)

func TestParse(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expr string
		loc  *time.Location
		want time.Time // next run after from
		err  string
	}{
		{expr: "*/5 * * * *", want: time.Date(2026, 3, 28, 12, 5, 0, 0, time.UTC)},
		{expr: "30 */5 * * * *", want: time.Date(2026, 3, 28, 12, 0, 30, 0, time.UTC)},
		{expr: "@every 90s", want: from.Add(90 * time.Second)},
		{expr: "@daily", want: time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC)},
		{expr: "@daily", loc: paris, want: time.Date(2026, 3, 28, 23, 0, 0, 0, time.UTC)},
		{expr: "0 9 * * MON-FRI", loc: paris, want: time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)},
		{expr: "0 3 * * SUN", want: time.Date(2026, 3, 29, 3, 0, 0, 0, time.UTC)},
		{expr: "", err: "empty schedule"},
		{expr: "* * *", err: "expected 5 to 6 fields"},
		{expr: "* * * * * * *", err: "expected 5 to 6 fields"},
		{expr: "CRON_TZ=UTC", err: "use the timezone key"},
		{expr: "TZ=Europe/Paris 0 * * * *", err: "use the timezone key"},
		{expr: "@yearly-ish", err: "unrecognized descriptor"},
		{expr: "*/0 * * * *", err: "step"},
		{expr: "@every 1d", want: from.Add(24 * time.Hour)},
		{expr: "@every 0s", err: "the interval must be at least 1s"},
		{expr: "@every -5s", err: "must not be negative"},
		{expr: "@every 999999h", err: "the interval must be at most"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			s, err := cron.Parse(tc.expr, tc.loc, config.ParseEvery)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) error = %v, want %q", tc.expr, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(from); !got.Equal(tc.want) {
				t.Errorf("Next(%v) = %v, want %v", from, got.UTC(), tc.want)
			}
		})
	}
}

func TestParseNilEvery(t *testing.T) {
	if _, err := cron.Parse("@every 0s", nil, nil); err == nil {
		t.Error("@every 0s with the default duration reader: no error")
	}
	s, err := cron.Parse("@every 90s", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cron.Period(s); got != 90*time.Second {
		t.Errorf("Period = %v, want 90s", got)
	}
	if s, _ := cron.Parse("@daily", nil, nil); cron.Period(s) != 0 {
		t.Error("Period of @daily is not 0")
	}
}
