package report

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

// DigestSendTimeout bounds the delivery of a digest to one notifier.
const DigestSendTimeout = 2 * time.Minute

// DigestTarget is one notifier of [report].notify, by its config name.
type DigestTarget struct {
	Name     string
	Notifier notify.Notifier
}

// DigestSender is who sends a digest, and when: the message's agent and
// source (host) names and send time.
type DigestSender struct {
	Agent string
	Host  string
	Now   time.Time
}

// SendDigest delivers d to one notifier within DigestSendTimeout. Its
// error names the digest and the notifier: send digest 2026-05-01 to "team": ...
// It is the one way a digest leaves pulse: `pulse report --send` and the
// agent's daily digest both call it, one notifier at a time (the agent
// records each notifier's day as soon as it is sent).
func SendDigest(ctx context.Context, d *Digest, from DigestSender, to DigestTarget) error {
	ctx, cancel := context.WithTimeout(ctx, DigestSendTimeout)
	defer cancel()
	if err := to.Notifier.Send(ctx, Message(d, from.Agent, from.Host, from.Now)); err != nil {
		return fmt.Errorf("send %s to %q: %w", strings.TrimPrefix(d.Title, "pulse "), to.Name, err)
	}
	return nil
}
