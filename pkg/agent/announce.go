package agent

import (
	"context"
	"time"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// announceMaintenance writes the announcements of the [[maintenance]]
// windows with announce = true that are due (alert.Announcements): one per
// run of a window, however many agents share the database or how often it
// restarts (the store writes each key once). Only the maintainer does it,
// from the digests' loop, once a minute.
func (a *Agent) announceMaintenance(ctx context.Context) {
	if !a.maintainer() {
		return // another agent's job now
	}
	cfg := a.Config()
	now := a.now()
	loc := cfg.Agent.Location
	if loc == nil {
		loc = time.UTC
	}
	for _, an := range alert.Announcements(cfg, now) {
		_, isNew, err := a.store.AnnounceMaintenance(ctx, store.Update{At: now, Status: alert.UpdateScheduled,
			Message: an.Text(loc), Public: true, Author: "pulse", DedupKey: an.Key})
		if err != nil {
			if ctx.Err() == nil {
				a.log.Error("announce maintenance; retrying in a minute", "title", an.Title, "start", an.Start, "err", err)
			}
			continue
		}
		if isNew {
			a.log.Info("maintenance announced", "title", an.Title, "start", an.Start, "end", an.End)
		}
	}
}
