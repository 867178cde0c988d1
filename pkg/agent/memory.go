package agent

import (
	"math"
	goruntime "runtime"
	"runtime/debug"
	"runtime/metrics"
)

// CapMemory holds the Go runtime's soft memory limit, until the returned
// function is called, at what the process may use now: its memory in use
// plus the heap growth the collector allows before its next cycle. A
// reload calls it around reading the new config and building its checks:
// the TOML tree and the second config are live at once, and with the
// collector's default headroom a reload of 25,000 checks grew the process
// by 45 MB (docs/BENCHMARKS.md, goal 3). Under the cap the collector runs
// more often during the reload instead (it gives itself at most half the
// CPU), and the reload stays within the footprint the agent already had.
// A limit set by the operator (GOMEMLIMIT) is left alone.
func CapMemory() (restore func()) {
	prev := debug.SetMemoryLimit(-1)
	if prev != math.MaxInt64 {
		return func() {}
	}
	debug.SetMemoryLimit(footprint())
	return func() {
		// A collection first, so that the heap goal after the reload
		// follows what stays live, not the reload's transient data; the
		// goal set during the reload would let the heap grow to twice that.
		goruntime.GC()
		debug.SetMemoryLimit(prev)
	}
}

// footprint is about the Go memory the process reaches between two
// collections without a reload: the heap's goal plus what the runtime holds
// outside the heap (stacks, its own structures), with some room (below). Free heap pages the runtime has not
// yet returned to the OS are left out, or the cap would let the heap grow
// into them.
func footprint() int64 {
	s := []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/gc/heap/goal:bytes"},
	}
	metrics.Read(s)
	v := make([]uint64, len(s))
	for i, x := range s {
		if x.Value.Kind() != metrics.KindUint64 {
			return math.MaxInt64 // unknown: no cap
		}
		v[i] = x.Value.Uint64()
	}
	total, goal := v[0], v[5]
	heap := v[1] + v[2] + v[3] + v[4]
	if heap > total {
		return math.MaxInt64
	}
	// A quarter of the goal on top: a reload of 25,000 checks holds 30 MB
	// of new data live at once (33 MB before it), and a cap that tight
	// made the collector run back to back, its assists slowing the checks
	// in flight (p99 lateness 99 ms during the reload, against 7 ms).
	return int64(goal + goal/4 + (total - heap))
}
