package proc

import (
	"context"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestCap: a reload runs under a soft memory limit of about the
// agent's footprint, lifted afterwards; an operator's limit is kept.
func TestCap(t *testing.T) {
	var m Memory
	orig := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(orig) })

	debug.SetMemoryLimit(math.MaxInt64)
	ballast := make([]byte, 32<<20) // the limit must make room for it
	runtime.GC()                    // as Run does before the first reload
	restore := m.Cap()
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
	runtime.KeepAlive(ballast)

	const operator = 3 << 30 // GOMEMLIMIT=3GiB
	debug.SetMemoryLimit(operator)
	restore = m.Cap()
	if got := debug.SetMemoryLimit(-1); got != operator {
		t.Errorf("with GOMEMLIMIT set, the limit during the reload is %d, want %d", got, operator)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != operator {
		t.Errorf("with GOMEMLIMIT set, the limit after the reload is %d, want %d", got, operator)
	}
}

func TestGCPercentFor(t *testing.T) {
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{0, 100}, {4 << 20, 100}, {10 << 20, 100}, {16 << 20, 62}, {24 << 20, 41}, {32 << 20, 31}, {64 << 20, 30}, {1 << 30, 30},
	} {
		if got := gcPercentFor(tt.live); got != tt.want {
			t.Errorf("gcPercentFor(%d MB) = %d, want %d", tt.live>>20, got, tt.want)
		}
	}
}

// TestTune: without GOGC in the environment pulse run sets the
// headroom for the live heap, a reload runs with Go's default under its
// limit and gets the headroom for the new live heap; GOGC wins.
func TestTune(t *testing.T) {
	var m Memory
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })

	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	ballast := make([]byte, 64<<20) // a large agent's live heap
	runtime.GC()
	if got := m.Tune(); got != minGCPercent {
		t.Fatalf("Tune set %d with %d MB live, want %d", got, liveHeap()>>20, minGCPercent)
	}
	restore := m.Cap()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d during a reload, want 100", got)
	}
	restore()
	if got := debug.SetGCPercent(100); got != minGCPercent {
		t.Errorf("GOGC %d after a reload, want %d", got, minGCPercent)
	}
	runtime.KeepAlive(ballast)
	ballast = nil
	runtime.GC()
	if got := m.Tune(); got != 100 {
		t.Errorf("Tune set %d with %d MB live, want 100", got, liveHeap()>>20)
	}

	t.Setenv("GOGC", "200") // the operator's choice stands
	debug.SetGCPercent(200)
	if got := m.Tune(); got != 0 {
		t.Errorf("with GOGC=200, Tune set %d", got)
	}
	restore = m.Cap()
	if got := debug.SetGCPercent(200); got != 200 {
		t.Errorf("with GOGC=200, GOGC %d during a reload, want 200", got)
	}
	restore()
	if got := debug.SetGCPercent(200); got != 200 {
		t.Errorf("with GOGC=200, GOGC %d after a reload, want 200", got)
	}
}

// TestKeepTuned: the headroom follows the live heap while pulse runs,
// but a reload in progress keeps Go's default under its limit.
func TestKeepTuned(t *testing.T) {
	var m Memory
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.KeepTuned(ctx, time.Millisecond); close(done) }()
	gogc := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	waitFor := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for gogc() != want {
			if time.Now().After(deadline) {
				t.Fatalf("GOGC %d, want %d (%d MB live)", gogc(), want, liveHeap()>>20)
			}
			runtime.GC()
			time.Sleep(time.Millisecond)
		}
	}

	ballast := make([]byte, 64<<20) // the agent grew: a large agent's live heap
	runtime.GC()
	waitFor(minGCPercent)

	restore := m.Cap()
	time.Sleep(20 * time.Millisecond) // many ticks
	if got := gogc(); got != 100 {
		t.Errorf("GOGC %d during a reload, want 100", got)
	}
	runtime.KeepAlive(ballast)
	ballast = nil
	restore()
	waitFor(100) // the reload dropped checks: a small agent again

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("KeepTuned did not return when its context ended")
	}
}
