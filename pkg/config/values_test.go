package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90s", 90 * time.Second, ""},
		{"15m", 15 * time.Minute, ""},
		{"2h", 2 * time.Hour, ""},
		{"30d", 30 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{" 500ms ", 500 * time.Millisecond, ""},
		{"0s", 0, ""},
		{"", 0, "empty duration"},
		{"-1h", 0, "must not be negative"},
		{"d", 0, "invalid duration"},
		{"5", 0, "invalid duration"},
		{"1.5d", 0, "invalid duration"},
		{"99999999d", 0, "too long"},
		{"1w", 0, "invalid duration"},
		{"1d-1h", 0, "invalid duration"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
			if rt, err := ParseDuration(Duration(got).String()); err != nil || rt != got {
				t.Errorf("round trip of %q through %q = %v, %v", tc.in, Duration(got).String(), rt, err)
			}
		})
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"2GB", 2_000_000_000, false},
		{"2GiB", 2 << 30, false},
		{"512MB", 512_000_000, false},
		{"1MiB", 1 << 20, false},
		{"64KiB", 64 << 10, false},
		{"1.5KB", 1500, false},
		{"100", 100, false},
		{"10 mb", 10_000_000, false},
		{"", 0, true},
		{"GB", 0, true},
		{"5XB", 0, true},
		{"-1MB", 0, true},
		{"99999999999TB", 0, true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseByteSize(tc.in)
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("ParseByteSize(%q) = %d, %v; want %d (error %v)", tc.in, got, err, tc.want, tc.err)
			}
		})
	}
}

func TestParseThreshold(t *testing.T) {
	for _, tc := range []struct {
		in        string
		match     []float64
		noMatch   []float64
		err       string
		unsetting bool
	}{
		{in: "> 5", match: []float64{5.01, 100}, noMatch: []float64{5, -1}},
		{in: ">=5", match: []float64{5, 6}, noMatch: []float64{4.99}},
		{in: "< 100", match: []float64{99}, noMatch: []float64{100}},
		{in: "<= 0.5", match: []float64{0.5, -3}, noMatch: []float64{0.51}},
		{in: "== 0", match: []float64{0}, noMatch: []float64{1}},
		{in: "!= 0", match: []float64{1, -1}, noMatch: []float64{0}},
		{in: "outside 10..20", match: []float64{9.9, 20.1}, noMatch: []float64{10, 15, 20}},
		{in: "inside 10..20", match: []float64{10, 20}, noMatch: []float64{9, 21}},
		{in: "", unsetting: true},
		{in: "5", err: "unknown operator"},
		{in: "> five", err: "expected a number after >"},
		{in: "outside 20..10", err: "low bound is above"},
		{in: "outside 10-20", err: "LOW..HIGH"},
		{in: "> NaN", err: "expected a number"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			th, err := ParseThreshold(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseThreshold(%q) error = %v, want %q", tc.in, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if th.IsSet() == tc.unsetting {
				t.Fatalf("IsSet = %v", th.IsSet())
			}
			for _, v := range tc.match {
				if !th.Match(v) {
					t.Errorf("%q does not match %v", tc.in, v)
				}
			}
			for _, v := range tc.noMatch {
				if th.Match(v) {
					t.Errorf("%q matches %v", tc.in, v)
				}
			}
		})
	}
}

func TestStatusFromTOML(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []StatusMatcher
		err  string
	}{
		{src: `[200]`, want: []StatusMatcher{{Code: 200}}},
		{src: `200`, want: []StatusMatcher{{Code: 200}}},
		{src: `"2xx"`, want: []StatusMatcher{{Class: 2}}},
		{src: `[200, 204, "3XX", "404"]`, want: []StatusMatcher{{Code: 200}, {Code: 204}, {Class: 3}, {Code: 404}}},
		{src: `[600]`, err: `expect.status[0]: invalid status 600`},
		{src: `["2xxx"]`, err: `expect.status[0]: invalid status "2xxx"`},
		{src: `[true]`, err: `expect.status[0]: expected a status code like 200 or a class like "2xx", got a boolean`},
		{src: `{ a = 1 }`, err: `expect.status[0]: expected a status code`},
	} {
		t.Run(tc.src, func(t *testing.T) {
			cfg, err := Parse("s.toml", []byte("[[check]]\nname = \"h\"\ntype = \"http\"\nurl = \"http://127.0.0.1/\"\nexpect.status = "+tc.src+"\n"), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), "s.toml:5: check \"h\": "+tc.err) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq(t, "status", cfg.Checks[0].Expect.Status, tc.want)
			for i, m := range tc.want {
				if cfg.Checks[0].Expect.Status[i].String() != m.String() {
					t.Errorf("String() = %s", m)
				}
			}
		})
	}
	two := StatusMatcher{Class: 2}
	if !two.Match(204) || two.Match(304) || !(StatusMatcher{Code: 301}).Match(301) {
		t.Error("Match is wrong")
	}
}

func TestParseClock(t *testing.T) {
	for in, want := range map[string]time.Duration{"09:00": 9 * time.Hour, "00:00": 0, "23:59": 23*time.Hour + 59*time.Minute} {
		if got, err := ParseClock(in); err != nil || got != want {
			t.Errorf("ParseClock(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"9:00", "24:00", "12:60", "noon", "", "12:00:00"} {
		if _, err := ParseClock(in); err == nil {
			t.Errorf("ParseClock(%q) accepted", in)
		}
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"interval", "timeout", "severity", "warn_if", "url", "webhook_url"}
	for in, want := range map[string]string{
		"intervall":   "interval",
		"timout":      "timeout",
		"sevreity":    "severity",
		"warnif":      "warn_if",
		"warn-if":     "warn_if",
		"URL":         "url",
		"webhook_ulr": "webhook_url",
		"color":       "",
		"x":           "",
	} {
		if got := closest(in, keys); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}
