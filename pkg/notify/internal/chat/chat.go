// Package chat holds the wording the chat notifiers (Slack, Discord,
// Mattermost, Google Chat, Teams, Telegram) share, so that an incident
// reads the same in every channel.
// Markup and escaping stay in each notifier: every service's differs.
package chat

import (
	"github.com/pulse-monitor/pulse/pkg/alert"
	"github.com/pulse-monitor/pulse/pkg/notify"
)

// Title is "P1 OPEN api-health", or "RESOLVED api-health" for a resolve
// (a resolve's severity no longer matters to whoever reads it).
func Title(it notify.Item) string {
	t := notify.EventLabel(it.Event) + " " + it.Check.Name
	if it.Event != alert.DeliverResolved && it.Incident.Severity != "" {
		t = it.Incident.Severity + " " + t
	}
	return t
}

// CheckLabel is "api-health (http)", or the name alone without a type.
func CheckLabel(c notify.Check) string {
	if c.Type == "" {
		return c.Name
	}
	return c.Name + " (" + c.Type + ")"
}

// Icon is the emoji that says at a glance what happened.
func Icon(it notify.Item) string {
	switch it.Event {
	case alert.DeliverResolved:
		return "✅"
	case alert.DeliverAcknowledged:
		return "👀"
	case alert.DeliverFlapping:
		return "🔁"
	case notify.EventTest:
		return "👋"
	}
	switch it.Incident.Severity {
	case "P1":
		return "🔴"
	case "P2":
		return "🟠"
	case "P3":
		return "🟡"
	}
	return "🔵"
}

// Color is the RGB colour of an item: by severity while open, green once
// resolved, grey when acknowledged.
func Color(it notify.Item) int {
	switch it.Event {
	case alert.DeliverResolved:
		return 0x2E7D32
	case alert.DeliverAcknowledged:
		return 0x607D8B
	case alert.DeliverFlapping:
		return 0x8E24AA
	case notify.EventTest:
		return ColorInfo
	}
	switch it.Incident.Severity {
	case "P1":
		return 0xD32F2F
	case "P2":
		return 0xF57C00
	case "P3":
		return 0xFBC02D
	}
	return 0x1976D2
}

// ColorInfo colours what is not an incident: tests, digests, counts.
const ColorInfo = 0x5865F2
