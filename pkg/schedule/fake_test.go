package schedule

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only when the test says so.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	stopped chan struct{} // a timer was stopped
}

type fakeTimer struct {
	c      *fakeClock
	when   time.Time
	f      func()
	active bool
}

var (
	_ Clock = (*fakeClock)(nil)
	_ Timer = (*fakeTimer)(nil)
)

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, stopped: make(chan struct{}, 1)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, when: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.when, t.active = t.c.now.Add(d), true
	return was
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	select {
	case t.c.stopped <- struct{}{}:
	default:
	}
	return was
}

// Advance moves the clock by d and fires the timers that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var fire []func()
	for _, t := range c.timers {
		if t.active && !t.when.After(c.now) {
			t.active = false
			fire = append(fire, t.f)
		}
	}
	c.mu.Unlock()
	for _, f := range fire {
		f()
	}
}

// StepBack moves the wall clock back by d, as NTP correcting a fast clock
// does; the timers keep the time they had left (the runtime's timers run
// on the monotonic clock).
func (c *fakeClock) StepBack(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(-d)
	for _, t := range c.timers {
		if t.active {
			t.when = t.when.Add(-d)
		}
	}
}

// harness runs a Scheduler on a fake clock and lets the test step it.
type harness struct {
	t      *testing.T
	clk    *fakeClock
	s      *Scheduler
	idle   chan time.Time
	cancel context.CancelFunc
	done   chan struct{}
}

// t0 is a Monday, away from any daylight-saving change.
var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newHarness(t *testing.T, limit int, run RunFunc) *harness {
	t.Helper()
	h := &harness{t: t, clk: newFakeClock(t0), idle: make(chan time.Time, 1), done: make(chan struct{})}
	h.s = New(h.clk, limit, run)
	h.s.onIdle = func(now time.Time) {
		select {
		case h.idle <- now:
		default:
			select {
			case <-h.idle:
			default:
			}
			h.idle <- now
		}
	}
	return h
}

// start runs the scheduler and waits until it has settled at the clock's
// current time.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() {
		defer close(h.done)
		h.s.Run(ctx)
	}()
	h.t.Cleanup(h.stop)
	h.settle()
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	h.cancel()
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		h.t.Fatal("Run did not return after cancel")
	}
}

// step advances the clock by d and waits until the loop has dispatched
// everything due by then.
func (h *harness) step(d time.Duration) {
	h.t.Helper()
	h.clk.Advance(d)
	h.settle()
}

// settle wakes the loop and waits until it sleeps having seen the current
// time.
func (h *harness) settle() {
	h.t.Helper()
	target := h.clk.Now()
	h.s.poke()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case now := <-h.idle:
			if !now.Before(target) {
				return
			}
		case <-deadline:
			h.t.Fatalf("scheduler did not settle at %s", target)
		}
	}
}

// quiesce waits until no run is in flight: every dispatched run has
// returned and the scheduler has noted it (not observable from inside the
// run func).
func (h *harness) quiesce() { h.quiesceExcept(0) }

// quiesceExcept waits until n dispatched runs are unfinished.
func (h *harness) quiesceExcept(n int64) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.s.pending.Load() != n {
		if time.Now().After(deadline) {
			h.t.Fatalf("%d runs still in flight, want %d", h.s.pending.Load(), n)
		}
		runtime.Gosched()
	}
}

// recv waits for one value from ch (bounded, never a fixed sleep).
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
