package agent

import (
	"context"
	"math"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// The collector's headroom pulse run sets when GOGC is not in the
// environment: 30 % of the live heap, but never under minHeadroom, and never
// more than Go's default (all of it). A large agent's heap is mostly its
// checks' long-lived state (about 1.3 KB a check) and it allocates a few KB
// per run, so at 25,000 checks (32 MB live, GOGC 31) the smaller headroom,
// kept in step with the live heap (KeepMemoryTuned), took 12 MB off the peak
// RSS for no CPU the benchmark could tell from its noise; a small agent
// keeps Go's default, where the headroom is a few MB and halving it cost 9 %
// more CPU per run (docs/BENCHMARKS.md, goal 3).
const (
	minGCPercent = 30
	minHeadroom  = 10 << 20
)

// gcPercentFor is the GOGC that gives live bytes of heap their headroom.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return 100
	}
	return min(100, max(minGCPercent, int(100*minHeadroom/live)))
}

// mem serialises the setters of GOGC: the periodic TuneMemory must not
// undo the settings of a reload in progress (CapMemory).
var mem struct {
	sync.Mutex
	capped bool // a reload holds CapMemory's limit
}

// TuneMemory sets GOGC for the live heap (gcPercentFor) unless GOGC is in
// the environment or a reload is in progress, and returns what it set (0:
// nothing). pulse run calls it once the agent is built and then every
// second (KeepMemoryTuned), as the live heap grows with the checks' series
// and changes with reloads, and a reload when it is done (CapMemory):
// reading a config and building its checks allocates most of what the
// agent ever will in a second, and Go's default headroom gets that done
// sooner.
func TuneMemory() int {
	mem.Lock()
	defer mem.Unlock()
	if mem.capped {
		return 0
	}
	return tuneMemory()
}

func tuneMemory() int {
	if _, set := os.LookupEnv("GOGC"); set {
		return 0
	}
	p := gcPercentFor(liveHeap())
	debug.SetGCPercent(p)
	return p
}

// KeepMemoryTuned calls TuneMemory every period until ctx is done. Once at
// start-up was not enough: that look at the live heap came from a
// collection in the middle of building the checks, before the first results
// added their series and schedule entries, and a 25,000-check agent ran its
// life with GOGC about 64 where the rule then in force gave 50 (its gctrace:
// 32 MB live, a 55 MB goal; docs/BENCHMARKS.md, goal 3).
func KeepMemoryTuned(ctx context.Context, period time.Duration) {
	tickUntil(ctx, period, func() { TuneMemory() })
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

// CapMemory holds the Go runtime's soft memory limit, until the returned
// function is called, at about the memory the agent uses with Go's default
// headroom (footprint). A reload calls it around reading the new config and
// building its checks: the TOML tree and the second config are live beside
// the running agent, and without a limit a reload of 25,000 checks grew the
// process by 45 MB (docs/BENCHMARKS.md, goal 3). Under the limit the
// collector runs more often during the reload instead (it gives itself at
// most half the CPU). A limit set by the operator (GOMEMLIMIT) is left
// alone.
func CapMemory() (restore func()) {
	// Go's default headroom for the reload's burst of allocation, as at
	// start-up (TuneMemory): the limit below bounds it. Afterwards the
	// headroom follows the new live heap. A GOGC the operator set stands.
	mem.Lock()
	defer mem.Unlock()
	mem.capped = true
	_, operatorGOGC := os.LookupEnv("GOGC")
	if !operatorGOGC {
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
		goruntime.GC()
		mem.Lock()
		defer mem.Unlock()
		mem.capped = false
		debug.SetMemoryLimit(prev)
		tuneMemory()
	}
}

// footprint is the Go memory the reload may use: what the runtime holds
// outside the heap (stacks, its own structures) plus two and a half times
// the live heap (at least minReloadRoom more than the live heap). That is
// the heap goal under Go's default GOGC=100 plus a quarter of it: at
// exactly the goal, the reload's data of 25,000 checks
// made the collector run back to back and its assists slowed the checks in
// flight (reload 610 ms, p99 lateness 99 ms, against 233 ms and 5 ms with
// the quarter; docs/BENCHMARKS.md, goal 3). It is computed from the live
// heap, not from the goal, which a GOGC under 100 lowers. Free heap pages
// the runtime has not returned to the OS are left out, or the cap would let
// the heap grow into them.
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
