package config

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// deepKey is dotted parts a0.a1...a(n-1).
func deepKey(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte('.')
		}
		fmt.Fprintf(&b, "a%d", i)
	}
	return b.String()
}

const deepAgent = "[agent]\ndatabase = \"x.db\"\n"

// deepShapes are configs with one key n levels deep, each invalid, in the
// places the loader walks: the line index, ${VAR} expansion, arrays of
// tables, dotted keys, and a map-typed check key.
var deepShapes = []struct {
	name, want string
	doc        func(k string) string
}{
	{"header", `pulse.toml:3: unknown key "a0"`, func(k string) string {
		return deepAgent + "[" + k + "]\nx = 1\n"
	}},
	{"header-env", `pulse.toml:3: unknown key "a0"`, func(k string) string {
		return deepAgent + "[" + k + "]\nx = \"${HOME}\"\n"
	}},
	{"array-header", `pulse.toml:3: unknown key "a0"`, func(k string) string {
		return deepAgent + "[[" + k + "]]\nx = 1\n"
	}},
	{"dotted-key", `pulse.toml:3: agent: unknown key "a0"`, func(k string) string {
		return deepAgent + k + " = \"$$\"\n"
	}},
	{"check-headers", `pulse.toml:7: check "x": headers.a0: expected a string, got a table`, func(k string) string {
		return deepAgent + "[[check]]\nname = \"x\"\ntype = \"http\"\nurl = \"http://127.0.0.1/\"\n[check.headers." + k + "]\nx = \"${HOME}\"\n"
	}},
}

// parseAlloc parses doc and returns the bytes it allocated.
func parseAlloc(t *testing.T, doc string) (uint64, error) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Parse("pulse.toml", []byte(doc), func(string) (string, bool) { return "/root", true })
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, err
}

// TestDeepKeyIsLinear: loading a key nested 4n deep costs about four times
// what n deep costs, not sixteen. Allocated bytes stand in for time: the
// quadratic steps were copies (a joined key path per prefix, a key path per
// level), and bytes do not depend on the machine's load.
func TestDeepKeyIsLinear(t *testing.T) {
	const n = 1000
	for _, s := range deepShapes {
		t.Run(s.name, func(t *testing.T) {
			small, err := parseAlloc(t, s.doc(deepKey(n)))
			if err == nil || err.Error() != s.want {
				t.Fatalf("n=%d: got %v, want %s", n, err, s.want)
			}
			large, err := parseAlloc(t, s.doc(deepKey(4*n)))
			if err == nil || err.Error() != s.want {
				t.Fatalf("n=%d: got %v, want %s", 4*n, err, s.want)
			}
			if ratio := float64(large) / float64(small); ratio > 8 {
				t.Errorf("%d parts allocated %d B, %d parts %d B: %.1f times for 4 times the depth", n, small, 4*n, large, ratio)
			}
		})
	}
}

// TestDeepHeaderRejected: a header of very many dotted parts, as hostile
// input may hold, is one line of error, found without a quadratic index.
func TestDeepHeaderRejected(t *testing.T) {
	_, err := Parse("pulse.toml", []byte(deepShapes[0].doc(deepKey(50000))), nil)
	var errs *Errors
	if !errors.As(err, &errs) || err.Error() != `pulse.toml:3: unknown key "a0"` {
		t.Fatalf("got %v", err)
	}
}

// BenchmarkDeepHeader: go test -bench DeepHeader -benchtime 3x ./pkg/config/
func BenchmarkDeepHeader(b *testing.B) {
	for _, n := range []int{12500, 50000} {
		data := []byte(deepShapes[0].doc(deepKey(n)))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := Parse("pulse.toml", data, nil); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

// TestEnvProblemsInKeyOrder: expansion walks maps in no order, yet problems
// on one line come out in key order, the same on every run.
func TestEnvProblemsInKeyOrder(t *testing.T) {
	doc := deepAgent + `[[check]]
name = "x"
type = "http"
url = "http://127.0.0.1/"
headers = { B = "${NO_B}", A = "${NO_A}", C = "${NO_C}" }
tags = ["${NO_T}", "a", "b", "c", "d", "e", "f", "g", "h", "i", "${NO_U}"]
`
	want := `pulse.toml:7: check "x": headers.A: environment variable NO_A is not set
pulse.toml:7: check "x": headers.B: environment variable NO_B is not set
pulse.toml:7: check "x": headers.C: environment variable NO_C is not set
pulse.toml:8: check "x": tags[0]: environment variable NO_T is not set
pulse.toml:8: check "x": tags[10]: environment variable NO_U is not set`
	for range 20 {
		_, err := parseString(t, ".", doc, nil)
		if err == nil {
			t.Fatal("accepted")
		}
		if got := err.Error(); got != want {
			t.Fatalf("got\n%s\nwant\n%s", got, want)
		}
	}
}
