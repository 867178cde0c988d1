package schedule

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type runRec struct {
	name      string
	scheduled time.Time
	started   time.Time
}

// recorder is a RunFunc that records runs; runs of names in block wait on
// release before returning.
type recorder struct {
	clk     Clock
	mu      sync.Mutex
	runs    []runRec
	done    chan runRec
	block   map[string]bool
	release chan struct{}
	started chan string

	inFlight, maxInFlight atomic.Int64
}

func newRecorder(clk Clock, block ...string) *recorder {
	r := &recorder{clk: clk, done: make(chan runRec, 1<<17), block: map[string]bool{},
		release: make(chan struct{}), started: make(chan string, 1<<17)}
	for _, b := range block {
		r.block[b] = true
	}
	return r
}

func (r *recorder) run(ctx context.Context, j *Job, scheduled time.Time) {
	n := r.inFlight.Add(1)
	for {
		m := r.maxInFlight.Load()
		if n <= m || r.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	rec := runRec{name: j.Name, scheduled: scheduled, started: r.clk.Now()}
	r.started <- j.Name
	r.mu.Lock()
	blocked := r.block[j.Name] || r.block["*"]
	r.mu.Unlock()
	if blocked {
		<-r.release
	}
	r.mu.Lock()
	r.runs = append(r.runs, rec)
	r.mu.Unlock()
	r.inFlight.Add(-1)
	r.done <- rec
}

// wait collects n finished runs.
func (r *recorder) wait(t *testing.T, n int) []runRec {
	t.Helper()
	out := make([]runRec, 0, n)
	for range n {
		out = append(out, recv(t, r.done, "a run to finish"))
	}
	return out
}

func names(rs []runRec) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.name
	}
	slices.Sort(out)
	return out
}

// TestSchedulerHeapOrder runs 2,000 jobs with mixed intervals through a
// single worker for two minutes of fake time: every run happens at exactly
// its Next time, none is missed or early, and dispatch follows due order.
func TestSchedulerHeapOrder(t *testing.T) {
	const n = 2000
	h := newHarness(t, 1, nil)
	rec := newRecorder(h.clk)
	h.s.run = rec.run
	rng := rand.New(rand.NewPCG(1, 2))
	intervals := []time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 90 * time.Second}
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = Job{Name: fmt.Sprintf("job-%04d", i), Interval: intervals[rng.IntN(len(intervals))], Key: "k"}
	}
	h.s.Set(jobs)
	h.start()
	end := t0.Add(2 * time.Minute)
	want := 0
	for i := range jobs {
		for x := Next(&jobs[i], t0); !x.After(end); x = Next(&jobs[i], x) {
			want++
		}
	}
	got := 0
	for h.clk.Now().Before(end) {
		h.step(250 * time.Millisecond)
		h.quiesce()
		got = int(h.s.Stats().Started)
	}
	runs := rec.wait(t, got)
	if got != want {
		t.Fatalf("started %d runs, want %d", got, want)
	}
	last := map[string]time.Time{}
	for i, r := range runs {
		if i > 0 && r.scheduled.Before(runs[i-1].scheduled) {
			t.Fatalf("run %d (%s at %s) dispatched after a later one (%s)", i, r.name, r.scheduled, runs[i-1].scheduled)
		}
		j := &jobs[nameIndex(r.name)]
		prev, ok := last[r.name]
		if !ok {
			prev = t0
		}
		if w := Next(j, prev); !r.scheduled.Equal(w) {
			t.Fatalf("%s ran for %s, want %s", r.name, r.scheduled, w)
		}
		if r.started.Before(r.scheduled) {
			t.Fatalf("%s started %s before it was due %s", r.name, r.started, r.scheduled)
		}
		last[r.name] = r.scheduled
	}
	st := h.s.Stats()
	if st.Missed != 0 || st.SkippedOverlap != 0 {
		t.Errorf("missed %d, skipped %d; want none", st.Missed, st.SkippedOverlap)
	}
	if st.Lateness.Count() != uint64(want) {
		t.Errorf("lateness observations %d, want %d", st.Lateness.Count(), want)
	}
	if p99 := st.Lateness.Quantile(0.99); p99 >= 250*time.Millisecond {
		t.Errorf("p99 lateness %s with 250ms steps", p99)
	}
}

func nameIndex(name string) int {
	var i int
	fmt.Sscanf(name, "job-%d", &i)
	return i
}

// delay is a schedule whose runs depend on when it is asked: rescheduling
// such a job moves it, so keeping its due time is observable.
type delay time.Duration

func (d delay) Next(t time.Time) time.Time { return t.Add(time.Duration(d)) }

// once runs at one time only.
type once time.Time

func (o once) Next(t time.Time) time.Time {
	if t.Before(time.Time(o)) {
		return time.Time(o)
	}
	return time.Time{}
}

func TestSchedulerSetKeepsPhase(t *testing.T) {
	h := newHarness(t, 4, nil)
	rec := newRecorder(h.clk)
	h.s.run = rec.run
	base := []Job{
		{Name: "keep", Cron: delay(10 * time.Second), Key: "v1"},
		{Name: "change", Cron: delay(10 * time.Second), Key: "v1"},
		{Name: "interval", Interval: 20 * time.Second, Key: "v1"},
		{Name: "nokey", Cron: delay(10 * time.Second)},
		{Name: "gone", Interval: 10 * time.Second, Key: "v1"},
	}
	h.s.Set(base)
	h.start()
	due := func(name string) time.Time {
		t.Helper()
		d, ok := h.s.Due(name)
		if !ok {
			t.Fatalf("%s not scheduled", name)
		}
		return d
	}
	keep0, iv0 := due("keep"), due("interval")
	if want := t0.Add(10 * time.Second); !keep0.Equal(want) {
		t.Fatalf("keep due %s, want %s", keep0, want)
	}
	h.step(3 * time.Second) // nothing due yet
	reload := []Job{
		{Name: "keep", Cron: delay(10 * time.Second), Key: "v1"},
		{Name: "change", Cron: delay(10 * time.Second), Key: "v2"},
		{Name: "interval", Interval: 20 * time.Second, Key: "v1"},
		{Name: "nokey", Cron: delay(10 * time.Second)},
		{Name: "new", Interval: 10 * time.Second, Key: "v1"},
	}
	h.s.Set(reload)
	h.settle()
	now := h.clk.Now()
	cases := []struct {
		name string
		want time.Time
	}{
		{"keep", keep0},                       // unchanged Key: same due time
		{"interval", iv0},                     // unchanged
		{"change", now.Add(10 * time.Second)}, // changed Key: rescheduled from now
		{"nokey", now.Add(10 * time.Second)},  // no Key: always rescheduled
		{"new", Next(&reload[4], now)},
	}
	for _, tc := range cases {
		if got := due(tc.name); !got.Equal(tc.want) {
			t.Errorf("%s due %s, want %s", tc.name, got, tc.want)
		}
	}
	if _, ok := h.s.Due("gone"); ok {
		t.Error("removed job still scheduled")
	}
	if st := h.s.Stats(); st.Jobs != 5 {
		t.Errorf("Stats().Jobs = %d, want 5", st.Jobs)
	}
	// Run to 29 s: keep runs at 10 and 20, change at 13 and 23, gone never.
	for range 26 {
		h.step(time.Second)
		h.quiesce()
	}
	runs := rec.wait(t, int(h.s.Stats().Started))
	got := map[string]int{}
	for _, r := range runs {
		got[r.name]++
	}
	want := map[string]int{"keep": 2, "change": 2, "nokey": 2, "interval": 0, "new": 0}
	for x := iv0; !x.After(h.clk.Now()); x = Next(&reload[2], x) {
		want["interval"]++
	}
	for x := Next(&reload[4], now); !x.After(h.clk.Now()); x = Next(&reload[4], x) {
		want["new"]++
	}
	if !maps.Equal(got, want) {
		t.Errorf("runs by job = %v, want %v", got, want)
	}
}

func TestSchedulerRemovedInFlight(t *testing.T) {
	h := newHarness(t, 4, nil)
	rec := newRecorder(h.clk, "a")
	h.s.run = rec.run
	h.s.Set([]Job{{Name: "a", Interval: time.Second, Key: "1"}, {Name: "b", Interval: time.Second, Key: "1"}})
	h.start()
	h.step(time.Second)
	if got := recv(t, rec.started, "a run"); got != "a" && got != "b" {
		t.Fatalf("unexpected run %s", got)
	}
	recv(t, rec.started, "a run")
	rec.wait(t, 1) // b finished; a is blocked in flight
	h.quiesceExcept(1)
	h.s.Set([]Job{{Name: "b", Interval: time.Second, Key: "1"}})
	h.step(time.Second)
	if r := rec.wait(t, 1); r[0].name != "b" {
		t.Fatalf("ran %s, want b", r[0].name)
	}
	h.quiesceExcept(1)
	rec.release <- struct{}{} // the removed job's in-flight run finishes
	if r := rec.wait(t, 1); r[0].name != "a" {
		t.Fatalf("finished %s, want a", r[0].name)
	}
	for range 5 {
		h.quiesce()
		h.step(time.Second)
	}
	for _, r := range rec.wait(t, 5) {
		if r.name != "b" {
			t.Fatalf("removed job %s ran again", r.name)
		}
	}
	if st := h.s.Stats(); st.Started != 8 || st.SkippedOverlap != 0 {
		t.Errorf("started %d skipped %d, want 8 and 0", st.Started, st.SkippedOverlap)
	}
}

func TestSchedulerOverlap(t *testing.T) {
	cases := []struct {
		name    string
		reload  bool // change the job's definition while it runs
		steps   int
		skipped uint64
	}{
		{"still running at the next two runs", false, 3, 2},
		{"changed while running does not overlap its old run", true, 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, 8, nil)
			rec := newRecorder(h.clk, "slow")
			h.s.run = rec.run
			h.s.Set([]Job{{Name: "slow", Interval: time.Second, Key: "1"}})
			h.start()
			h.step(time.Second)
			recv(t, rec.started, "the first run")
			if tc.reload {
				h.s.Set([]Job{{Name: "slow", Interval: time.Second, Key: "2"}})
			}
			for range tc.steps - 1 {
				h.step(time.Second)
			}
			st := h.s.Stats()
			if st.SkippedOverlap != tc.skipped || st.Started != 1 {
				t.Errorf("started %d skipped %d, want 1 and %d", st.Started, st.SkippedOverlap, tc.skipped)
			}
			if m := rec.maxInFlight.Load(); m != 1 {
				t.Errorf("%d runs of one job at once", m)
			}
			rec.release <- struct{}{}
			rec.wait(t, 1)
			rec.mu.Lock()
			rec.block = map[string]bool{}
			rec.mu.Unlock()
			h.quiesce()
			h.step(time.Second)
			rec.wait(t, 1)
			if st := h.s.Stats(); st.Started != 2 {
				t.Errorf("after the run finished: started %d, want 2", st.Started)
			}
		})
	}
}

// TestSchedulerConcurrencyLimit saturates the pool: 40 jobs due at once,
// limit 4. At most 4 run at once; the rest wait in due order and their
// lateness is measured.
func TestSchedulerConcurrencyLimit(t *testing.T) {
	for _, limit := range []int{1, 4, 16} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			const n = 40
			h := newHarness(t, limit, nil)
			rec := newRecorder(h.clk, "*")
			h.s.run = rec.run
			jobs := make([]Job, n)
			for i := range jobs {
				// Each job due once, 1 ms after the previous.
				jobs[i] = Job{Name: fmt.Sprintf("job-%04d", i), Cron: once(t0.Add(time.Second + time.Duration(i)*time.Millisecond))}
			}
			h.s.Set(jobs)
			h.start()
			h.clk.Advance(time.Second + n*time.Millisecond) // all due
			var order []string
			for range limit {
				order = append(order, recv(t, rec.started, "a run to start"))
			}
			if st := h.s.Stats(); st.InFlight != limit {
				t.Errorf("in flight %d, want %d", st.InFlight, limit)
			}
			select {
			case name := <-rec.started:
				t.Fatalf("%s started beyond the limit of %d", name, limit)
			default:
			}
			for i := limit; i < n; i++ {
				h.clk.Advance(100 * time.Millisecond) // time spent waiting for a slot
				rec.release <- struct{}{}
				order = append(order, recv(t, rec.started, "a queued run to start"))
			}
			for range limit {
				rec.release <- struct{}{}
			}
			rec.wait(t, n)
			if m := rec.maxInFlight.Load(); m != int64(limit) {
				t.Errorf("max in flight %d, want %d", m, limit)
			}
			if st := h.s.Stats(); st.MaxInFlight != limit {
				t.Errorf("Stats().MaxInFlight = %d, want %d", st.MaxInFlight, limit)
			}
			// Beyond the first batch, runs start in due order (the first
			// batch races between workers).
			for i := limit + 1; i < n; i++ {
				if order[i] < order[i-1] {
					t.Fatalf("start order %v not the due order", order)
				}
			}
			st := h.s.Stats()
			if st.Started != n {
				t.Errorf("started %d, want %d", st.Started, n)
			}
			// The last (due 1 ms before all were) waited (n-limit) × 100 ms more.
			wantMax := time.Duration(n-limit)*100*time.Millisecond + time.Millisecond
			if got := st.Lateness.Max(); got != wantMax {
				t.Errorf("max lateness %s, want %s", got, wantMax)
			}
			if p99, p50 := st.Lateness.Quantile(0.99), st.Lateness.Quantile(0.5); p99 < p50 || p99 > wantMax {
				t.Errorf("p50 %s p99 %s inconsistent with max %s", p50, p99, wantMax)
			}
		})
	}
}

// TestSchedulerShutdown: Run returns after cancel only once the in-flight
// run has finished, and that run's context is not cancelled by shutdown.
func TestSchedulerShutdown(t *testing.T) {
	h := newHarness(t, 4, nil)
	rec := newRecorder(h.clk, "a")
	var runCtx context.Context
	var ctxMu sync.Mutex
	var finished atomic.Bool
	h.s.run = func(ctx context.Context, j *Job, s time.Time) {
		ctxMu.Lock()
		runCtx = ctx
		ctxMu.Unlock()
		rec.run(ctx, j, s)
		finished.Store(true)
	}
	h.s.Set([]Job{{Name: "a", Interval: time.Second}})
	h.start()
	h.step(time.Second)
	recv(t, rec.started, "the run")
	h.cancel()
	// The loop has left (it stops its timer) before the run is released.
	recv(t, h.clk.stopped, "the loop to stop")
	select {
	case <-h.done:
		t.Fatal("Run returned with a run in flight")
	default:
	}
	ctxMu.Lock()
	if err := runCtx.Err(); err != nil {
		t.Errorf("in-flight run's context: %v, want not cancelled", err)
	}
	ctxMu.Unlock()
	rec.release <- struct{}{}
	recv(t, h.done, "Run to return")
	if !finished.Load() {
		t.Error("Run returned before the in-flight run finished")
	}
	h.clk.Advance(5 * time.Second)
	if st := h.s.Stats(); st.Started != 1 {
		t.Errorf("started %d after shutdown, want 1", st.Started)
	}
}

func TestSchedulerMissed(t *testing.T) {
	h := newHarness(t, 4, nil)
	rec := newRecorder(h.clk)
	h.s.run = rec.run
	j := Job{Name: "m", Interval: time.Second}
	h.s.Set([]Job{j})
	h.start()
	first := Next(&j, t0)
	// The host sleeps for 10.5 s: one late run, not ten in a burst.
	h.step(10*time.Second + 500*time.Millisecond)
	runs := rec.wait(t, 1)
	if !runs[0].scheduled.Equal(first) {
		t.Errorf("late run scheduled %s, want %s", runs[0].scheduled, first)
	}
	// Every run time in (first, now] was dropped.
	now := h.clk.Now()
	missed := uint64(Next(&j, now).Sub(first)/time.Second) - 1
	if missed < 9 {
		t.Fatalf("test setup: only %d runs passed", missed)
	}
	st := h.s.Stats()
	if st.Started != 1 || st.Missed != missed {
		t.Errorf("started %d missed %d, want 1 and %d", st.Started, st.Missed, missed)
	}
	if want := now.Sub(first); st.Lateness.Max() != want {
		t.Errorf("lateness %s, want %s", st.Lateness.Max(), want)
	}
	if due, _ := h.s.Due("m"); !due.Equal(Next(&j, h.clk.Now())) {
		t.Errorf("next due %s, want back on phase %s", due, Next(&j, h.clk.Now()))
	}
}

func TestSchedulerLastTick(t *testing.T) {
	h := newHarness(t, 1, func(context.Context, *Job, time.Time) {})
	if !h.s.LastTick().IsZero() {
		t.Fatal("LastTick before Run is not zero")
	}
	h.s.Set([]Job{{Name: "daily", Interval: 24 * time.Hour}})
	h.start()
	if got := h.s.LastTick(); !got.Equal(t0) {
		t.Errorf("LastTick = %s, want %s", got, t0)
	}
	// Nothing is due for hours, yet the loop wakes every second.
	for range 3 {
		h.clk.Advance(maxSleep)
		h.settle()
	}
	if got, want := h.s.LastTick(), t0.Add(3*maxSleep); !got.Equal(want) {
		t.Errorf("LastTick = %s, want %s", got, want)
	}
}

func TestSchedulerDuplicateNames(t *testing.T) {
	h := newHarness(t, 2, nil)
	rec := newRecorder(h.clk)
	h.s.run = rec.run
	h.s.Set([]Job{{Name: "d", Interval: time.Second}, {Name: "d", Interval: time.Hour}})
	h.start()
	h.step(time.Second)
	h.quiesce()
	h.step(time.Second)
	if got := names(rec.wait(t, 2)); !slices.Equal(got, []string{"d", "d"}) {
		t.Errorf("runs %v", got)
	}
	if st := h.s.Stats(); st.Jobs != 1 || st.Started != 2 {
		t.Errorf("jobs %d started %d, want 1 and 2", st.Jobs, st.Started)
	}
}

// TestSchedulerClockStepsBack: after the wall clock goes back an hour, the
// jobs run at their next times after the new now, not an hour later.
func TestSchedulerClockStepsBack(t *testing.T) {
	h := newHarness(t, 4, nil)
	rec := newRecorder(h.clk)
	h.s.run = rec.run
	var (
		mu    sync.Mutex
		steps []time.Duration
	)
	h.s.OnStepBack = func(by time.Duration) { mu.Lock(); steps = append(steps, by); mu.Unlock() }
	jobs := []Job{{Name: "a", Interval: 10 * time.Second}, {Name: "b", Interval: time.Minute}}
	h.s.Set(jobs)
	h.start()
	// slots is how many runs jobs have in (from, to].
	slots := func(from, to time.Time) int {
		n := 0
		for i := range jobs {
			for at := Next(&jobs[i], from); !at.After(to); at = Next(&jobs[i], at) {
				n++
			}
		}
		return n
	}
	// minute steps the clock a second at a time for a minute and returns
	// the runs, waiting for each second's before the next (a run still in
	// flight would make the next one of its job skip).
	minute := func() []runRec {
		var out []runRec
		for range 60 {
			from := h.clk.Now()
			h.step(time.Second)
			out = append(out, rec.wait(t, slots(from, h.clk.Now()))...)
			// The worker clears the job's running flag after the run
			// returns; in flight 0 means every flag is clear.
			deadline := time.Now().Add(10 * time.Second)
			for h.s.Stats().InFlight != 0 {
				if time.Now().After(deadline) {
					t.Fatal("runs still in flight after 10s")
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
		return out
	}
	minute()

	h.clk.StepBack(time.Hour)
	// settle would take the idle time seen before the step for settled.
	h.s.poke()
	deadline := time.Now().Add(10 * time.Second)
	for h.s.Stats().ClockStepsBack == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the step back was not noticed")
		}
		time.Sleep(time.Millisecond)
	}
	h.settle()
	now := h.clk.Now()
	for i := range jobs {
		j := &jobs[i]
		if due, _ := h.s.Due(j.Name); !due.Equal(Next(j, now)) {
			t.Errorf("%s due %s after the step back, want %s", j.Name, due, Next(j, now))
		}
	}
	runs := minute()
	if len(runs) < 6 {
		t.Errorf("%d runs in the minute after the step back, want at least 6", len(runs))
	}
	for _, r := range runs {
		if r.scheduled.Before(now) || r.scheduled.After(h.clk.Now()) {
			t.Errorf("run of %s scheduled %s, outside the minute after the step back", r.name, r.scheduled)
		}
	}
	if st := h.s.Stats(); st.ClockStepsBack != 1 || st.Missed != 0 {
		t.Errorf("ClockStepsBack %d Missed %d, want 1 and 0", st.ClockStepsBack, st.Missed)
	}
	mu.Lock()
	if len(steps) != 1 || steps[0] < time.Hour-time.Second || steps[0] > time.Hour {
		t.Errorf("OnStepBack calls %v, want one of about 1h", steps)
	}
	mu.Unlock()
	// Small backward moves (under a second) are not steps.
	h.clk.StepBack(500 * time.Millisecond)
	h.step(time.Second)
	if st := h.s.Stats(); st.ClockStepsBack != 1 {
		t.Errorf("a 500ms step counted: ClockStepsBack %d", st.ClockStepsBack)
	}
}
