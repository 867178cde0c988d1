package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

func TestHistBuckets(t *testing.T) {
	prev := -1
	for d := time.Microsecond; d < 200*time.Second; d = d*21/20 + 1 {
		b := HistBucket(d)
		if b < prev {
			t.Fatalf("HistBucket(%v) = %d < HistBucket of a smaller latency %d", d, b, prev)
		}
		prev = b
		if b > 0 && d <= histUpper(b-1) || d > histUpper(b) {
			t.Fatalf("%v in bucket %d of bounds (%v, %v]", d, b, histUpper(b-1), histUpper(b))
		}
	}
	tests := []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{histBase, 0},
		{histBase + 1, 1},
		{125 * time.Microsecond, 1},
		{126 * time.Microsecond, 2},
		{time.Hour, HistBuckets - 1},
	}
	for _, tt := range tests {
		if got := HistBucket(tt.d); got != tt.want {
			t.Errorf("HistBucket(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func() time.Duration
	}{
		{"constant", func() time.Duration { return 42 * time.Millisecond }},
		{"uniform 1-100ms", func() time.Duration { return time.Millisecond + time.Duration(rng.Int64N(int64(99*time.Millisecond))) }},
		{"lognormal", func() time.Duration { return time.Duration(math.Exp(rng.NormFloat64()+9) * 1000) }},
		{"bimodal", func() time.Duration {
			if rng.IntN(10) == 0 {
				return 2 * time.Second
			}
			return 3 * time.Millisecond
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			ds := make([]time.Duration, 5000)
			for i := range ds {
				ds[i] = tt.gen()
				h.Add(ds[i])
			}
			slices.Sort(ds)
			for _, q := range []float64{0.5, 0.9, 0.95, 0.99} {
				exact := ds[int(math.Ceil(q*float64(len(ds))))-1]
				if got := h.Quantile(q); !withinBucket(got, exact) {
					t.Errorf("Quantile(%v) = %v, exact %v", q, got, exact)
				}
			}
		})
	}
	var empty Histogram
	if empty.Quantile(0.95) != 0 {
		t.Error("quantile of an empty histogram is not 0")
	}
}

// withinBucket: a quantile from the bucket's geometric middle is off by at
// most √1.25 ≈ 11.8 %.
func withinBucket(got, exact time.Duration) bool {
	if exact <= histBase {
		return got <= histBase
	}
	r := float64(got) / float64(exact)
	return r >= 1/math.Sqrt(histGrowth)-1e-9 && r <= math.Sqrt(histGrowth)+1e-9
}

func TestHistEncoding(t *testing.T) {
	var a, b Histogram
	a[0], a[5], a[63] = 1, 300, 1<<40
	b[5], b[7] = 2, 9
	enc := appendHist(nil, &a)
	if len(enc) != 1+1+1+2+1+6 {
		t.Errorf("sparse encoding is %d bytes: % x", len(enc), enc)
	}
	merged, err := histMergeSQL(enc, appendHist(nil, &b))
	if err != nil {
		t.Fatal(err)
	}
	var got Histogram
	if err := decodeHist(merged, &got); err != nil {
		t.Fatal(err)
	}
	a.Merge(&b)
	if got != a {
		t.Errorf("merged = %v\nwant %v", got, a)
	}
	for _, bad := range [][]byte{{64, 1}, {3}, {3, 0x80}} {
		if err := decodeHist(bad, &got); err == nil {
			t.Errorf("decodeHist(% x) accepted", bad)
		}
	}
}

func TestPerfEncoding(t *testing.T) {
	tests := []struct {
		name string
		in   []checks.Perf
	}{
		{"one integral", []checks.Perf{{Label: "users", Value: 12}}},
		{"full", []checks.Perf{{Label: "/var", Value: 812.5, UOM: "MB", Warn: "900", Crit: "950", Min: "0", Max: "1000"}}},
		{"several", []checks.Perf{{Label: "a", Value: -1}, {Label: "b b", Value: 1e300, UOM: "%"}, {Label: "c", Value: math.Inf(-1)}}},
		{"negative zero", []checks.Perf{{Label: "z", Value: math.Copysign(0, -1)}}},
		{"big integral", []checks.Perf{{Label: "bytes", Value: 1 << 60}}},
		{"unicode", []checks.Perf{{Label: "température", Value: 21.5, UOM: "°C"}}},
		{"seconds to the ns", []checks.Perf{{Label: "time", Value: (12345678 * time.Nanosecond).Seconds(), UOM: "s"}}},
		{"decimals", []checks.Perf{{Label: "x", Value: -2.5}, {Label: "y", Value: 1e-9}, {Label: "z", Value: 123.456},
			{Label: "w", Value: 0.1 + 0.2}, {Label: "v", Value: 2.199023255552e3}, {Label: "u", Value: math.NaN()}}},
		{"not worth a decimal", []checks.Perf{{Label: "big", Value: 3e12 + 0.5}, {Label: "small", Value: 1e-10}}},
		{"well-known and not", []checks.Perf{{Label: "load1", Value: 0.52, Min: "0", Max: "100"}, {Label: "time2", Value: 1, UOM: "ss"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := appendPerf(nil, tt.in)
			got, err := decodePerf(enc)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.in) {
				t.Fatalf("decoded %d items, want %d", len(got), len(tt.in))
			}
			samePerf(t, got, tt.in)
			for cut := range len(enc) {
				if _, err := decodePerf(enc[:cut]); err == nil {
					t.Errorf("decoded a truncated encoding (%d of %d bytes)", cut, len(enc))
				}
			}
			// Databases written before flagDict and flagDecimal hold this.
			old, err := decodePerf(appendPerfV1(nil, tt.in))
			if err != nil {
				t.Fatalf("the first encoding: %v", err)
			}
			samePerf(t, old, tt.in)
		})
	}
	if n := len(appendPerf(nil, []checks.Perf{{Label: "time", Value: 0.012, UOM: "s", Warn: "1", Crit: "2", Min: "0"}})); n > 12 {
		t.Errorf("a typical perf item takes %d bytes", n)
	}
	httpPerf := []checks.Perf{{Label: "time", Value: (12345678 * time.Nanosecond).Seconds(), UOM: "s"}, {Label: "size", Value: 1234, UOM: "B"}}
	if n := len(appendPerf(nil, httpPerf)); n > 14 {
		t.Errorf("the http check's perfdata takes %d bytes, want at most 14", n)
	}
	rng := rand.New(rand.NewPCG(5, 8))
	for range 20_000 {
		var v float64
		switch rng.IntN(3) {
		case 0:
			v = time.Duration(rng.Int64N(int64(time.Minute))).Seconds()
		case 1:
			v = float64(rng.Int64N(1e7)-5e6) / pow10[rng.IntN(maxDecimalExp+1)]
		default:
			v = math.Float64frombits(rng.Uint64())
		}
		in := []checks.Perf{{Label: "v", Value: v}}
		got, err := decodePerf(appendPerf(nil, in))
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		samePerf(t, got, in)
	}
}

func samePerf(t *testing.T, got, want []checks.Perf) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("decoded %d items, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		sameValue := math.Float64bits(g.Value) == math.Float64bits(w.Value) || (math.IsNaN(g.Value) && math.IsNaN(w.Value))
		g.Value, w.Value = 0, 0
		if !sameValue || g != w {
			t.Errorf("item %d = %+v (%v), want %+v (%v)", i, got[i], got[i].Value, want[i], want[i].Value)
		}
	}
}

// appendPerfV1 is the first encoding of perfdata (before flagDict and
// flagDecimal), kept to prove that what it stored still decodes.
func appendPerfV1(b []byte, ps []checks.Perf) []byte {
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for i := range ps {
		p := &ps[i]
		var flags byte
		iv, isInt := asInt(p.Value)
		if isInt {
			flags |= flagInt
		}
		for j, s := range [...]string{p.UOM, p.Warn, p.Crit, p.Min, p.Max} {
			if s != "" {
				flags |= flagUOM << j
			}
		}
		b = append(b, flags)
		b = appendString(b, p.Label)
		if isInt {
			b = binary.AppendVarint(b, iv)
		} else {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(p.Value))
		}
		for _, s := range [...]string{p.UOM, p.Warn, p.Crit, p.Min, p.Max} {
			if s != "" {
				b = appendString(b, s)
			}
		}
	}
	return b
}

func TestRollupsMatchRawResults(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 11))
	names := []string{"api", "db", "web"}
	const step = 7 * time.Second
	start := t0.Add(-20 * time.Minute) // spans 4 hours, not aligned
	n := int(4 * time.Hour / step)
	for i := range n {
		for _, name := range names {
			d := time.Duration(math.Exp(rng.NormFloat64()*0.8+8.5)) * time.Microsecond
			st := checks.OK
			switch x := rng.IntN(100); {
			case x < 3:
				st = checks.Crit
			case x < 6:
				st = checks.Warn
			case x < 7:
				st = checks.Unknown
			}
			if err := s.Submit(Record{Result: result(name, start.Add(time.Duration(i)*step), st, d)}); err != nil {
				t.Fatal(err)
			}
		}
		if i%97 == 0 { // many batches per hour: rollups are merged in SQL
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	from, to := start.Truncate(time.Hour), start.Add(5*time.Hour)
	all, err := s.AllRollups(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(names)*5 {
		t.Errorf("AllRollups returned %d rollups, want %d", len(all), len(names)*5)
	}
	totals, err := s.Totals(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			raw, err := s.Results(ctx, name, from, to, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != n {
				t.Fatalf("%d raw results, want %d", len(raw), n)
			}
			ups, err := s.Rollups(ctx, name, from, to)
			if err != nil {
				t.Fatal(err)
			}
			var sum Rollup
			for _, u := range ups {
				var want Rollup
				var ds []time.Duration
				for _, r := range raw {
					if !r.Start.Before(u.Hour) && r.Start.Before(u.Hour.Add(time.Hour)) {
						want.Add(r.State, r.Duration)
						ds = append(ds, r.Duration)
					}
				}
				if u.Runs != want.Runs || u.Failures != want.Failures || u.Warn != want.Warn || u.Crit != want.Crit ||
					u.LatencySum != want.LatencySum || u.LatencyMax != want.LatencyMax || u.Hist != want.Hist {
					t.Errorf("hour %v: rollup %+v\nraw gives %+v", u.Hour, u, want)
				}
				slices.Sort(ds)
				exact := ds[int(math.Ceil(0.95*float64(len(ds))))-1]
				if p := u.P(0.95); !withinBucket(p, exact) {
					t.Errorf("hour %v: p95 %v, exact %v", u.Hour, p, exact)
				}
				sum.Merge(&u)
			}
			tot := totals[name]
			if sum.Runs != int64(n) || tot.Runs != sum.Runs || tot.Failures != sum.Failures || tot.Warn != sum.Warn ||
				tot.Crit != sum.Crit || tot.LatencySum != sum.LatencySum || tot.LatencyMax != sum.LatencyMax {
				t.Errorf("Totals = %+v\nsum of hours %+v", tot, sum)
			}
		})
	}
	t.Run("hours starting in range", func(t *testing.T) {
		ups, err := s.Rollups(ctx, "api", t0.Add(-time.Minute), t0.Add(time.Hour+time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(ups) != 2 || !ups[0].Hour.Equal(t0) || !ups[1].Hour.Equal(t0.Add(time.Hour)) {
			t.Errorf("Rollups = %v", ups)
		}
	})
}

func TestRollupHelpers(t *testing.T) {
	var r Rollup
	for i, st := range []checks.State{checks.OK, checks.OK, checks.Warn, checks.Unknown, checks.Crit} {
		r.Add(st, time.Duration(i+1)*time.Millisecond)
	}
	if r.Runs != 5 || r.Failures != 3 || r.Warn != 1 || r.Crit != 1 {
		t.Errorf("counts %+v", r)
	}
	if got := r.Availability(); got != 0.4 {
		t.Errorf("Availability = %v", got)
	}
	if got := r.Mean(); got != 3*time.Millisecond {
		t.Errorf("Mean = %v", got)
	}
	if got := r.P(1); got != 5*time.Millisecond {
		t.Errorf("P(1) = %v, want the max 5ms", got)
	}
	if got := r.P(0.5); !withinBucket(got, 3*time.Millisecond) {
		t.Errorf("P(0.5) = %v, want about 3ms", got)
	}
	var empty Rollup
	if empty.Availability() != 1 || empty.Mean() != 0 || empty.P(0.95) != 0 {
		t.Errorf("empty rollup helpers: %v %v %v", empty.Availability(), empty.Mean(), empty.P(0.95))
	}
}

func fill(t testing.TB, s *Store, nChecks, perCheck int, start time.Time, every time.Duration) {
	t.Helper()
	for i := range perCheck {
		for c := range nChecks {
			r := result(fmt.Sprintf("check-%03d", c), start.Add(time.Duration(i)*every+time.Duration(c)*time.Millisecond),
				checks.OK, time.Duration(2000+(i*31+c*17)%5000)*time.Microsecond)
			if (i+c)%100 == 0 {
				r.State, r.Message = checks.Crit, "status 503, expected 200"
			}
			if c%4 == 0 {
				r.SetValue(float64((i * 7) % 1000))
			}
			if err := s.Submit(Record{Result: r}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// FuzzDecodePerf: no stored blob makes decodePerf panic, and what it
// decodes encodes and decodes to the same items.
func FuzzDecodePerf(f *testing.F) {
	f.Add(appendPerf(nil, []checks.Perf{{Label: "time", Value: 0.0123, UOM: "s"}, {Label: "size", Value: 1234, UOM: "B"}}))
	f.Add(appendPerfV1(nil, []checks.Perf{{Label: "/var", Value: 812.5, UOM: "MB", Warn: "900", Crit: "950", Min: "0", Max: "1000"}}))
	f.Add([]byte{1, flagDict | flagDecimal, 1, 5, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := decodePerf(b)
		if err != nil {
			return
		}
		again, err := decodePerf(appendPerf(nil, ps))
		if err != nil {
			t.Fatalf("re-encoding of %+v does not decode: %v", ps, err)
		}
		samePerf(t, again, ps)
	})
}
