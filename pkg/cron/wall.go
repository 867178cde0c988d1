package cron

import (
	"time"

	robfig "github.com/robfig/cron/v3"
)

// robfig/cron's SpecSchedule.Next walks local time with AddDate and Add(hour)
// and mishandles daylight-saving changes: around a spring-forward gap it can
// return a time before its argument or skip a day, and in a repeated
// fall-back hour it fires twice. Here the schedule is evaluated on wall-clock
// times, where there are no gaps or repeats (robfig's own Next in UTC), and
// each wall time is then mapped to an instant in the job's location:
//
//   - Schedules with fixed hours ("30 2 * * *", "@daily", "0 9-17 * * 1-5")
//     run once per matching wall time: in a repeated hour at its first
//     occurrence only, and a time that falls in a spring-forward gap at the
//     first instant after the gap (several gap times collapse into that one
//     run).
//   - Schedules that fire every hour ("*/5 * * * *", "15 * * * *") are
//     periods, not appointments: they run whenever the local clock matches,
//     so a fall-back hour is covered twice and a gap is not made up for, and
//     the real time between runs stays the period. This is Vixie cron's rule
//     for wildcard jobs; without it an every-five-minutes check would go
//     silent for an hour every autumn.

const allHours = 1<<24 - 1

// wallSchedule is a field schedule read in a time zone with the rules above.
// Parse returns it, so the scheduler and maintenance windows alike get
// a Next that neither skips nor doubles a run around a clock change.
type wallSchedule struct {
	spec *robfig.SpecSchedule
	loc  *time.Location
}

// Next returns the first run time strictly after t.
func (w *wallSchedule) Next(t time.Time) time.Time { return nextSpec(w.spec, w.loc, t) }

// nextSpec is s.Next(after) in loc with the daylight-saving rules above.
func nextSpec(s *robfig.SpecSchedule, loc *time.Location, after time.Time) time.Time {
	wall := *s
	wall.Location = time.UTC
	if loc == time.UTC {
		return wall.Next(after)
	}
	if s.Hour&allHours == allHours {
		return nextMatching(&wall, loc, after)
	}
	return firstAtOrAfter(wall.Next(highWater(after, loc)), loc)
}

// wallOf returns the wall clock of t in a zone of offset off seconds, as a
// UTC time with those fields.
func wallOf(t time.Time, off int) time.Time {
	return t.Add(time.Duration(off) * time.Second).UTC()
}

// nextMatching returns the first instant after after whose wall clock in
// loc matches wall. Within one zone period the offset is constant, so the
// search is robfig's in wall time; at a zone change it restarts in the next
// period.
func nextMatching(wall *robfig.SpecSchedule, loc *time.Location, after time.Time) time.Time {
	from, probe := after, after
	for range 64 { // each pass crosses one zone change; the schedule's own limit is 5 years
		lt := probe.In(loc)
		_, off := lt.Zone()
		_, end := lt.ZoneBounds()
		w := wall.Next(wallOf(from, off))
		if w.IsZero() {
			return time.Time{}
		}
		t := w.Add(-time.Duration(off) * time.Second)
		if end.IsZero() || t.Before(end) {
			return t
		}
		from, probe = end.Add(-time.Nanosecond), end
	}
	return time.Time{}
}

// highWater returns the latest wall clock in loc shown at or before after.
// It is after's own wall clock except during a repeated hour, when the
// clock already showed later times before it was set back.
func highWater(after time.Time, loc *time.Location) time.Time {
	lt := after.In(loc)
	_, off := lt.Zone()
	w := wallOf(after, off)
	start, _ := lt.ZoneBounds()
	if start.IsZero() {
		return w
	}
	before := start.Add(-time.Nanosecond)
	_, poff := before.In(loc).Zone()
	if pw := wallOf(before, poff); pw.After(w) {
		return pw
	}
	return w
}

// firstAtOrAfter returns the first instant at which loc's wall clock shows w
// or later: w's instant when w occurs once, its first occurrence when it
// repeats, and the end of the gap when the clock skips it.
func firstAtOrAfter(w time.Time, loc *time.Location) time.Time {
	if w.IsZero() {
		return w
	}
	// UTC offsets lie within ±14h, so the answer's zone period overlaps
	// [w-15h, w+15h] read as UTC; periods are visited in time order and
	// the first that reaches w holds the answer.
	hi := w.Add(15 * time.Hour)
	p := w.Add(-15 * time.Hour)
	for range 8 {
		lt := p.In(loc)
		_, off := lt.Zone()
		start, end := lt.ZoneBounds()
		t := w.Add(-time.Duration(off) * time.Second)
		switch {
		case !start.IsZero() && t.Before(start):
			return start // the clock jumped past w when this period began
		case end.IsZero() || t.Before(end):
			return t
		}
		if end.After(hi) {
			break
		}
		p = end
	}
	return time.Time{}
}
