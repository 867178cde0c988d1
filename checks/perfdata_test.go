package checks

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

var perfdataCases = []struct {
	name string
	in   string
	want []Perf
	bad  int // malformed items reported
}{
	{name: "empty", in: ""},
	{name: "blank", in: " \t\n "},
	{name: "value only", in: "time=0.5s", want: []Perf{{Label: "time", Value: 0.5, UOM: "s"}}},
	{name: "all fields", in: "'label with spaces'=12.5ms;100;200;0;1000",
		want: []Perf{{Label: "label with spaces", Value: 12.5, UOM: "ms", Warn: "100", Crit: "200", Min: "0", Max: "1000"}}},
	{name: "escaped quote", in: "'it''s here'=1 '''quoted'''=2",
		want: []Perf{{Label: "it's here", Value: 1}, {Label: "'quoted'", Value: 2}}},
	{name: "equals inside quoted label", in: "'a=b'=3c", want: []Perf{{Label: "a=b", Value: 3, UOM: "c"}}},
	{name: "guideline units", in: "a=1s b=2ms c=3us d=4% e=5B f=6KB g=7MB h=8TB i=9c",
		want: []Perf{
			{Label: "a", Value: 1, UOM: "s"}, {Label: "b", Value: 2, UOM: "ms"}, {Label: "c", Value: 3, UOM: "us"},
			{Label: "d", Value: 4, UOM: "%"}, {Label: "e", Value: 5, UOM: "B"}, {Label: "f", Value: 6, UOM: "KB"},
			{Label: "g", Value: 7, UOM: "MB"}, {Label: "h", Value: 8, UOM: "TB"}, {Label: "i", Value: 9, UOM: "c"},
		}},
	{name: "units seen in the wild", in: "a=1GB b=2KiB c=3B/s d=21.5°C",
		want: []Perf{{Label: "a", Value: 1, UOM: "GB"}, {Label: "b", Value: 2, UOM: "KiB"}, {Label: "c", Value: 3, UOM: "B/s"}, {Label: "d", Value: 21.5, UOM: "°C"}}},
	{name: "undetermined value is left out", in: "a=U;1;2 b=4", want: []Perf{{Label: "b", Value: 4}}},
	{name: "check_load output", in: "load1=0.210;1000.000;2000.000;0; load5=0.240;1000.000;2000.000;0; ",
		want: []Perf{
			{Label: "load1", Value: 0.21, Warn: "1000.000", Crit: "2000.000", Min: "0"},
			{Label: "load5", Value: 0.24, Warn: "1000.000", Crit: "2000.000", Min: "0"},
		}},
	{name: "check_disk output", in: " /=13287555072B;0;0;0;270552530944",
		want: []Perf{{Label: "/", Value: 13287555072, UOM: "B", Warn: "0", Crit: "0", Min: "0", Max: "270552530944"}}},
	{name: "empty middle fields", in: "rta=1.5ms;;;0", want: []Perf{{Label: "rta", Value: 1.5, UOM: "ms", Min: "0"}}},
	{name: "ranges kept as written", in: "x=5;10:;@20:30;~:0;",
		want: []Perf{{Label: "x", Value: 5, Warn: "10:", Crit: "@20:30", Min: "~:0"}}},
	{name: "sign and exponent", in: "a=-1.5e3 b=+2 c=.5 d=1E-2s",
		want: []Perf{{Label: "a", Value: -1500}, {Label: "b", Value: 2}, {Label: "c", Value: 0.5}, {Label: "d", Value: 0.01, UOM: "s"}}},
	{name: "decimal comma", in: "a=0,5s", want: []Perf{{Label: "a", Value: 0.5, UOM: "s"}}},
	{name: "sloppy trailing semicolons", in: "a=1;2;3;0;100;;", want: []Perf{{Label: "a", Value: 1, Warn: "2", Crit: "3", Min: "0", Max: "100"}}},
	{name: "newlines and tabs separate", in: "a=1\nb=2\t c=3\r\n",
		want: []Perf{{Label: "a", Value: 1}, {Label: "b", Value: 2}, {Label: "c", Value: 3}}},
	{name: "no equals", in: "novalue", bad: 1},
	{name: "empty label", in: "=5 ''=6", bad: 2},
	{name: "empty value", in: "a= b=;1", bad: 2},
	{name: "not a number", in: "a=abc b=NaN c=Inf d=1.2.3 e=1,2,3 f=1.5,5", bad: 6},
	{name: "out of range", in: "a=1e999", bad: 1},
	{name: "too many fields", in: "a=1;2;3;4;5;6", bad: 1},
	{name: "unterminated quote", in: "'unterminated=5 b=6", bad: 1},
	{name: "unquoted spaces", in: "time taken=5s", want: []Perf{{Label: "taken", Value: 5, UOM: "s"}}, bad: 1},
	{name: "junk after quoted label", in: "'a'b=1 c=2", want: []Perf{{Label: "c", Value: 2}}, bad: 1},
	{name: "good items survive bad ones", in: "a=1 b=x c=3%", want: []Perf{{Label: "a", Value: 1}, {Label: "c", Value: 3, UOM: "%"}}, bad: 1},
}

func TestParsePerfdata(t *testing.T) {
	for _, tc := range perfdataCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePerfdata(tc.in)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParsePerfdata(%q)\n got  %+v\n want %+v", tc.in, got, tc.want)
			}
			var pe *PerfdataError
			switch {
			case tc.bad == 0 && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.bad > 0 && !errors.As(err, &pe):
				t.Errorf("error = %v, want a *PerfdataError", err)
			case tc.bad > 0 && pe.Count != tc.bad:
				t.Errorf("%d malformed items reported (%v), want %d", pe.Count, err, tc.bad)
			}
		})
	}
}

func TestPerfdataErrorListsAtMostFive(t *testing.T) {
	_, err := ParsePerfdata(strings.Repeat("bad ", 8))
	var pe *PerfdataError
	if !errors.As(err, &pe) || pe.Count != 8 || len(pe.Malformed) != 5 {
		t.Fatalf("err = %#v", err)
	}
	if !strings.Contains(err.Error(), "8 item(s) skipped") || !strings.Contains(err.Error(), "and 3 more") {
		t.Errorf("message %q", err)
	}
}

func TestFormatPerfdata(t *testing.T) {
	ps := []Perf{
		{Label: "it's here", Value: 12.5, UOM: "ms", Warn: "100", Crit: "200", Min: "0", Max: "1000"},
		{Label: "plain", Value: -3},
		{Label: "gap", Value: 1e21, Min: "0"},
	}
	const want = "'it''s here'=12.5ms;100;200;0;1000 plain=-3 gap=1e+21;;;0"
	if got := FormatPerfdata(ps); got != want {
		t.Fatalf("FormatPerfdata = %q, want %q", got, want)
	}
	back, err := ParsePerfdata(want)
	if err != nil || !reflect.DeepEqual(back, ps) {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

// FuzzParsePerfdata checks that the parser never panics, only returns
// well-formed items, and that what it returns survives a format/parse round
// trip unchanged.
func FuzzParsePerfdata(f *testing.F) {
	for _, tc := range perfdataCases {
		f.Add(tc.in)
	}
	f.Add("'a''''b'=1;;;; c=2e-5us")
	f.Add("x=1e+06B;'';;")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParsePerfdata(s)
		var pe *PerfdataError
		if err != nil && (!errors.As(err, &pe) || pe.Count == 0) {
			t.Fatalf("error %v is not a *PerfdataError with a count", err)
		}
		for _, p := range ps {
			if p.Label == "" || math.IsNaN(p.Value) || math.IsInf(p.Value, 0) || !validUOM(p.UOM) {
				t.Fatalf("malformed item %+v from %q", p, s)
			}
			for _, field := range []string{p.Warn, p.Crit, p.Min, p.Max} {
				if strings.ContainsAny(field, "; \t\n\r\v\f") {
					t.Fatalf("field %q of %+v holds a separator", field, p)
				}
			}
		}
		out := FormatPerfdata(ps)
		back, err := ParsePerfdata(out)
		if err != nil {
			t.Fatalf("re-parsing %q (from %q): %v", out, s, err)
		}
		if len(back) != len(ps) || (len(ps) > 0 && !reflect.DeepEqual(back, ps)) {
			t.Fatalf("round trip of %q via %q:\n got  %+v\n want %+v", s, out, back, ps)
		}
	})
}
