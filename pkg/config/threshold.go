package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Threshold is a comparison on a number: "> 5", ">= 5", "< 100", "<= 0.5",
// "== 0", "!= 0" or "outside 10..20" (also "inside 10..20"). The zero value
// is unset and never matches. Every check kind shares this one parser.
type Threshold struct {
	Op   string // ">", ">=", "<", "<=", "==", "!=", "outside", "inside"
	A, B float64
	src  string
}

// IsSet reports whether a threshold was configured.
func (t Threshold) IsSet() bool { return t.Op != "" }

// String returns the expression as written.
func (t Threshold) String() string { return t.src }

// Match reports whether v meets the condition. NaN never matches.
func (t Threshold) Match(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	switch t.Op {
	case ">":
		return v > t.A
	case ">=":
		return v >= t.A
	case "<":
		return v < t.A
	case "<=":
		return v <= t.A
	case "==":
		return v == t.A
	case "!=":
		return v != t.A
	case "outside":
		return v < t.A || v > t.B
	case "inside":
		return v >= t.A && v <= t.B
	}
	return false
}

// UnmarshalText parses a threshold expression.
func (t *Threshold) UnmarshalText(b []byte) error {
	v, err := ParseThreshold(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// MarshalText returns the expression as written.
func (t Threshold) MarshalText() ([]byte, error) { return []byte(t.src), nil }

// ParseThreshold parses a threshold expression; "" is the unset threshold.
func ParseThreshold(s string) (Threshold, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return Threshold{}, nil
	}
	bad := func(why string) (Threshold, error) {
		return Threshold{}, fmt.Errorf("invalid threshold %q: %s (use e.g. \"> 5\", \"<= 0.5\", \"outside 10..20\")", s, why)
	}
	for _, word := range []string{"outside", "inside"} {
		if rest, ok := strings.CutPrefix(in, word); ok {
			lo, hi, ok := strings.Cut(strings.TrimSpace(rest), "..")
			if !ok {
				return bad("a range is written LOW..HIGH")
			}
			a, err1 := parseNumber(lo)
			b, err2 := parseNumber(hi)
			if err1 != nil || err2 != nil {
				return bad("range bounds must be numbers")
			}
			if a > b {
				return bad("the low bound is above the high bound")
			}
			return Threshold{Op: word, A: a, B: b, src: in}, nil
		}
	}
	for _, op := range []string{">=", "<=", "==", "!=", ">", "<"} {
		if rest, ok := strings.CutPrefix(in, op); ok {
			a, err := parseNumber(rest)
			if err != nil {
				return bad("expected a number after " + op)
			}
			return Threshold{Op: op, A: a, src: in}, nil
		}
	}
	return bad("unknown operator")
}

func parseNumber(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	return v, nil
}
