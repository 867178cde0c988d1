package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/notify"
)

// clockStore opens a store on a clock the test moves.
func clockStore(t *testing.T) (*Store, *atomic.Int64, string) {
	t.Helper()
	var now atomic.Int64
	now.Store(t0.UnixMilli())
	target := testTarget(t)
	s := openTest(t, target, Options{Now: func() time.Time { return time.UnixMilli(now.Load()) }})
	return s, &now, target
}

func subscriberRows(t *testing.T, s *Store, id int64) []notify.OutboxRow {
	t.Helper()
	rows, err := s.PendingOutbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []notify.OutboxRow
	for _, r := range rows {
		if r.Notifier == notify.SubscriberChannel(id) {
			out = append(out, r)
		}
	}
	return out
}

func TestSubscribers(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)

	a, created, err := s.AddSubscriber(ctx, SubscriberEmail, "ann@example.com", false)
	if err != nil || !created || a.ID == 0 || a.Confirmed() || !a.CreatedAt.Equal(t0) {
		t.Fatalf("AddSubscriber: %+v created=%v err=%v", a, created, err)
	}
	again, created, err := s.AddSubscriber(ctx, SubscriberEmail, "ann@example.com", false)
	if err != nil || created || again.ID != a.ID {
		t.Fatalf("AddSubscriber again: %+v created=%v err=%v, want id %d not created", again, created, err, a.ID)
	}
	h, created, err := s.AddSubscriber(ctx, SubscriberWebhook, "https://hooks.example.com/x", true)
	// Adding again took no id: ids people see do not skip.
	if err != nil || !created || !h.Confirmed() || h.Kind != SubscriberWebhook || h.ID != a.ID+1 {
		t.Fatalf("AddSubscriber webhook: %+v %v %v", h, created, err)
	}
	// The same address as another kind is another subscriber.
	if o, created, err := s.AddSubscriber(ctx, SubscriberWebhook, "ann@example.com", true); err != nil || !created || o.ID == a.ID {
		t.Fatalf("same address, other kind: %+v %v %v", o, created, err)
	}
	if _, _, err := s.AddSubscriber(ctx, "sms", "+331234", false); err == nil {
		t.Fatal("kind sms accepted")
	}

	list, err := s.Subscribers(ctx)
	if err != nil || len(list) != 3 || list[0].ID != a.ID || list[1].ID != h.ID {
		t.Fatalf("Subscribers: %+v %v", list, err)
	}

	c, err := s.ConfirmSubscriber(ctx, a.ID)
	if err != nil || !c.Confirmed() || c.Address != "ann@example.com" {
		t.Fatalf("ConfirmSubscriber: %+v %v", c, err)
	}
	if c2, err := s.ConfirmSubscriber(ctx, a.ID); err != nil || !c2.ConfirmedAt.Equal(c.ConfirmedAt) {
		t.Fatalf("ConfirmSubscriber twice: %+v %v", c2, err)
	}
	if got, err := s.Subscriber(ctx, a.ID); err != nil || !got.Confirmed() {
		t.Fatalf("Subscriber: %+v %v", got, err)
	}
	if _, err := s.ConfirmSubscriber(ctx, 9999); !errors.Is(err, ErrNoSubscriber) {
		t.Fatalf("confirm unknown: %v", err)
	}

	// Removing retires what is queued for it.
	if _, err := s.AddUpdate(ctx, Update{At: t0, Status: "scheduled", Message: "slow", Public: true}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.FanOutUpdates(ctx, 10); err != nil || n != 3 {
		t.Fatalf("FanOutUpdates: %d %v, want 3", n, err)
	}
	if r, err := s.RemoveSubscriber(ctx, a.ID); err != nil || r.Address != "ann@example.com" {
		t.Fatalf("RemoveSubscriber: %+v %v", r, err)
	}
	if rows := subscriberRows(t, s, a.ID); len(rows) != 0 {
		t.Errorf("rows of a removed subscriber still pending: %+v", rows)
	}
	if rows := subscriberRows(t, s, h.ID); len(rows) != 1 {
		t.Errorf("the other subscriber's row: %+v", rows)
	}
	if _, err := s.RemoveSubscriber(ctx, a.ID); !errors.Is(err, ErrNoSubscriber) {
		t.Fatalf("remove twice: %v", err)
	}
	if _, err := s.Subscriber(ctx, a.ID); !errors.Is(err, ErrNoSubscriber) {
		t.Fatalf("Subscriber after remove: %v", err)
	}
}

func TestSubscribeEmail(t *testing.T) {
	ctx := context.Background()
	s, now, _ := clockStore(t)
	if err := s.SubscribeEmail(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	list, _ := s.Subscribers(ctx)
	if len(list) != 1 || list[0].Confirmed() {
		t.Fatalf("subscribers: %+v", list)
	}
	id := list[0].ID
	rows := subscriberRows(t, s, id)
	if len(rows) != 1 || rows[0].Event != notify.EventSubscriberConfirm || rows[0].IncidentID != 0 || rows[0].Batchable {
		t.Fatalf("opt-in rows: %+v", rows)
	}
	// Posting the form again within the hour queues no second mail.
	now.Add((30 * time.Minute).Milliseconds())
	if err := s.SubscribeEmail(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if rows := subscriberRows(t, s, id); len(rows) != 1 {
		t.Fatalf("second sign-up within the hour queued %d rows, want 1", len(rows))
	}
	now.Add((31 * time.Minute).Milliseconds())
	if err := s.SubscribeEmail(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if rows := subscriberRows(t, s, id); len(rows) != 2 {
		t.Fatalf("sign-up after an hour queued %d rows in all, want 2", len(rows))
	}
	// A new opt-in mail restarts the sign-up's clock.
	if list, _ := s.Subscribers(ctx); !list[0].CreatedAt.Equal(time.UnixMilli(now.Load())) {
		t.Errorf("created_at %v not refreshed by the second opt-in mail", list[0].CreatedAt)
	}
	// A confirmed address gets no opt-in mail.
	if _, err := s.ConfirmSubscriber(ctx, id); err != nil {
		t.Fatal(err)
	}
	now.Add((2 * time.Hour).Milliseconds())
	if err := s.SubscribeEmail(ctx, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	if rows := subscriberRows(t, s, id); len(rows) != 2 {
		t.Fatalf("sign-up of a confirmed address queued a row: %d", len(rows))
	}
}

func TestFanOutUpdates(t *testing.T) {
	ctx := context.Background()
	s, now, _ := clockStore(t)
	inc := openIncident(t, s, "api", "P1", t0)
	ann, _, _ := s.AddSubscriber(ctx, SubscriberEmail, "ann@example.com", true)
	hook, _, _ := s.AddSubscriber(ctx, SubscriberWebhook, "https://hooks.example.com/x", true)
	pending, _, _ := s.AddSubscriber(ctx, SubscriberEmail, "pending@example.com", false)

	// Before any fan-out: history older than an hour is not sent.
	if _, err := s.AddUpdate(ctx, Update{IncidentID: inc, At: t0.Add(-2 * time.Hour), Status: "investigating", Message: "old", Public: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUpdate(ctx, Update{IncidentID: inc, At: t0, Status: "identified", Message: "internal only", Public: false}); err != nil {
		t.Fatal(err)
	}
	uid, err := s.AddUpdate(ctx, Update{IncidentID: inc, At: t0, Status: "identified", Message: "<b>DB</b> failover", Public: true, Author: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.FanOutUpdates(ctx, 10)
	if err != nil || n != 2 {
		t.Fatalf("FanOutUpdates: %d %v, want 2 (two confirmed subscribers, one public update)", n, err)
	}
	for _, id := range []int64{ann.ID, hook.ID} {
		rows := subscriberRows(t, s, id)
		if len(rows) != 1 {
			t.Fatalf("subscriber %d: %d rows, want 1", id, len(rows))
		}
		it := rows[0].Item
		if rows[0].Event != notify.EventSubscriberUpdate || rows[0].IncidentID != 0 ||
			it.Incident.ID != inc || it.Incident.Status != "identified" || it.Incident.Message != "<b>DB</b> failover" ||
			it.Check.Name != "api" || !it.At.Equal(t0) || it.Incident.Key != fmt.Sprintf("update-%d", uid) || it.Note != "" {
			t.Errorf("subscriber %d: row %+v", id, rows[0])
		}
	}
	if rows := subscriberRows(t, s, pending.ID); len(rows) != 0 {
		t.Errorf("unconfirmed subscriber got %d rows", len(rows))
	}
	if v, ok, _ := s.GetMeta(ctx, MetaFannedOut); !ok || v != fmt.Sprint(uid) {
		t.Errorf("cursor %q %v, want %d", v, ok, uid)
	}
	// Nothing new: nothing queued.
	if n, err := s.FanOutUpdates(ctx, 10); err != nil || n != 0 {
		t.Fatalf("second FanOutUpdates: %d %v", n, err)
	}
	// A maintenance announcement (no incident) goes out too.
	if _, err := s.AddUpdate(ctx, Update{At: t0, Status: "scheduled", Message: "db upgrade", Public: true, DedupKey: "m1"}); err != nil {
		t.Fatal(err)
	}
	now.Add(time.Minute.Milliseconds())
	if n, err := s.FanOutUpdates(ctx, 10); err != nil || n != 2 {
		t.Fatalf("announcement fan-out: %d %v", n, err)
	}
	rows := subscriberRows(t, s, ann.ID)
	if it := rows[len(rows)-1].Item; it.Incident.ID != 0 || it.Check.Name != "" || it.Incident.Message != "db upgrade" {
		t.Errorf("announcement item %+v", it)
	}
}

func TestFanOutRateLimit(t *testing.T) {
	ctx := context.Background()
	s, now, _ := clockStore(t)
	sub, _, _ := s.AddSubscriber(ctx, SubscriberEmail, "ann@example.com", true)
	// Start the cursor.
	if _, err := s.FanOutUpdates(ctx, 3); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.AddUpdate(ctx, Update{At: t0, Status: "scheduled", Message: fmt.Sprint("u", i), Public: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.FanOutUpdates(ctx, 3); err != nil || n != 3 {
		t.Fatalf("FanOutUpdates: %d %v, want 3 (the limit)", n, err)
	}
	rows := subscriberRows(t, s, sub.ID)
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	for i, r := range rows {
		if r.Item.Incident.Message != fmt.Sprint("u", i) {
			t.Errorf("row %d: message %q", i, r.Item.Incident.Message)
		}
		if last := i == 2; last != strings.Contains(r.Item.Note, "last update sent to you this hour") {
			t.Errorf("row %d: note %q", i, r.Item.Note)
		}
	}
	// Within the hour: skipped, not queued for later.
	now.Add((30 * time.Minute).Milliseconds())
	s.AddUpdate(ctx, Update{At: t0, Status: "scheduled", Message: "u5", Public: true})
	if n, err := s.FanOutUpdates(ctx, 3); err != nil || n != 0 {
		t.Fatalf("within the hour: %d %v, want 0", n, err)
	}
	// An hour after the first: room again.
	now.Add((31 * time.Minute).Milliseconds())
	s.AddUpdate(ctx, Update{At: t0, Status: "scheduled", Message: "u6", Public: true})
	if n, err := s.FanOutUpdates(ctx, 3); err != nil || n != 1 {
		t.Fatalf("after the hour: %d %v, want 1", n, err)
	}
	rows = subscriberRows(t, s, sub.ID)
	if got := rows[len(rows)-1].Item.Incident.Message; got != "u6" {
		t.Errorf("last row %q, want u6", got)
	}
}

// TestFanOutConcurrent runs fan-outs from two stores on one database (two
// agents) while updates are written: each update reaches each subscriber
// exactly once.
func TestFanOutConcurrent(t *testing.T) {
	ctx := context.Background()
	s, _, target := clockStore(t)
	s2 := openTest(t, target, Options{Now: func() time.Time { return t0 }})
	const subs, updates = 3, 30
	for i := range subs {
		if _, _, err := s.AddSubscriber(ctx, SubscriberWebhook, fmt.Sprintf("https://h.example.com/%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.FanOutUpdates(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 8)
	for _, st := range []*Store{s, s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := st.FanOutUpdates(ctx, 1000); err != nil {
					errs <- err
					return
				}
				// A pause as between the agent's rounds (3 s there): two
				// SQLite writers in a tight loop can starve a third past
				// its busy timeout, which is not what this test is about.
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
	}
	for i := range updates {
		w := s
		if i%2 == 1 {
			w = s2
		}
		if _, err := w.AddUpdate(ctx, Update{At: t0, Status: "scheduled", Message: fmt.Sprint(i), Public: true}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := s.FanOutUpdates(ctx, 1000); err != nil {
		t.Fatal(err)
	}
	if n := count(t, s, `SELECT count(*) FROM outbox WHERE notifier LIKE 'subscriber/%'`); n != subs*updates {
		t.Errorf("%d rows, want %d", n, subs*updates)
	}
	if n := count(t, s, `SELECT count(*) FROM (SELECT notifier, item FROM outbox GROUP BY notifier, item HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d updates fanned out twice", n)
	}
}

// BenchmarkFanOut: one public update to 1,000 confirmed subscribers (one
// transaction: the cursor, the rate-limit counts and 1,000 outbox rows).
func BenchmarkFanOut(b *testing.B) {
	ctx := context.Background()
	var now atomic.Int64
	now.Store(t0.UnixMilli())
	s := openTest(b, testTarget(b), Options{Now: func() time.Time { return time.UnixMilli(now.Load()) }})
	const subs = 1000
	for i := range subs {
		if _, _, err := s.AddSubscriber(ctx, SubscriberWebhook, fmt.Sprintf("https://h.example.com/%d", i), true); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := s.FanOutUpdates(ctx, 10); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// An hour apart: the rate limit never skips.
		now.Add(time.Hour.Milliseconds())
		if _, err := s.AddUpdate(ctx, Update{At: time.UnixMilli(now.Load()), Status: "scheduled", Message: "m", Public: true}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := s.FanOutUpdates(ctx, 10); err != nil || n != subs {
			b.Fatalf("FanOutUpdates: %d %v", n, err)
		}
	}
}

func TestUnconfirmedForgotten(t *testing.T) {
	ctx := context.Background()
	s, now, _ := clockStore(t)
	if err := s.SubscribeEmail(ctx, "old@example.com"); err != nil {
		t.Fatal(err)
	}
	conf, _, _ := s.AddSubscriber(ctx, SubscriberEmail, "kept@example.com", true)
	now.Add((6 * 24 * time.Hour).Milliseconds())
	if err := s.SubscribeEmail(ctx, "new@example.com"); err != nil {
		t.Fatal(err)
	}
	now.Add((24*time.Hour + time.Minute).Milliseconds())
	if _, err := s.FanOutUpdates(ctx, 10); err != nil {
		t.Fatal(err)
	}
	list, _ := s.Subscribers(ctx)
	var got []string
	for _, sub := range list {
		got = append(got, sub.Address)
	}
	if len(list) != 2 || list[0].ID != conf.ID || list[1].Address != "new@example.com" {
		t.Errorf("after 7 days: %v, want kept@ and new@ (old@ never confirmed)", got)
	}
}

// TestFanOutRateLimitManySubscribers: the hourly counts are read 500
// channels a query; every subscriber's count is found.
func TestFanOutRateLimitManySubscribers(t *testing.T) {
	ctx := context.Background()
	s, _, _ := clockStore(t)
	const subs = outboxChunk + 100
	for i := range subs {
		if _, _, err := s.AddSubscriber(ctx, SubscriberWebhook, fmt.Sprintf("https://h.example.com/%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.FanOutUpdates(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for round, want := range []int{subs, 0} {
		if _, err := s.AddUpdate(ctx, Update{At: t0, Status: "scheduled", Message: fmt.Sprint(round), Public: true}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.FanOutUpdates(ctx, 1); err != nil || n != want {
			t.Fatalf("round %d: %d %v, want %d", round, n, err, want)
		}
	}
}
