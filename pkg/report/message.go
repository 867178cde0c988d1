package report

import (
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/ui"
)

// Message wraps d for the notifiers: every rendering, the text one without
// colour, and a one-paragraph summary for chat.
func Message(d *Digest, agent, source string, now time.Time) *notify.Message {
	return &notify.Message{
		Agent:  agent,
		Source: source,
		SentAt: now.UTC(),
		Items:  []notify.Item{},
		Digest: &notify.Digest{
			Title:    strings.TrimPrefix(d.Title, "pulse "),
			Date:     d.EndDate,
			Text:     d.Text(ui.NewStyles(false)),
			Markdown: d.Markdown(),
			HTML:     d.HTML(),
			Summary:  d.SummaryLine(),
		},
	}
}
