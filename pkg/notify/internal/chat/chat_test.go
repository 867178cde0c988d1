package chat

import (
	"testing"

	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/internal/notifytest"
)

func TestWording(t *testing.T) {
	tests := []struct {
		event, sev, title, icon string
		color                   int
	}{
		{alert.DeliverOpened, "P1", "P1 OPEN api-health", "🔴", 0xD32F2F},
		{alert.DeliverOpened, "P2", "P2 OPEN api-health", "🟠", 0xF57C00},
		{alert.DeliverEscalated, "P3", "P3 ESCALATED api-health", "🟡", 0xFBC02D},
		{alert.DeliverReminder, "P4", "P4 REMINDER api-health", "🔵", 0x1976D2},
		{alert.DeliverAcknowledged, "P1", "P1 ACK api-health", "👀", 0x607D8B},
		{alert.DeliverResolved, "P1", "RESOLVED api-health", "✅", 0x2E7D32},
		{alert.DeliverFlapping, "P2", "P2 FLAPPING api-health", "🔁", 0x8E24AA},
		{notify.EventTest, "", "TEST api-health", "👋", ColorInfo},
	}
	for _, tt := range tests {
		it := notifytest.Item(tt.event)
		it.Incident.Severity = tt.sev
		if got := Title(it); got != tt.title {
			t.Errorf("%s %s: Title = %q, want %q", tt.event, tt.sev, got, tt.title)
		}
		if got := Icon(it); got != tt.icon {
			t.Errorf("%s %s: Icon = %q, want %q", tt.event, tt.sev, got, tt.icon)
		}
		if got := Color(it); got != tt.color {
			t.Errorf("%s %s: Color = %#x, want %#x", tt.event, tt.sev, got, tt.color)
		}
	}
	if got := CheckLabel(notify.Check{Name: "db"}); got != "db" {
		t.Errorf("CheckLabel without type = %q", got)
	}
	if got := CheckLabel(notifytest.Check()); got != "api-health (http)" {
		t.Errorf("CheckLabel = %q", got)
	}
}
