package report

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

type sendRecorder struct {
	got      []*notify.Message
	deadline bool
	err      error
}

func (r *sendRecorder) Name() string { return "team" }
func (r *sendRecorder) Send(ctx context.Context, m *notify.Message) error {
	_, r.deadline = ctx.Deadline()
	r.got = append(r.got, m)
	return r.err
}

func TestSendDigest(t *testing.T) {
	d := &Digest{Title: "pulse digest 2026-05-01", EndDate: "2026-05-01"}
	from := DigestSender{Agent: "edge-1", Host: "host-1", Now: time.Date(2026, 5, 2, 9, 0, 0, 0, time.UTC)}
	r := &sendRecorder{}
	if err := SendDigest(context.Background(), d, from, DigestTarget{Name: "team", Notifier: r}); err != nil {
		t.Fatal(err)
	}
	if len(r.got) != 1 || !r.deadline {
		t.Fatalf("sent %d messages, deadline %v; want 1 with a deadline", len(r.got), r.deadline)
	}
	m := r.got[0]
	if m.Agent != "edge-1" || m.Source != "host-1" || !m.SentAt.Equal(from.Now) || m.Digest == nil || m.Digest.Title != "digest 2026-05-01" {
		t.Errorf("message %+v", m)
	}
	r.err = errors.New("receiver answered 500")
	err := SendDigest(context.Background(), d, from, DigestTarget{Name: "team", Notifier: r})
	if !errors.Is(err, r.err) || !strings.HasPrefix(err.Error(), `send digest 2026-05-01 to "team": `) {
		t.Errorf("failed send: %v", err)
	}
}
