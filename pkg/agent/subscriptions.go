package agent

import (
	"context"
	"errors"
	"time"

	"github.com/pulse-monitor/pulse/pkg/config"
	"github.com/pulse-monitor/pulse/pkg/notify"
	"github.com/pulse-monitor/pulse/pkg/notify/email"
	"github.com/pulse-monitor/pulse/pkg/notify/subscribers"
	"github.com/pulse-monitor/pulse/pkg/store"
)

// fanOutEvery is how often public incident updates are queued for the
// status page's subscribers: an update written with `pulse incidents
// update --public` reaches them within a few seconds.
const fanOutEvery = 3 * time.Second

// subscriberResolver returns the dispatcher's resolver of subscriber
// channels under cfg (nil while subscriptions are off). ns are the
// configured notifiers: the email one named by email_notifier carries
// subscriber mail.
func (m *incidents) subscriberResolver(cfg *config.Config, ns map[string]notify.Notifier) func(string) (notify.Notifier, bool) {
	sc := cfg.Subscriptions
	if !sc.Enabled || cfg.Agent.AckKey == "" {
		return nil
	}
	var mailer subscribers.Mailer
	if en, ok := ns[sc.EmailNotifier].(*email.Notifier); ok {
		mailer = en
	}
	st := m.d.store
	s := subscribers.New(subscribers.Options{
		Lookup: func(ctx context.Context, id int64) (subscribers.Subscriber, error) {
			sub, err := st.Subscriber(ctx, id)
			if errors.Is(err, store.ErrNoSubscriber) {
				return subscribers.Subscriber{}, subscribers.ErrGone
			}
			if err != nil {
				return subscribers.Subscriber{}, err
			}
			return subscribers.Subscriber{ID: sub.ID, Kind: sub.Kind, Address: sub.Address, Confirmed: sub.Confirmed()}, nil
		},
		Mailer: mailer, Key: []byte(cfg.Agent.AckKey.Reveal()), PublicURL: cfg.Agent.PublicURL,
		Title:   cfg.Agent.StatusPageTitle,
		Options: notify.Options{Logger: m.d.log, Now: m.d.now, Agent: m.name, Host: m.source},
	})
	return s.Resolve
}

// fanOutLoop queues public updates for subscribers every fanOutEvery.
func (a *Agent) fanOutLoop(ctx context.Context) {
	t := time.NewTicker(fanOutEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.fanOut(ctx)
	}
}

// fanOut runs one fan-out: on the maintainer only when agents share a
// database, and fenced by its lease, so that an agent that lost the lease
// meanwhile writes nothing (FanOutUpdates also serialises concurrent
// fan-outs itself).
func (a *Agent) fanOut(ctx context.Context) (int, error) {
	cfg := a.Config()
	if !cfg.Subscriptions.Enabled || a.inc == nil {
		return 0, nil
	}
	if a.cl != nil {
		t, ok := a.cl.Maintainer()
		if !ok {
			return 0, nil // another agent's job now
		}
		ctx = store.WithFence(ctx, store.Fence{Lease: t.Name, Owner: t.Owner, Epoch: t.Epoch})
	}
	n, err := a.store.FanOutUpdates(ctx, cfg.Subscriptions.MaxPerHour)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("queue updates for subscribers", "err", err)
		}
		return 0, err
	}
	if n > 0 {
		a.log.Info("updates queued for subscribers", "messages", n)
		a.inc.disp.Wake()
	}
	return n, nil
}
