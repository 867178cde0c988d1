package schedule

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	values := []time.Duration{0, 1, time.Microsecond, 15 * time.Microsecond, 16 * time.Microsecond, 17 * time.Microsecond,
		time.Millisecond, 249 * time.Millisecond, 250 * time.Millisecond, time.Second, time.Hour}
	for range 10_000 {
		values = append(values, time.Duration(rng.Int64N(int64(10*time.Minute))))
	}
	for _, v := range values {
		i := bucketOf(v)
		upper := bucketUpper(i)
		lower := time.Duration(0)
		if i > 0 {
			lower = bucketUpper(i - 1)
		}
		if v.Truncate(time.Microsecond) < lower || v >= upper {
			t.Fatalf("%s in bucket %d [%s, %s)", v, i, lower, upper)
		}
		if v >= 16*time.Microsecond && float64(upper-lower) > float64(lower)/16+float64(time.Microsecond) {
			t.Fatalf("bucket %d [%s, %s) wider than 1/16", i, lower, upper)
		}
	}
	if i := bucketOf(1000 * time.Hour); i != numBuckets-1 {
		t.Errorf("1000h in bucket %d, want the last (%d)", i, numBuckets-1)
	}
	for i := 1; i < numBuckets; i++ {
		if bucketUpper(i) <= bucketUpper(i-1) {
			t.Fatalf("bucket bounds not increasing at %d", i)
		}
	}
}

func TestHistogramQuantile(t *testing.T) {
	cases := []struct {
		name   string
		values []time.Duration
		q      float64
		lo, hi time.Duration // the quantile's true value and its bound
	}{
		{"empty", nil, 0.99, 0, 0},
		{"one", []time.Duration{5 * time.Millisecond}, 0.99, 5 * time.Millisecond, 5 * time.Millisecond},
		{"p99 of 1..1000 ms", ms(1, 1000), 0.99, 990 * time.Millisecond, 990 * time.Millisecond * 17 / 16},
		{"p50 of 1..1000 ms", ms(1, 1000), 0.5, 500 * time.Millisecond, 500 * time.Millisecond * 17 / 16},
		{"p100 is the max", ms(1, 1000), 1, time.Second, time.Second},
		{"negative counts as zero", []time.Duration{-time.Second}, 0.5, 0, time.Microsecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, v := range tc.values {
				h.observe(v)
			}
			s := h.snapshot()
			if s.Count() != uint64(len(tc.values)) {
				t.Errorf("count %d, want %d", s.Count(), len(tc.values))
			}
			got := s.Quantile(tc.q)
			if got < tc.lo || got > tc.hi {
				t.Errorf("Quantile(%v) = %s, want in [%s, %s]", tc.q, got, tc.lo, tc.hi)
			}
			var n uint64
			for _, b := range s.Buckets() {
				n += b.Count
			}
			if n != s.Count() {
				t.Errorf("buckets hold %d, count %d", n, s.Count())
			}
		})
	}
}

func ms(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*time.Millisecond)
	}
	return out
}
