// Package schedule decides when each check runs and runs it: fixed intervals
// spread across their period by a stable per-name offset, cron schedules in
// the check's time zone (daylight-saving safe), a concurrency limit, and no
// overlapping runs of one check. One goroutine and a min-heap serve any
// number of checks: each run costs O(log n), nothing is O(n) per tick.
package schedule

import (
	"errors"
	"fmt"
	"time"

	"github.com/pulse-monitor/pulse/pkg/cron"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// Job is one scheduled check: either every Interval (phase-aligned, see
// Offset) or on Cron in Location.
type Job struct {
	Name string
	// Interval runs the job every Interval at a stable phase; used when Cron
	// is nil.
	Interval time.Duration
	// Cron runs the job at the schedule's times. An @every schedule is run
	// as an Interval.
	Cron cron.Schedule
	// Location is where a cron schedule's wall-clock times are read; nil
	// means the schedule's own location, else UTC.
	Location *time.Location
	// Key fingerprints the job's definition: on Set, a job whose non-empty
	// Key is unchanged keeps its next due time.
	Key string
}

// JobFor builds the job of a loaded check: its schedule (cron) or interval.
// Key is left for the caller, which knows the check's fingerprint.
func JobFor(c *config.Check) (Job, error) {
	j := Job{Name: c.Name, Location: c.Location}
	if c.Schedule != "" {
		s, err := cron.Parse(c.Schedule, c.Location, config.ParseEvery)
		if err != nil {
			return Job{}, fmt.Errorf("schedule %q: %w", c.Schedule, err)
		}
		j.Cron = s
		return j, nil
	}
	j.Interval = c.Interval.D()
	if j.Interval <= 0 {
		return Job{}, errors.New("no interval or schedule")
	}
	return j, nil
}

// period returns the job's interval, whether set directly or as @every.
func (j *Job) period() time.Duration {
	if j.Cron == nil {
		return j.Interval
	}
	return cron.Period(j.Cron)
}

// Next returns the job's first run time strictly after after, or the zero
// time if it never runs again.
func Next(j *Job, after time.Time) time.Time {
	if p := j.period(); p > 0 {
		return nextInterval(j.Name, p, after)
	}
	if j.Cron == nil {
		return time.Time{}
	}
	// cron.Parse's schedules are DST-safe in the check's location.
	return j.Cron.Next(after)
}

// NextRuns returns the job's next n run times after from (fewer if it stops).
func NextRuns(j *Job, from time.Time, n int) []time.Time {
	out := make([]time.Time, 0, max(n, 0))
	t := from
	for range n {
		t = Next(j, t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// Offset is the stable phase of a job named name within interval: FNV-1a
// of the name modulo the interval, in whole milliseconds when the interval
// allows. Checks sharing an interval are spread evenly across it, and a check
// keeps its phase across restarts and reloads. Changing this function moves
// every check's phase: keep it.
func Offset(name string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= prime64
	}
	if interval >= time.Millisecond {
		return time.Duration(h%uint64(interval/time.Millisecond)) * time.Millisecond
	}
	return time.Duration(h % uint64(interval))
}

// nextInterval returns the first time after after of the form
// k*interval + Offset(name, interval) since the Unix epoch: the slots do not
// depend on when pulse started.
func nextInterval(name string, interval time.Duration, after time.Time) time.Time {
	off := int64(Offset(name, interval))
	iv := int64(interval)
	base := after.UnixNano() - off
	k := base / iv
	if base < 0 && base%iv != 0 {
		k-- // floor division before the epoch
	}
	return time.Unix(0, (k+1)*iv+off).UTC()
}
