package schedule

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the scheduler's counters.
type Stats struct {
	Jobs           int    // jobs loaded
	Started        uint64 // runs started
	SkippedOverlap uint64 // runs not started because the previous one was still running
	// Missed counts run times that passed while the scheduler could not
	// start anything (saturated, suspended, clock jump): they are dropped,
	// not made up in a burst.
	Missed uint64
	// ClockStepsBack counts the times the wall clock went back by more
	// than a second; each time the jobs were moved to their next run time
	// after the new now, instead of waiting for the old ones.
	ClockStepsBack uint64
	InFlight       int // runs in flight now
	MaxInFlight    int // most runs in flight at once since New
	// Lateness is the delay between each run's scheduled time and its start.
	Lateness Histogram
}

// Log-linear buckets over microseconds: 16 per power of two, so a quantile
// read from its bucket's upper bound is at most 6.25 % high; values below
// 16 µs are exact, values past 2^36 µs (19 h) share the last bucket.
const (
	subBits    = 4
	subBuckets = 1 << subBits
	maxExp     = 36
	numBuckets = (maxExp-subBits+2)*subBuckets + 1
)

func bucketOf(d time.Duration) int {
	if d < 0 {
		d = 0
	}
	v := uint64(d / time.Microsecond)
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - 1
	if e > maxExp {
		return numBuckets - 1
	}
	s := (v >> (e - subBits)) & (subBuckets - 1)
	return (e-subBits+1)*subBuckets + int(s)
}

// bucketUpper is the exclusive upper bound of bucket i.
func bucketUpper(i int) time.Duration {
	if i >= numBuckets-1 {
		return time.Duration(math.MaxInt64)
	}
	g, s := i/subBuckets, i%subBuckets
	if g == 0 {
		return time.Duration(i+1) * time.Microsecond
	}
	return time.Duration((subBuckets+s+1)<<(g-1)) * time.Microsecond
}

// histogram is the live, lock-free lateness recorder.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
}

func (h *histogram) observe(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(d)].Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (h *histogram) snapshot() Histogram {
	var s Histogram
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			s.buckets = append(s.buckets, Bucket{Upper: bucketUpper(i), Count: c})
			s.count += c
		}
	}
	s.sum = time.Duration(h.sum.Load())
	s.max = time.Duration(h.max.Load())
	return s
}

// Histogram is a snapshot of lateness observations.
type Histogram struct {
	buckets []Bucket
	count   uint64
	sum     time.Duration
	max     time.Duration
}

// Bucket counts observations below Upper and at or above the previous
// bucket's Upper.
type Bucket struct {
	Upper time.Duration
	Count uint64
}

// Count is the number of observations.
func (h Histogram) Count() uint64 { return h.count }

// Sum is the total of all observations.
func (h Histogram) Sum() time.Duration { return h.sum }

// Max is the largest observation.
func (h Histogram) Max() time.Duration { return h.max }

// Buckets returns the non-empty buckets in increasing order.
func (h Histogram) Buckets() []Bucket { return h.buckets }

// Quantile returns an upper bound (within 6.25 %, never above Max) of the
// q-quantile, 0 < q <= 1; zero when there are no observations.
func (h Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	rank = min(max(rank, 1), h.count)
	var seen uint64
	for _, b := range h.buckets {
		seen += b.Count
		if seen >= rank {
			return min(b.Upper, h.max)
		}
	}
	return h.max
}
