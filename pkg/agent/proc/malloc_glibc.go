//go:build linux && cgo

package proc

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
func glibcMalloc() bool { return C.pulse_glibc() == 1 }

// limitMallocArenas caps glibc's malloc arenas, which only SQLite's memory
// (its page caches and statements) comes from in pulse. glibc gives each OS
// thread that calls malloc an arena of its own, up to eight per core, and Go
// moves the writer's goroutine between threads, so a large agent's writer
// cache ends up spread over several arenas that glibc seldom returns. Two
// arenas are plenty for one writer and a few readers that take turns on a
// lock of their own. MALLOC_ARENA_MAX in the environment wins. It reports
// whether it set the cap.
func limitMallocArenas() bool {
	if _, set := os.LookupEnv("MALLOC_ARENA_MAX"); set {
		return false
	}
	return C.pulse_limit_arenas(2) == 1
}
