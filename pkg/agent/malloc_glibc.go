//go:build linux && cgo

package agent

/*
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
static int pulse_limit_arenas(int n) { return mallopt(M_ARENA_MAX, n); }
static int pulse_glibc(void) { return 1; }
#else
static int pulse_limit_arenas(int n) { return 0; }
static int pulse_glibc(void) { return 0; }
#endif
*/
import "C"

import "os"

// glibcMalloc is whether malloc is glibc's (not musl's, say).
var glibcMalloc = C.pulse_glibc() == 1

// LimitMallocArenas caps glibc's malloc arenas, which only SQLite's memory
// (its page caches and statements) comes from in pulse. glibc gives each OS
// thread that calls malloc an arena of its own, up to eight per core, and
// Go moves the writer's goroutine between threads: with 25,000 checks the
// writer's cache ended up spread over six arenas holding 9.5 MB, which
// glibc seldom returns (docs/BENCHMARKS.md, goal 3). Two arenas are plenty
// for one writer and a few readers that take turns on a lock of their own.
// MALLOC_ARENA_MAX in the environment wins. It reports whether it set it.
func LimitMallocArenas() bool {
	if _, set := os.LookupEnv("MALLOC_ARENA_MAX"); set {
		return false
	}
	return C.pulse_limit_arenas(2) == 1
}
