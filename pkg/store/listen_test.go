package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/pkg/store/storetest"
)

// listening starts s's outbox listener until the test ends and returns the
// notifiers it is woken with, once it listens (its first "" taken).
func listening(t testing.TB, s *Store) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	woken := make(chan string, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ListenOutbox(ctx, func(n string) { woken <- n })
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case n := <-woken:
		if n != "" {
			t.Fatalf("listener first woken with %q, want \"\"", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("listener not listening after 10s")
	}
	return woken
}

// enqueue commits an outbox row to notifier through s's writer; with fail
// set, the record's Apply fails after queuing it and its transaction is
// rolled back.
func enqueue(t testing.TB, s *Store, notifier string, fail bool) {
	t.Helper()
	errc := make(chan error, 1)
	err := s.Submit(Record{Apply: func(tx Tx) error {
		if _, err := tx.Enqueue(OutboxEntry{Notifier: notifier, DueAt: t0}); err != nil {
			return err
		}
		if fail {
			return errors.New("refused")
		}
		return nil
	}, Done: func(err error) { errc <- err }})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; (err != nil) != fail {
		t.Fatalf("record to %s: %v", notifier, err)
	}
}

func wokenWith(t testing.TB, woken <-chan string, want string) {
	t.Helper()
	select {
	case n := <-woken:
		if n != want {
			t.Fatalf("listener woken with %q, want %q", n, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("listener not woken with %q within 5s", want)
	}
}

func TestListenOutboxSQLite(t *testing.T) {
	s := openTest(t, t.TempDir()+"/pulse.db", Options{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ListenOutbox(context.Background(), func(string) { t.Error("woken on SQLite") })
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("ListenOutbox on SQLite did not return at once")
	}
}

// Two Opens of one schema are two agents: a row committed by one wakes the
// other's listener, once per notifier; a rolled-back row does not; another
// schema's listener hears nothing.
func TestListenOutbox(t *testing.T) {
	target := pgTarget(t)
	writer := openTest(t, target, Options{})
	holder := openTest(t, target, Options{})
	other := openTest(t, pgTarget(t), Options{})
	woken := listening(t, holder)
	elsewhere := listening(t, other)

	enqueue(t, writer, "ops", true) // rolled back
	enqueue(t, writer, "pager", false)
	wokenWith(t, woken, "pager")

	// One transaction, three rows to two notifiers: one wake each.
	errc := make(chan error, 1)
	if err := writer.Submit(Record{Apply: func(tx Tx) error {
		for _, n := range []string{"ops", "chat", "ops"} {
			if _, err := tx.Enqueue(OutboxEntry{Notifier: n, DueAt: t0}); err != nil {
				return err
			}
		}
		return nil
	}, Done: func(err error) { errc <- err }}); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		select {
		case n := <-woken:
			got = append(got, n)
		case <-time.After(5 * time.Second):
			t.Fatalf("woken with %q only", got)
		}
	}
	sort.Strings(got)
	if !slices.Equal(got, []string{"chat", "ops"}) {
		t.Errorf("woken with %q, want chat and ops once each", got)
	}
	// The writer's own transactions are done; anything left would have
	// arrived before the last wake.
	enqueue(t, writer, "last", false)
	wokenWith(t, woken, "last")
	select {
	case n := <-woken:
		t.Errorf("woken again with %q", n)
	default:
	}
	select {
	case n := <-elsewhere:
		t.Errorf("listener of another schema woken with %q", n)
	default:
	}
}

// The listener's connection goes through a proxy that cuts it: it connects
// again once the way is back, says "" (rows may have been missed), and
// hears the next commits.
func TestListenOutboxReconnects(t *testing.T) {
	target := pgTarget(t)
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := storetest.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	writer := openTest(t, target, Options{})
	holder := openTest(t, u.String(), Options{})
	woken := listening(t, holder)
	enqueue(t, writer, "ops", false)
	wokenWith(t, woken, "ops")

	proxy.Cut()
	enqueue(t, writer, "missed", false) // while cut: nobody listens
	time.Sleep(300 * time.Millisecond)  // a few refused attempts
	proxy.Heal()
	wokenWith(t, woken, "")
	enqueue(t, writer, "ops", false)
	wokenWith(t, woken, "ops")
}

// BenchmarkOutboxWakeLatency is the time from committing an outbox row in
// one process to the outbox listener of another being called with it (two
// Stores on one PostgreSQL schema): the part of a P1's way out that
// LISTEN/NOTIFY adds when the agent holding the notifier's channel is not
// the one that wrote the row. Measured from the call of Commit, so it
// includes the commit's own round trip. The budget is 50 ms.
func BenchmarkOutboxWakeLatency(b *testing.B) {
	target := pgTarget(b)
	writer := openTest(b, target, Options{})
	holder := openTest(b, target, Options{})
	type wake struct {
		notifier string
		at       time.Time
	}
	ctx, cancel := context.WithCancel(context.Background())
	woken := make(chan wake, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		holder.ListenOutbox(ctx, func(n string) { woken <- wake{n, time.Now()} })
	}()
	defer func() { cancel(); <-done }()
	if w := <-woken; w.notifier != "" {
		b.Fatalf("first wake %q", w.notifier)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("n%d", i)
		tx, err := writer.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := writer.wrap(tx).Enqueue(OutboxEntry{Notifier: name, DueAt: t0}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
		select {
		case w := <-woken:
			if w.notifier != name {
				b.Fatalf("woken with %q, want %q", w.notifier, name)
			}
			lat = append(lat, w.at.Sub(start))
		case <-time.After(5 * time.Second):
			b.Fatalf("not woken within 5s")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// A partition shows no error: the listener finds it by pinging a quiet
// connection, then connects again once the way is back.
func TestListenOutboxPartition(t *testing.T) {
	target := pgTarget(t)
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	idle, ping, connect := listenIdle, listenPing, listenConnect
	listenIdle, listenPing, listenConnect = 200*time.Millisecond, 300*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { listenIdle, listenPing, listenConnect = idle, ping, connect })
	proxy := storetest.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	writer := openTest(t, target, Options{})
	holder := openTest(t, u.String(), Options{})
	woken := listening(t, holder)

	proxy.Partition()
	enqueue(t, writer, "missed", false)
	time.Sleep(time.Second) // idle, the ping fails, a connect attempt or two stall
	proxy.Heal()
	wokenWith(t, woken, "")
	enqueue(t, writer, "ops", false)
	wokenWith(t, woken, "ops")
}
