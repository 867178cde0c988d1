//go:build !linux || !cgo

package agent

// LimitMallocArenas caps glibc's malloc arenas; elsewhere it does nothing.
func LimitMallocArenas() bool { return false }
