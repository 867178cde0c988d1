package notify_test

import (
	"context"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// TestResolveChannels: rows of a channel not in Notifiers go to what
// Resolve returns for it; a name it refuses is still an orphan.
func TestResolveChannels(t *testing.T) {
	sub := newReceiver(t)
	f := newFixture(t, nil)
	var asked []string
	f.disp.SetResolver(func(name string) (notify.Notifier, bool) {
		asked = append(asked, name)
		if _, ok := notify.SubscriberID(name); !ok {
			return nil, false
		}
		return &hookNotifier{name: name, url: sub.URL, now: f.clock.Now}, true
	})
	id := f.incident(t, "api", "P1")
	f.enqueue(t,
		store.OutboxEntry{Notifier: notify.SubscriberChannel(12), Item: notify.Item{Event: notify.EventSubscriberUpdate, At: t0}, DueAt: t0},
		store.OutboxEntry{Notifier: "gone", IncidentID: id, Item: item(id, "api", "P1", "opened", t0, nil), DueAt: t0})
	f.deliverAt(t, t0)
	got := sub.messages()
	if len(got) != 1 || len(got[0].Items) != 1 || got[0].Items[0].Event != notify.EventSubscriberUpdate {
		t.Fatalf("subscriber got %+v", got)
	}
	if rows := f.rows(t, id); len(rows) != 1 || rows[0].Status != store.OutboxFailed {
		t.Fatalf("row of a channel Resolve refuses: %+v", rows)
	}
	pending, err := f.st.PendingOutbox(context.Background())
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending after delivery: %+v %v", pending, err)
	}
	if len(asked) < 2 {
		t.Errorf("Resolve asked for %v", asked)
	}
}
