package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/cron"
)

// Announcement is one run of a [[maintenance]] window with announce = true
// that is due to be announced: in progress, or starting within the
// window's announce_before.
type Announcement struct {
	Title   string
	Message string // markdown, as configured
	Checks  []string
	Start   time.Time
	End     time.Time
	// Key identifies the window (its schedule, checks and title) and this
	// run's start: the store writes one announcement per key, however many
	// agents or restarts ask.
	Key string
}

// Text is what the announcement says, stored as markdown: the title on
// the first line (the feed's entry title), when, and the message.
func (a *Announcement) Text(loc *time.Location) string {
	var b strings.Builder
	b.WriteString(a.Title)
	b.WriteString("\n\n")
	b.WriteString(a.When(loc))
	if m := strings.TrimSpace(a.Message); m != "" {
		b.WriteString("\n\n")
		b.WriteString(m)
	}
	return b.String()
}

// When is the run's time span: "Sun 7 Dec 2026 03:00 – 04:00 UTC", or with
// both dates when it ends another day.
func (a *Announcement) When(loc *time.Location) string {
	s, e := a.Start.In(loc), a.End.In(loc)
	if s.Year() == e.Year() && s.YearDay() == e.YearDay() {
		return s.Format("Mon 2 Jan 2006 15:04") + " – " + e.Format("15:04 MST")
	}
	return s.Format("Mon 2 Jan 2006 15:04 MST") + " – " + e.Format("Mon 2 Jan 2006 15:04 MST")
}

// Announcements returns the runs of cfg's [[maintenance]] windows with
// announce = true that are due at now, one per window at most: the run in
// progress, or else the next one when it starts within announce_before.
// Schedules are read in [agent].timezone (UTC when unset), as
// NewSuppressor reads them; a window whose schedule does not parse (the
// config loader refuses those) is skipped.
func Announcements(cfg *config.Config, now time.Time) []Announcement {
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.UTC
	}
	var out []Announcement
	for i := range cfg.Maintenance {
		m := &cfg.Maintenance[i]
		if !m.Announce || m.Duration <= 0 {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(m.Schedule), "@every") {
			continue
		}
		start, _, err := WindowRun(m, loc, now)
		if err != nil || start.IsZero() || start.Sub(now) > m.AnnounceBefore.D() {
			continue
		}
		out = append(out, Announcement{Title: m.Title, Message: m.Message, Checks: m.Checks,
			Start: start, End: start.Add(m.Duration.D()), Key: announceKey(m, start)})
	}
	return out
}

// WindowRun returns the run of maintenance window m in progress at now
// (active), or else its next run; start is zero when there is none. The
// schedule is read in loc. The first start after now-duration is the one:
// in progress when it is not after now (see window.activeAt).
func WindowRun(m *config.Maintenance, loc *time.Location, now time.Time) (start time.Time, active bool, err error) {
	if m.Duration <= 0 {
		return time.Time{}, false, fmt.Errorf("maintenance %q: no duration", m.Schedule)
	}
	sched, err := cron.Parse(m.Schedule, loc, config.ParseEvery)
	if err != nil {
		return time.Time{}, false, err
	}
	start = sched.Next(now.Add(-m.Duration.D()))
	return start, !start.IsZero() && !start.After(now), nil
}

func announceKey(m *config.Maintenance, start time.Time) string {
	h := sha256.New()
	for _, s := range append([]string{m.Schedule, m.Title}, m.Checks...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "maintenance:" + hex.EncodeToString(h.Sum(nil))[:16] + ":" + start.UTC().Format(time.RFC3339)
}
