package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// lineIndex maps a key path (segments joined by "\x00"; array elements are
// their decimal index, e.g. check.3.expect.status) to the line that defines it.
type lineIndex map[string]int

func pathKey(path []string) string { return strings.Join(path, "\x00") }

// line returns the line of path, or of its closest ancestor that has one.
func (ix lineIndex) line(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := ix[pathKey(path[:n])]; ok {
			return l
		}
	}
	return 0
}

// shallowDepth is the depth of the index Parse builds up front: tables and
// array elements (check.3), whose lines every check and notifier keeps.
// Deeper keys are only named in problems; their index is built when the
// first problem is reported. With 25,000 checks the full index was a fifth
// of what loading allocated.
const shallowDepth = 2

// buildIndex walks the document once with go-toml's parser, recording the
// paths up to maxDepth segments (all of them when maxDepth is 0). It is only
// called on documents the decoder already accepted, so parse errors cannot
// occur; if one does, the index simply stops there.
func buildIndex(data []byte, maxDepth int) lineIndex {
	ix := lineIndex{}
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	lineOf := func(r unstable.Range) int {
		n, found := slices.BinarySearch(starts, int(r.Offset))
		if found {
			return n + 1
		}
		return n
	}
	arrays := map[string]int{} // array-of-tables path → elements so far
	set := func(path []string, line int) {
		if maxDepth > 0 && len(path) > maxDepth {
			return
		}
		k := pathKey(path)
		if _, ok := ix[k]; !ok {
			ix[k] = line
		}
	}
	keyOf := func(n *unstable.Node) ([]string, int) {
		var parts []string
		line := 0
		it := n.Key()
		for it.Next() {
			k := it.Node()
			if line == 0 {
				line = lineOf(k.Raw)
			}
			parts = append(parts, string(k.Data))
		}
		return parts, line
	}
	var walk func(path []string, v *unstable.Node, line int)
	walk = func(path []string, v *unstable.Node, line int) {
		switch v.Kind {
		case unstable.InlineTable:
			it := v.Children()
			for it.Next() {
				kv := it.Node()
				if kv.Kind != unstable.KeyValue {
					continue
				}
				keys, l := keyOf(kv)
				full := slices.Concat(path, keys)
				for i := len(path) + 1; i <= len(full); i++ {
					set(full[:i], l)
				}
				walk(full, kv.Value(), l)
			}
		case unstable.Array:
			it := v.Children()
			i := 0
			for it.Next() {
				el := it.Node()
				if el.Kind == unstable.Comment {
					continue
				}
				l := line
				if el.Raw.Length > 0 {
					l = lineOf(el.Raw)
				}
				p := append(slices.Clip(path), strconv.Itoa(i))
				set(p, l)
				walk(p, el, l)
				i++
			}
		}
	}

	var p unstable.Parser
	p.Reset(data)
	var cur []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys, line := keyOf(e)
			var resolved []string
			for i, k := range keys {
				resolved = append(resolved, k)
				last := i == len(keys)-1
				if n, ok := arrays[pathKey(resolved)]; ok && !(last && e.Kind == unstable.ArrayTable) {
					resolved = append(resolved, strconv.Itoa(n-1))
				}
				if !last {
					set(resolved, line)
				}
			}
			if e.Kind == unstable.ArrayTable {
				k := pathKey(resolved)
				n := arrays[k]
				arrays[k] = n + 1
				set(resolved, line)
				resolved = append(resolved, strconv.Itoa(n))
			}
			set(resolved, line)
			cur = resolved
		case unstable.KeyValue:
			if maxDepth > 0 && len(cur) >= maxDepth {
				continue // every path below is deeper
			}
			keys, line := keyOf(e)
			full := slices.Concat(cur, keys)
			for i := len(cur) + 1; i <= len(full); i++ {
				set(full[:i], line)
			}
			walk(full, e.Value(), line)
		}
	}
	return ix
}
