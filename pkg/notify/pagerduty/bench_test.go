package pagerduty

import (
	"encoding/json"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

// BenchmarkRender is the payload rendering of one notification: the Events
// API v2 events of a message and their JSON, without the HTTP request. A
// batch of 20 opened incidents is what a P2 channel gets after an outage.
func BenchmarkRender(b *testing.B) {
	batch := make([]notify.Item, 20)
	for i := range batch {
		batch[i] = notifytest.Item(alert.DeliverOpened)
		batch[i].Incident.ID = int64(100 + i)
	}
	for _, bc := range []struct {
		name string
		m    *notify.Message
	}{
		{"trigger", notifytest.Message(notifytest.Item(alert.DeliverOpened))},
		{"resolve", notifytest.Message(notifytest.Item(alert.DeliverResolved))},
		{"batch-20", notifytest.Message(batch...)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				evs, err := Events(bc.m, "R0UT1NGKEY", notify.Options{})
				if err != nil {
					b.Fatal(err)
				}
				for i := range evs {
					if _, err := json.Marshal(&evs[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
