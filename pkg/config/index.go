package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// lineIndex maps a key path (array elements are their decimal index, e.g.
// check.3.expect.status) to the line that defines it. It is a trie of path
// segments: a map keyed by the path as one joined string costs a copy of
// every prefix, quadratic in a key's depth (a header of many dotted parts
// is user input and must not stall a load); here each segment is one map entry and a lookup walks
// the path once.
type lineIndex struct {
	nodes map[ixEdge]int32 // (parent node, segment) → node; node 0 is the root
	lines []int            // by node; 0 where no line was recorded
}

type ixEdge struct {
	parent int32
	seg    string
}

func newLineIndex() *lineIndex {
	return &lineIndex{nodes: map[ixEdge]int32{}, lines: []int{0}}
}

// pathKey is a key path as one string, for the loader's set of reported paths.
func pathKey(path []string) string { return strings.Join(path, "\x00") }

// child returns parent's node for seg, creating it when create is set; -1
// when it does not exist (or parent is -1).
func (ix *lineIndex) child(parent int32, seg string, create bool) int32 {
	if parent < 0 {
		return -1
	}
	if n, ok := ix.nodes[ixEdge{parent, seg}]; ok {
		return n
	}
	if !create {
		return -1
	}
	n := int32(len(ix.lines))
	ix.nodes[ixEdge{parent, seg}] = n
	ix.lines = append(ix.lines, 0)
	return n
}

// set records line for node n unless it already has one.
func (ix *lineIndex) set(n int32, line int) {
	if n >= 0 && ix.lines[n] == 0 {
		ix.lines[n] = line
	}
}

// line returns the line of path, or of its closest ancestor that has one.
func (ix *lineIndex) line(path []string) int {
	line, n := 0, int32(0)
	for _, seg := range path {
		if n = ix.child(n, seg, false); n < 0 {
			break
		}
		if l := ix.lines[n]; l != 0 {
			line = l
		}
	}
	return line
}

// shallowDepth is the depth of the index Parse builds up front: tables and
// array elements (check.3), whose lines every check and notifier keeps.
// Deeper keys are only named in problems; their index is built when the
// first problem is reported: a large valid config never pays for an index
// of every key.
const shallowDepth = 2

// buildIndex walks the document once with go-toml's parser, recording the
// paths up to maxDepth segments (all of them when maxDepth is 0). It is only
// called on documents the decoder already accepted, so parse errors cannot
// occur; if one does, the index simply stops there.
func buildIndex(data []byte, maxDepth int) *lineIndex {
	ix := newLineIndex()
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
	within := func(depth int) bool { return maxDepth == 0 || depth <= maxDepth }
	arrays := map[int32]int{} // array-of-tables node → elements so far

	// keys follows a key-value's dotted key from node n at depth, recording
	// each new path's line; it returns the key's node and depth, or -1 once
	// past maxDepth.
	keys := func(n int32, depth int, kv *unstable.Node) (int32, int, int) {
		line := 0
		it := kv.Key()
		for it.Next() {
			k := it.Node()
			if line == 0 {
				line = lineOf(k.Raw)
			}
			depth++
			if !within(depth) {
				return -1, depth, line
			}
			n = ix.child(n, string(k.Data), true)
			ix.set(n, line)
		}
		return n, depth, line
	}
	var walk func(n int32, depth int, v *unstable.Node, line int)
	walk = func(n int32, depth int, v *unstable.Node, line int) {
		if n < 0 || !within(depth+1) {
			return // every path below is deeper
		}
		switch v.Kind {
		case unstable.InlineTable:
			it := v.Children()
			for it.Next() {
				kv := it.Node()
				if kv.Kind != unstable.KeyValue {
					continue
				}
				c, d, l := keys(n, depth, kv)
				walk(c, d, kv.Value(), l)
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
				c := ix.child(n, strconv.Itoa(i), true)
				ix.set(c, l)
				walk(c, depth+1, el, l)
				i++
			}
		}
	}

	var p unstable.Parser
	p.Reset(data)
	cur, curDepth := int32(0), 0
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			// A table header's path goes through the last element of every
			// array of tables on its way; nodes past maxDepth are only made
			// for an array of tables, whose element count must be kept.
			array := e.Kind == unstable.ArrayTable
			n, depth, line := int32(0), 0, 0
			it := e.Key()
			for it.Next() {
				k := it.Node()
				if line == 0 {
					line = lineOf(k.Raw)
				}
				last := it.IsLast()
				depth++
				n = ix.child(n, string(k.Data), array || within(depth))
				if within(depth) {
					ix.set(n, line)
				}
				if c, ok := arrays[n]; ok && n >= 0 && !(last && array) {
					depth++
					n = ix.child(n, strconv.Itoa(c-1), true)
					if within(depth) {
						ix.set(n, line)
					}
				}
			}
			if array {
				c := arrays[n]
				arrays[n] = c + 1
				depth++
				n = ix.child(n, strconv.Itoa(c), true)
				if within(depth) {
					ix.set(n, line)
				}
			}
			cur, curDepth = n, depth
		case unstable.KeyValue:
			if n, depth, line := keys(cur, curDepth, e); n >= 0 {
				walk(n, depth, e.Value(), line)
			}
		}
	}
	return ix
}
