package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones must resolve on hosts without /usr/share/zoneinfo

	"github.com/robfig/cron/v3"
)

// ParseCron parses a schedule: 5 fields (minute first), 6 fields (seconds
// first), or a descriptor (@daily, @hourly, @every 90s...). Field schedules
// fire in loc (UTC when nil); use each check's Location so that a daylight
// saving change neither skips nor doubles a run.
func ParseCron(expr string, loc *time.Location) (s cron.Schedule, err error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("empty schedule")
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errors.New("time zone prefixes are not supported: use the timezone key")
	}
	// robfig/cron takes any Go duration after @every and runs a negative or
	// zero one every second; pulse reads it as it reads interval.
	if rest, ok := strings.CutPrefix(expr, "@every "); ok {
		d, err := ParseDuration(rest)
		if err != nil {
			return nil, err
		}
		if p := intervalProblem(d); p != "" {
			return nil, errors.New("the interval " + p)
		}
		return cron.Every(d), nil
	}
	// robfig/cron panics on a few malformed inputs; a schedule is user input.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("invalid schedule %q", expr)
		}
	}()
	p := cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err = p.Parse(expr)
	if err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = loc
		return &wallSchedule{spec: spec, loc: loc}, nil
	}
	return s, nil
}

// loadLocation resolves an IANA time zone name.
func loadLocation(name string) (*time.Location, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("empty time zone (use an IANA name like \"Europe/Paris\" or \"UTC\")")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (use an IANA name like \"Europe/Paris\" or \"UTC\")", name)
	}
	return loc, nil
}
