package ui

import (
	"testing"
	"time"
)

func TestDurationFormatters(t *testing.T) {
	tests := []struct {
		name string
		f    func(time.Duration) string
		d    time.Duration
		want string
	}{
		{"Duration", Duration, 850 * time.Microsecond, "850µs"},
		{"Duration", Duration, 42 * time.Millisecond, "42ms"},
		{"Duration", Duration, 1200 * time.Millisecond, "1.2s"},
		{"Duration", Duration, 3*time.Minute + 5*time.Second, "3m05s"},
		{"Duration", Duration, 2*time.Hour + 10*time.Minute, "2h10m"},
		{"Duration", Duration, 76 * time.Hour, "3d4h"},
		{"Duration", Duration, -2 * time.Second, "-2.0s"},

		{"Approx", Approx, -time.Second, "0s"},
		{"Approx", Approx, 45 * time.Second, "45s"},
		{"Approx", Approx, 59*time.Second + 900*time.Millisecond, "59s"},
		{"Approx", Approx, 12*time.Minute + 59*time.Second, "12m"},
		{"Approx", Approx, time.Hour, "1h"},
		{"Approx", Approx, 65 * time.Minute, "1h5m"},
		{"Approx", Approx, 67 * time.Minute, "1h7m"},
		{"Approx", Approx, 48 * time.Hour, "2d"},
		{"Approx", Approx, 48*time.Hour + 59*time.Minute, "2d"},
		{"Approx", Approx, 51 * time.Hour, "2d3h"},

		{"Setting", Setting, time.Hour, "1h"},
		{"Setting", Setting, 90 * time.Minute, "90m"},
		{"Setting", Setting, 30 * time.Second, "30s"},
		{"Setting", Setting, 90 * time.Second, "1m30s"},

		{"Latency", Latency, 850 * time.Microsecond, "850 µs"},
		{"Latency", Latency, 42 * time.Millisecond, "42 ms"},
		{"Latency", Latency, 12345 * time.Millisecond, "12.3s"},

		{"Elapsed", Elapsed, -time.Minute, "0m"},
		{"Elapsed", Elapsed, 12*time.Minute + 31*time.Second, "13m"},
		{"Elapsed", Elapsed, 5*time.Hour + 3*time.Minute, "5h 3m"},
		{"Elapsed", Elapsed, 76 * time.Hour, "3d 4h"},
	}
	for _, tt := range tests {
		if got := tt.f(tt.d); got != tt.want {
			t.Errorf("%s(%v) = %q, want %q", tt.name, tt.d, got, tt.want)
		}
	}
}
