package agent

import (
	"math"
	"runtime/debug"
	"runtime/metrics"
	"testing"
)

// TestCapMemory: a reload runs under a soft memory limit of about the
// agent's footprint, lifted afterwards; an operator's limit is kept.
func TestCapMemory(t *testing.T) {
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })

	debug.SetMemoryLimit(math.MaxInt64)
	ballast := make([]byte, 32<<20) // the heap's goal must count it
	restore := CapMemory()
	limit := debug.SetMemoryLimit(-1)
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	inUse := int64(s[0].Value.Uint64() - s[1].Value.Uint64())
	if limit == math.MaxInt64 {
		t.Fatal("no limit during the reload")
	}
	if limit < int64(len(ballast)) || limit < inUse*3/4 {
		t.Errorf("limit %d MB is below what the process uses (%d MB in use, %d MB live ballast)", limit>>20, inUse>>20, len(ballast)>>20)
	}
	if limit > 4*inUse {
		t.Errorf("limit %d MB does not bound the reload (%d MB in use)", limit>>20, inUse>>20)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("after the reload the limit is %d, want none", got)
	}
	_ = ballast[len(ballast)-1]

	const operator = 3 << 30 // GOMEMLIMIT=3GiB
	debug.SetMemoryLimit(operator)
	restore = CapMemory()
	if got := debug.SetMemoryLimit(-1); got != operator {
		t.Errorf("with GOMEMLIMIT set, the limit during the reload is %d, want %d", got, operator)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != operator {
		t.Errorf("with GOMEMLIMIT set, the limit after the reload is %d, want %d", got, operator)
	}
}
