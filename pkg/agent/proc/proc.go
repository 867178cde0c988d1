// Package proc holds pulse's process-wide tuning: the settings that hold for
// the whole process (Start) and the Go collector's headroom of the agent that
// pulse run owns (Memory).
package proc

import (
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Start applies the process-wide settings; the command line calls it before
// anything else. Heap-profile sampling is off unless PULSE_PPROF is set: only
// its endpoint reads heap profiles, and otherwise the runtime's table of
// sampled call stacks only costs memory in a large agent. glibc's malloc
// arenas are capped (limitMallocArenas).
func Start() {
	if os.Getenv("PULSE_PPROF") == "" {
		runtime.MemProfileRate = 0
	}
	limitMallocArenas()
}

// The collector's headroom Memory sets when GOGC is not in the environment:
// 30 % of the live heap, but never under minHeadroom, and never more than
// Go's default (all of it). A large agent's heap is mostly its checks'
// long-lived state and it allocates a few KB per run, so a headroom kept in
// step with the live heap lowers its peak RSS without costing CPU per run;
// a small agent keeps Go's default, where halving a headroom of a few MB
// costs CPU. docs/BENCHMARKS.md (goal 3) has the figures.
const (
	minGCPercent = 30
	minHeadroom  = 10 << 20
)

// TunePeriod is how often pulse run retunes the headroom (Memory.KeepTuned).
const TunePeriod = time.Second

// gcPercentFor is the GOGC that gives live bytes of heap their headroom.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return 100
	}
	return min(100, max(minGCPercent, int(100*minHeadroom/live)))
}

// Memory sets the Go collector's headroom (GOGC) and soft memory limit for
// the agent of one pulse run. Both are the runtime's, global to the process:
// one Memory, owned by the run command, sets them, and its lock keeps the
// periodic tuning from undoing the settings of a reload in progress (Cap).
// The zero value is ready to use.
type Memory struct {
	mu     sync.Mutex
	capped bool // a reload holds Cap's limit
}

// Tune sets GOGC for the live heap (gcPercentFor) unless GOGC is in the
// environment or a reload is in progress, and returns what it set (0:
// nothing). pulse run calls it once the agent is built, then every
// TunePeriod (KeepTuned), and a reload when it is done (Cap): the live heap
// grows with the checks' series and changes with reloads. Reading a config
// and building its checks allocates most of what the agent ever will in a
// second, and Go's default headroom gets that done sooner, which is why it
// is not called before.
func (m *Memory) Tune() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.capped {
		return 0
	}
	return tune()
}

func tune() int {
	if _, set := os.LookupEnv("GOGC"); set {
		return 0
	}
	p := gcPercentFor(liveHeap())
	debug.SetGCPercent(p)
	return p
}

// KeepTuned calls Tune every period until ctx is done. Once at start-up is
// not enough: that look at the live heap comes from a collection in the
// middle of building the checks, before the first results add their series
// and schedule entries, and would leave a large agent with the headroom of
// a smaller one for its whole life.
func (m *Memory) KeepTuned(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.Tune()
		}
	}
}

// Cap holds the Go runtime's soft memory limit, until the returned function
// is called, at about the memory the agent uses with Go's default headroom
// (footprint). A reload calls it around reading the new config and building
// its checks: the TOML tree and the second config are live beside the
// running agent, and without a limit the process grows by their size and
// keeps the pages. Under the limit the collector runs more often during the
// reload instead (it gives itself at most half the CPU). A limit set by the
// operator (GOMEMLIMIT) is left alone.
func (m *Memory) Cap() (restore func()) {
	// Go's default headroom for the reload's burst of allocation, as at
	// start-up (Tune): the limit below bounds it. Afterwards the headroom
	// follows the new live heap. A GOGC the operator set stands.
	m.mu.Lock()
	defer m.mu.Unlock()
	m.capped = true
	if _, operatorGOGC := os.LookupEnv("GOGC"); !operatorGOGC {
		debug.SetGCPercent(100)
	}
	prev := debug.SetMemoryLimit(-1)
	if prev == math.MaxInt64 {
		debug.SetMemoryLimit(footprint())
	}
	return func() {
		// A collection first, so that the heap goal after the reload
		// follows what stays live, not the reload's transient data; the
		// goal set during the reload would let the heap grow to twice that.
		runtime.GC()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.capped = false
		debug.SetMemoryLimit(prev)
		tune()
	}
}

// liveHeap is the heap's live bytes as of the last collection (0 before
// the first, or if the runtime does not say).
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// footprint is the Go memory a reload may use: what the runtime holds
// outside the heap (stacks, its own structures) plus two and a half times
// the live heap (at least minReloadRoom more than the live heap). That is
// the heap goal under Go's default GOGC=100 plus a quarter of it: at exactly
// the goal, a large reload made the collector run back to back and its
// assists delayed the checks in flight. It is computed from the live heap,
// not from the goal, which a GOGC under 100 lowers. Free heap pages the
// runtime has not returned to the OS are left out, or the cap would let the
// heap grow into them.
func footprint() int64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	metrics.Read(s)
	v := make([]uint64, len(s))
	for i, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			return math.MaxInt64 // unknown: no cap
		}
		v[i] = x.Value.Uint64()
	}
	total, live := v[0], v[5]
	if live == 0 {
		live = v[1] // no collection yet: what the heap holds, garbage and all
	}
	heap := v[1] + v[2] + v[3] + v[4]
	if heap > total {
		return math.MaxInt64
	}
	return int64(total - heap + max(live*5/2, live+minReloadRoom))
}

// minReloadRoom is the least room a reload gets above the live heap: a
// small agent's limit would otherwise be a few MB, and the collector would
// run back to back for a reload that adds checks.
const minReloadRoom = 16 << 20
