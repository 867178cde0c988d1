//go:build linux && cgo

package proc

import (
	"os"
	"testing"
)

// TestLimitMallocArenas: glibc takes the cap unless MALLOC_ARENA_MAX is
// set, which it leaves to glibc.
func TestLimitMallocArenas(t *testing.T) {
	if !glibcMalloc() {
		t.Skip("malloc is not glibc's here")
	}
	t.Setenv("MALLOC_ARENA_MAX", "4")
	if limitMallocArenas() {
		t.Error("MALLOC_ARENA_MAX is set: limitMallocArenas must leave it")
	}
	os.Unsetenv("MALLOC_ARENA_MAX")
	if !limitMallocArenas() {
		t.Error("glibc did not take M_ARENA_MAX")
	}
}
