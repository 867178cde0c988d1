package config

import (
	"os"
	"strings"
	"testing"
)

// TestShallowIndex: the index Parse builds up front gives every path it
// holds the line the full index gives, and holds every check's, notifier's
// and table's own line.
func TestShallowIndex(t *testing.T) {
	example, err := os.ReadFile("../../pulse.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]string{
		"example": string(example),
		"nested": `
[agent]
name = "a"
[[check]]
name = "x"
type = "http"
expect = { status = [200], json = { "a.b" = "c" } }
[check.headers]
X = "1"
[[check]]
name = "y"
[check.expect]
status = ["2xx"]
[[notifier]]
name = "n"
[escalation.P1]
notify = ["n"]
[[escalation.P1.escalate]]
after = "5m"
`,
	}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			full := buildIndex([]byte(doc), 0).paths()
			shallow := buildIndex([]byte(doc), shallowDepth).paths()
			if len(shallow) == 0 || len(shallow) >= len(full) {
				t.Fatalf("shallow index has %d paths, full %d", len(shallow), len(full))
			}
			for k, l := range shallow {
				if strings.Count(k, "\x00") >= shallowDepth {
					t.Errorf("shallow index holds %q, deeper than %d", strings.ReplaceAll(k, "\x00", "."), shallowDepth)
				}
				if full[k] != l {
					t.Errorf("%q: shallow line %d, full line %d", strings.ReplaceAll(k, "\x00", "."), l, full[k])
				}
			}
			for k, l := range full {
				if strings.Count(k, "\x00") < shallowDepth && shallow[k] != l {
					t.Errorf("%q (line %d) missing from the shallow index", strings.ReplaceAll(k, "\x00", "."), l)
				}
			}
		})
	}
}

// paths is the index as a map from joined key path to line, the paths
// without a line left out.
func (ix *lineIndex) paths() map[string]int {
	parent := make([]ixEdge, len(ix.lines))
	for e, n := range ix.nodes {
		parent[n] = e
	}
	var key func(n int32) string
	key = func(n int32) string {
		e := parent[n]
		if e.parent == 0 {
			return e.seg
		}
		return key(e.parent) + "\x00" + e.seg
	}
	out := map[string]int{}
	for n, l := range ix.lines {
		if n > 0 && l != 0 {
			out[key(int32(n))] = l
		}
	}
	return out
}
