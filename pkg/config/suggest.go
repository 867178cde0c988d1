package config

import (
	"fmt"
	"strings"
)

// suggest returns ` (did you mean "X"?)` for the candidate closest to key, or
// "" when none is close enough to be a plausible typo.
func suggest(key string, candidates []string) string {
	if best := closest(key, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// closest returns the candidate closest to key, or "" when none is close
// enough to be a plausible typo.
func closest(key string, candidates []string) string {
	best, bestD := "", 0
	k := strings.ToLower(strings.ReplaceAll(key, "-", "_"))
	for _, c := range candidates {
		d := editDistance(k, c)
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	limit := 2
	if len(key) <= 4 {
		limit = 1
	}
	if bestD > limit && !(len(k) >= 4 && strings.HasPrefix(best, k)) {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes cost 1.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return max(len(a), len(b))
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// Suggest returns ` (did you mean "X"?)` for the candidate closest to key,
// or "" when none is close: the hint every "unknown name" message uses.
func Suggest(key string, candidates []string) string { return suggest(key, candidates) }
