package schedule

import (
	"container/heap"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// RunFunc runs one job once. scheduled is the time the run was due; the
// start may be later (see Stats.Lateness).
type RunFunc func(ctx context.Context, job *Job, scheduled time.Time)

// maxSleep bounds the loop's sleep so that LastTick stays fresh (health
// checks) even when the next run is hours away.
const maxSleep = time.Second

// Scheduler runs jobs when they are due. One goroutine sleeps until the
// earliest due time in a min-heap, dispatches every due job and pushes its
// next time back: O(log n) a run. Runs execute on a pool of at most
// maxConcurrency workers, created as load needs them and then kept, so a
// run costs a channel hand-off rather than a new goroutine and stack.
type Scheduler struct {
	clock Clock
	run   RunFunc
	limit int

	mu      sync.Mutex // guards heap and entries (and entry.job, due, index)
	heap    entryHeap
	entries map[string]*entry

	wake     chan struct{} // timer expiry or Set: look at the heap again
	work     chan dispatch
	idle     atomic.Int32 // workers committed to receiving from work
	workers  int          // workers started; only the loop reads and writes it
	inflight sync.WaitGroup
	pool     sync.WaitGroup

	lastTick       atomic.Int64 // unix nanoseconds
	started        atomic.Uint64
	skippedOverlap atomic.Uint64
	missed         atomic.Uint64
	stepsBack      atomic.Uint64 // backward wall-clock steps seen
	running        atomic.Int64  // runs executing
	pending        atomic.Int64  // runs handed to the pool and not finished
	maxRunning     atomic.Int64
	lateness       histogram

	// onIdle, when set (tests), is called by the loop each time it has
	// dispatched everything due at now and is about to sleep.
	onIdle func(now time.Time)

	// OnStepBack, when set before Run, is called by the loop after the
	// wall clock went back by more than a second (by how much), once the
	// jobs are rescheduled from the new time.
	OnStepBack func(by time.Duration)
}

// entry is one job's place in the heap. Entries are kept per job name
// across Set, so a run in flight is known even after its job changes.
type entry struct {
	job     *Job
	due     int64 // unix nanoseconds; 0 = not scheduled
	index   int   // position in the heap, -1 when absent
	running atomic.Bool
}

type dispatch struct {
	e         *entry
	job       *Job
	scheduled time.Time
	ctx       context.Context
}

// New returns a scheduler that calls run for each due job, at most
// maxConcurrency at once (at least 1). Load jobs with Set; start with Run.
func New(clock Clock, maxConcurrency int, run RunFunc) *Scheduler {
	if clock == nil {
		clock = RealClock()
	}
	return &Scheduler{
		clock:   clock,
		run:     run,
		limit:   max(1, maxConcurrency),
		entries: map[string]*entry{},
		wake:    make(chan struct{}, 1),
		work:    make(chan dispatch),
	}
}

// Set replaces the scheduled jobs. A job whose Key is non-empty and equal to
// that of the loaded job of the same name keeps its next due time (its
// phase); a new or changed job is due at Next from now; a job left out is
// not run again (a run in flight finishes). Whether a job is running is kept
// by name, so a changed job never overlaps its own previous run. Of jobs
// with the same name the first is kept. Set may be called at any time,
// concurrently with Run; it costs O(n) and does not wait for runs.
func (s *Scheduler) Set(jobs []Job) {
	js := slices.Clone(jobs) // the scheduler's own copies; callers may reuse jobs
	s.mu.Lock()
	now := s.clock.Now()
	entries := make(map[string]*entry, len(js))
	h := make(entryHeap, 0, len(js))
	for i := range js {
		j := &js[i]
		if _, dup := entries[j.Name]; dup {
			continue
		}
		e := s.entries[j.Name]
		switch {
		case e == nil:
			e = &entry{job: j, due: unixNano(Next(j, now))}
		case j.Key != "" && j.Key == e.job.Key:
			e.job = j
		default:
			e.job = j
			e.due = unixNano(Next(j, now))
		}
		entries[j.Name] = e
		e.index = -1
		if e.due != 0 {
			e.index = len(h)
			h = append(h, e)
		}
	}
	for name, e := range s.entries {
		if _, ok := entries[name]; !ok {
			e.index = -1
		}
	}
	heap.Init(&h)
	s.heap, s.entries = h, entries
	s.mu.Unlock()
	s.poke()
}

// Due returns when the named job runs next; false if it is not loaded or
// never runs again.
func (s *Scheduler) Due(name string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[name]
	if e == nil || e.due == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, e.due).UTC(), true
}

// LastTick returns when the scheduler's loop last looked at its queue; it
// does so at least every second while Run is alive, including while it waits
// for a free concurrency slot. Zero before Run.
func (s *Scheduler) LastTick() time.Time {
	n := s.lastTick.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Stats returns the scheduler's counters.
func (s *Scheduler) Stats() Stats {
	s.mu.Lock()
	n := len(s.entries)
	s.mu.Unlock()
	return Stats{
		Jobs:           n,
		Started:        s.started.Load(),
		SkippedOverlap: s.skippedOverlap.Load(),
		Missed:         s.missed.Load(),
		ClockStepsBack: s.stepsBack.Load(),
		InFlight:       int(s.running.Load()),
		MaxInFlight:    int(s.maxRunning.Load()),
		Lateness:       s.lateness.snapshot(),
	}
}

// Run dispatches due jobs until ctx is done, then waits for the runs in
// flight and returns. Runs get a context that carries ctx's values but is
// NOT cancelled with it: a shutdown lets in-flight checks finish or hit
// their own timeouts (the run func applies them) instead of recording a
// spurious failure. Run is called once.
func (s *Scheduler) Run(ctx context.Context) {
	runCtx := context.WithoutCancel(ctx)
	timer := s.clock.AfterFunc(maxSleep, s.poke)
	defer func() {
		timer.Stop()
		s.inflight.Wait()
		close(s.work)
		s.pool.Wait()
	}()
	for ctx.Err() == nil {
		now := s.clock.Now()
		if last := s.lastTick.Load(); last != 0 && now.UnixNano() < last-int64(stepBackTolerance) {
			s.rebase(now)
			if s.OnStepBack != nil {
				s.OnStepBack(time.Duration(last - now.UnixNano()))
			}
		}
		s.lastTick.Store(now.UnixNano())
		d, sleep := s.next(now)
		if sleep == 0 {
			if !s.dispatch(ctx, timer, d, runCtx) {
				return
			}
			continue
		}
		timer.Reset(sleep)
		if s.onIdle != nil {
			s.onIdle(now)
		}
		select {
		case <-ctx.Done():
		case <-s.wake:
		}
	}
}

// stepBackTolerance is how far the wall clock may go back between two looks
// before the scheduler treats it as a step (NTP correcting a drifted clock)
// and reschedules.
const stepBackTolerance = time.Second

// rebase moves every job due later than its next run time after now to that
// time. Due times are wall-clock times: after the clock steps back by an
// hour, they would all lie an hour ahead and nothing would run for an hour.
func (s *Scheduler) rebase(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	moved := 0
	for _, e := range s.heap {
		if nx := unixNano(Next(e.job, now)); nx != 0 && nx < e.due {
			e.due = nx
			moved++
		}
	}
	if moved > 0 {
		heap.Init(&s.heap)
	}
	s.stepsBack.Add(1)
}

// next pops the earliest job if it is due at now and reschedules it;
// otherwise it returns how long to sleep. A due job whose previous run is
// still in flight is skipped (counted) and the loop moves on.
func (s *Scheduler) next(now time.Time) (dispatch, time.Duration) {
	n := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.heap) > 0 {
		e := s.heap[0]
		if e.due > n {
			return dispatch{}, min(time.Duration(e.due-n), maxSleep)
		}
		scheduled := time.Unix(0, e.due).UTC()
		nx := Next(e.job, scheduled)
		if !nx.IsZero() && !nx.After(now) {
			// Behind by more than a period: run this one late, drop the
			// ones already past rather than bursting through them.
			later := Next(e.job, now)
			s.missed.Add(countBetween(e.job, nx, later))
			nx = later
		}
		if e.due = unixNano(nx); e.due == 0 {
			heap.Pop(&s.heap)
		} else {
			heap.Fix(&s.heap, 0)
		}
		if e.running.Load() {
			s.skippedOverlap.Add(1)
			continue
		}
		e.running.Store(true)
		return dispatch{e: e, job: e.job, scheduled: scheduled}, 0
	}
	return dispatch{}, maxSleep
}

// dispatch hands d to a worker: an idle one, a new one while under the
// limit, or else the first to finish; the loop waits for it, so due jobs
// queue in order behind d. It returns false if ctx ended first.
func (s *Scheduler) dispatch(ctx context.Context, timer Timer, d dispatch, runCtx context.Context) bool {
	d.ctx = runCtx
	s.inflight.Add(1)
	s.pending.Add(1)
	s.started.Add(1) // before the hand-off: a run seen running is counted
	if s.idle.Load() > 0 {
		s.idle.Add(-1)
		s.work <- d // a worker is about to receive
		return true
	}
	if s.workers < s.limit {
		s.workers++
		s.pool.Add(1)
		go s.worker(d)
		return true
	}
	for {
		timer.Reset(maxSleep)
		select {
		case s.work <- d:
			s.idle.Add(-1)
			return true
		case <-ctx.Done():
			s.started.Add(^uint64(0))
			s.pending.Add(-1)
			s.inflight.Done()
			d.e.running.Store(false)
			return false
		case <-s.wake:
			s.lastTick.Store(s.clock.Now().UnixNano())
		}
	}
}

func (s *Scheduler) worker(d dispatch) {
	defer s.pool.Done()
	for {
		s.execute(d)
		s.idle.Add(1)
		var ok bool
		if d, ok = <-s.work; !ok {
			return
		}
	}
}

func (s *Scheduler) execute(d dispatch) {
	n := s.running.Add(1)
	for {
		m := s.maxRunning.Load()
		if n <= m || s.maxRunning.CompareAndSwap(m, n) {
			break
		}
	}
	s.lateness.observe(s.clock.Now().Sub(d.scheduled))
	defer func() {
		d.e.running.Store(false) // before the count: running == 0 means all flags are clear
		s.running.Add(-1)
		s.pending.Add(-1)
		s.inflight.Done()
	}()
	s.run(d.ctx, d.job, d.scheduled)
}

// poke wakes the loop; a wake already pending is enough.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// countBetween counts j's run times in [from, to).
func countBetween(j *Job, from, to time.Time) uint64 {
	if to.IsZero() {
		return 1
	}
	if p := j.period(); p > 0 {
		return uint64(to.Sub(from) / p)
	}
	var n uint64
	for t := from; !t.IsZero() && t.Before(to) && n < 1<<16; t = Next(j, t) {
		n++
	}
	return n
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// entryHeap orders entries by due time, then name (stable order for runs
// due together).
type entryHeap []*entry

var _ heap.Interface = (*entryHeap)(nil)

func (h entryHeap) Len() int { return len(h) }

func (h entryHeap) Less(i, j int) bool {
	if h[i].due != h[j].due {
		return h[i].due < h[j].due
	}
	return h[i].job.Name < h[j].job.Name
}

func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
