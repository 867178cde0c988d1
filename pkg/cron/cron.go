// Package cron parses cron schedules and reads them on wall-clock time in a
// time zone, so that a daylight saving change neither skips nor doubles a
// run. Config validates schedules with it; the scheduler, heartbeat checks
// and maintenance windows run them.
package cron

import (
	"errors"
	"fmt"
	"strings"
	"time"

	robfig "github.com/robfig/cron/v3"
)

// Schedule is robfig/cron's: Next returns the first run time strictly after t
// (the zero time when there is none).
type Schedule = robfig.Schedule

// Parse parses a schedule: 5 fields (minute first), 6 fields (seconds
// first), or a descriptor (@daily, @hourly, @every 90s...). Field schedules
// fire in loc (UTC when nil); use each check's Location so that a daylight
// saving change neither skips nor doubles a run.
//
// every reads the duration after "@every " and rejects what the caller does
// not allow: robfig/cron takes any Go duration there and runs a negative or
// zero one every second, and pulse's duration syntax (days) and bounds are
// config's (config.ParseEvery). A nil every accepts positive Go durations.
func Parse(expr string, loc *time.Location, every func(string) (time.Duration, error)) (s Schedule, err error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("empty schedule")
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errors.New("time zone prefixes are not supported: use the timezone key")
	}
	if rest, ok := strings.CutPrefix(expr, "@every "); ok {
		if every == nil {
			every = positiveDuration
		}
		d, err := every(rest)
		if err != nil {
			return nil, err
		}
		return robfig.Every(d), nil
	}
	// robfig/cron panics on a few malformed inputs; a schedule is user input.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("invalid schedule %q", expr)
		}
	}()
	p := robfig.NewParser(robfig.SecondOptional | robfig.Minute | robfig.Hour | robfig.Dom | robfig.Month | robfig.Dow | robfig.Descriptor)
	s, err = p.Parse(expr)
	if err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	if spec, ok := s.(*robfig.SpecSchedule); ok {
		spec.Location = loc
		return &wallSchedule{spec: spec, loc: loc}, nil
	}
	return s, nil
}

// Period returns the period of an @every schedule, 0 for any other: those
// run as intervals, at a stable phase, rather than on the clock.
func Period(s Schedule) time.Duration {
	switch s := s.(type) {
	case robfig.ConstantDelaySchedule:
		return s.Delay
	case *robfig.ConstantDelaySchedule:
		return s.Delay
	}
	return 0
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("invalid duration %q: must be greater than 0", s)
	}
	return d, nil
}
