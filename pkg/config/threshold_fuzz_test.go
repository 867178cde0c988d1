package config

import (
	"math"
	"testing"
)

// FuzzParseThreshold checks that no input makes the threshold parser panic,
// that a parsed threshold holds finite numbers, and that its String() form
// parses back to the same threshold (what validate prints is what it read).
func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{
		"", "> 5", ">= 5", "< 100", "<= 0.5", "== 0", "!= 0", "outside 10..20",
		"inside -1..1", "  >5  ", ">-0", "> 1e3", "outside 1..1", "outside 2..1",
		"> ", "=> 5", "> NaN", "> Inf", "> 1e999", "outside 1...2", "outside ..2",
		"outside 1..2..3", "> 0x10", ">= 1_000", "< 5 6", "inside10..20",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			if th.IsSet() {
				t.Fatalf("ParseThreshold(%q) failed (%v) but returned a set threshold %+v", s, err, th)
			}
			return
		}
		if !th.IsSet() {
			if th != (Threshold{}) {
				t.Fatalf("ParseThreshold(%q) = %+v: unset but not zero", s, th)
			}
			return
		}
		for _, v := range []float64{th.A, th.B} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("ParseThreshold(%q) = %+v: bound is not finite", s, th)
			}
		}
		if (th.Op == "outside" || th.Op == "inside") && th.A > th.B {
			t.Fatalf("ParseThreshold(%q) = %+v: low bound above high bound", s, th)
		}
		again, err := ParseThreshold(th.String())
		if err != nil {
			t.Fatalf("String() of ParseThreshold(%q) is %q, which does not parse: %v", s, th.String(), err)
		}
		if again != th {
			t.Fatalf("ParseThreshold(%q) = %+v, but its String() %q parses to %+v", s, th, th.String(), again)
		}
		if th.Match(math.NaN()) {
			t.Fatalf("ParseThreshold(%q) matches NaN", s)
		}
	})
}
