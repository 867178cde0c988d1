//go:build !linux || !cgo

package proc

// limitMallocArenas caps glibc's malloc arenas; elsewhere it does nothing.
func limitMallocArenas() bool { return false }
