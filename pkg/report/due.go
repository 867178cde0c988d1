package report

import (
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
)

// DailyDueKey is the store meta key under which the agent keeps the last day
// whose digest it sent.
const DailyDueKey = "report.daily.last"

// DailyDue says whether the agent should send a daily digest now, and of
// which day. lastSent is the last day sent ("" when never). At or after
// [report].daily_at the digest of yesterday is due unless already sent;
// before it, an agent that was down at yesterday's daily_at catches up with
// the digest of the day before yesterday. Never due without [report].notify.
func DailyDue(lastSent string, now time.Time, cfg *config.Config) (day string, due bool) {
	if len(cfg.Report.Notify) == 0 {
		return "", false
	}
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.UTC
	}
	at, err := config.ParseClock(cfg.Report.DailyAt)
	if err != nil {
		at, _ = config.ParseClock(config.DefaultDailyAt)
	}
	n := now.In(loc)
	// time.Date with the wall clock, not midnight plus a duration, so that
	// 09:00 stays 09:00 on a daylight-saving day.
	sendAt := time.Date(n.Year(), n.Month(), n.Day(), int(at/time.Hour), int(at%time.Hour/time.Minute), 0, 0, loc)
	yesterday := time.Date(n.Year(), n.Month(), n.Day()-1, 12, 0, 0, 0, loc).Format(DateLayout)
	if !now.Before(sendAt) {
		return yesterday, lastSent < yesterday
	}
	if lastSent == "" {
		return "", false // a new agent starts with the next daily_at
	}
	before := time.Date(n.Year(), n.Month(), n.Day()-2, 12, 0, 0, 0, loc).Format(DateLayout)
	return before, lastSent < before
}
