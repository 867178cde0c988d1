package ui

import (
	"fmt"
	"strconv"
	"time"
)

// The duration formatters of pulse, one per purpose; nothing else in the
// tree formats a duration for people.

// Duration formats a measured span compactly (check run times, incident
// lengths in tables): 850µs, 42ms, 1.2s, 3m05s, 2h10m, 3d4h.
func Duration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + Duration(-d)
	case d < time.Millisecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		m := int(d / time.Minute)
		sec := int((d % time.Minute) / time.Second)
		return strconv.Itoa(m) + "m" + pad2(sec) + "s"
	case d < 48*time.Hour:
		h := int(d / time.Hour)
		m := int((d % time.Hour) / time.Minute)
		return strconv.Itoa(h) + "h" + pad2(m) + "m"
	}
	days := int(d / (24 * time.Hour))
	h := int((d % (24 * time.Hour)) / time.Hour)
	return strconv.Itoa(days) + "d" + strconv.Itoa(h) + "h"
}

func pad2(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// Approx prints d for people, to two units at most: "45s", "12m", "1h5m",
// "2d3h" (negative as 0s). Check messages, notifications and reports share it.
func Approx(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	two := func(a int, ua string, b int, ub string) string {
		if b == 0 {
			return strconv.Itoa(a) + ua
		}
		return strconv.Itoa(a) + ua + strconv.Itoa(b) + ub
	}
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		return two(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "m")
	}
	return two(int(d/(24*time.Hour)), "d", int(d%(24*time.Hour)/time.Hour), "h")
}

// Setting prints a configured duration the way it is written in the config:
// "1h", "90m", "30s" rather than Go's "1h0m0s" (spans that are not whole
// minutes or hours fall back to Go's form).
func Setting(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// Latency prints a response time with its unit spaced, as the status page
// shows it: "850 µs", "42 ms", "12.3s".
func Latency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	}
	return d.Round(100 * time.Millisecond).String()
}

// Elapsed prints how long something has been going on to the minute, as
// the status page shows it: "12m", "5h 3m", "3d 4h" (negative as 0m).
func Elapsed(d time.Duration) string {
	d = max(d, 0).Round(time.Minute)
	switch {
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}
