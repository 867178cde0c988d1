package agent

import (
	"context"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/report"
)

// digestEvery is how often the agent asks whether a daily digest is due.
const digestEvery = time.Minute

// runDigests sends the daily digest at [report].daily_at in the agent's
// timezone, once per day and per notifier even across restarts (the last
// day sent to each notifier is kept in the database), catching up on start
// when the agent was down at that time. A notifier that fails is retried
// on the next round; one that succeeded is not sent the digest again. The
// same loop announces planned maintenance (announceMaintenance).
func (a *Agent) runDigests(ctx context.Context) {
	t := time.NewTicker(digestEvery)
	defer t.Stop()
	for {
		a.sendDueDigests(ctx)
		a.announceMaintenance(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) sendDueDigests(ctx context.Context) {
	if !a.maintainer() {
		return // another agent's job now
	}
	cfg := a.Config()
	now := a.now()
	var digest *report.Digest
	for _, name := range cfg.Report.Notify {
		key := report.DailyDueKey + "." + name
		last, _, err := a.store.GetMeta(ctx, key)
		if err != nil {
			a.log.Error("daily digest: read last sent day", "notifier", name, "err", err)
			continue
		}
		day, due := report.DailyDue(last, now, cfg)
		if !due {
			continue
		}
		n := a.inc.notifier(name)
		if n == nil {
			continue // validated config: only during a reload race
		}
		if digest == nil || digest.EndDate != day {
			digest, err = report.BuildDigest(ctx, a.store, cfg, report.DigestOptions{Kind: report.Daily, Date: day, Now: now})
			if err != nil {
				a.log.Error("daily digest: build", "day", day, "err", err)
				return
			}
		}
		// One notifier at a time, its day recorded as soon as it is sent:
		// a restart meanwhile must not send it again.
		from := report.DigestSender{Agent: a.inc.name, Host: a.inc.source, Now: now}
		if err := report.SendDigest(ctx, digest, from, report.DigestTarget{Name: name, Notifier: n}); err != nil {
			a.log.Warn("daily digest not delivered; retrying in a minute", "notifier", name, "day", day, "err", err)
			continue
		}
		if err := a.store.SetMeta(ctx, key, day); err != nil {
			a.log.Error("daily digest: record sent day", "notifier", name, "err", err)
		}
		a.log.Info("daily digest sent", "notifier", name, "day", day)
	}
}

// notifier returns the configured notifier called name, or nil.
func (m *incidents) notifier(name string) notify.Notifier {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if n, ok := m.notifiers[name]; ok {
		return n
	}
	return nil
}
