package slack

import (
	"encoding/json"
	"testing"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

// BenchmarkRender is the payload rendering of one Slack message (blocks and
// text fallback) and its JSON, without the HTTP request. A batch of 20
// opened incidents is what a P2 channel gets after an outage.
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
		{"opened", notifytest.Message(notifytest.Item(alert.DeliverOpened))},
		{"resolved", notifytest.Message(notifytest.Item(alert.DeliverResolved))},
		{"batch-20", notifytest.Message(batch...)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p := Render(bc.m, "ops", notify.Options{})
				if _, err := json.Marshal(&p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
