package agent

import (
	"math"
	goruntime "runtime"
	"runtime/debug"
	"testing"
)

// TestCapMemory: a reload runs under a soft memory limit of about the
// agent's footprint, lifted afterwards; an operator's limit is kept.
func TestCapMemory(t *testing.T) {
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })

	debug.SetMemoryLimit(math.MaxInt64)
	ballast := make([]byte, 32<<20) // the limit must make room for it
	goruntime.GC()                  // as Run does before the first reload
	restore := CapMemory()
	limit := debug.SetMemoryLimit(-1)
	if limit == math.MaxInt64 {
		t.Fatal("no limit during the reload")
	}
	// Two and a half times the live heap (at least the ballast), plus the
	// runtime's memory outside the heap, a few MB in a test.
	live := int64(liveHeap())
	if live < int64(len(ballast)) {
		t.Fatalf("live heap %d MB, below the ballast", live>>20)
	}
	if lo, hi := live*5/2, live*5/2+64<<20; limit < lo || limit > hi {
		t.Errorf("limit %d MB, want %d to %d MB (%d MB live)", limit>>20, lo>>20, hi>>20, live>>20)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("after the reload the limit is %d, want none", got)
	}
	goruntime.KeepAlive(ballast)

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

// TestGCPercent: Go's default headroom up to 32 MB live, half the live heap
// above, never under 16 MB.
func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		liveMB uint64
		want   int
	}{{1, 100}, {8, 100}, {16, 100}, {24, 66}, {32, 50}, {33, 50}, {200, 50}} {
		if got := gcPercent(tc.liveMB << 20); got != tc.want {
			t.Errorf("gcPercent(%d MB) = %d, want %d", tc.liveMB, got, tc.want)
		}
	}
}

// TestTuneGC: the headroom follows the live heap unless GOGC is set.
func TestTuneGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	ballast := make([]*[1 << 10]byte, 48<<10) // 48 MB live, in pointers so it is scanned
	for i := range ballast {
		ballast[i] = new([1 << 10]byte)
	}
	goruntime.GC()
	if got := TuneGC(); got != 50 {
		t.Errorf("with %d MB live TuneGC = %d, want 50", liveHeap()>>20, got)
	}
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("GOGC in force = %d, want 50", got)
	}
	goruntime.KeepAlive(ballast)

	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200)
	if got := TuneGC(); got != gcPercentUnset {
		t.Errorf("with GOGC set TuneGC = %d, want it left alone", got)
	}
	if got := debug.SetGCPercent(200); got != 200 {
		t.Errorf("with GOGC=200 set the percent became %d", got)
	}
}
