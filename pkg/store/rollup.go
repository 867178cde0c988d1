package store

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/pulse-monitor/pulse/checks"
)

// Histogram buckets: bucket 0 holds latencies up to histBase, bucket i up to
// histBase·histGrowth^i, the last one everything slower (about 103 s and
// up). With a growth of 1.25 a quantile read from the bucket's geometric
// middle is within about ±12 % of the true value.
const (
	HistBuckets = 64
	histBase    = 100 * time.Microsecond
	histGrowth  = 1.25
)

// Histogram counts latencies in HistBuckets log-spaced buckets.
type Histogram [HistBuckets]uint64

var logGrowth = math.Log(histGrowth)

// HistBucket is the bucket a latency falls in.
func HistBucket(d time.Duration) int {
	if d <= histBase {
		return 0
	}
	i := int(math.Ceil(math.Log(float64(d)/float64(histBase)) / logGrowth))
	if i >= HistBuckets {
		return HistBuckets - 1
	}
	// Guard the float rounding at exact boundaries.
	if i > 0 && d <= histUpper(i-1) {
		i--
	}
	return i
}

// histUpper is the largest latency in bucket i (math.MaxInt64 for the last).
func histUpper(i int) time.Duration {
	if i >= HistBuckets-1 {
		return math.MaxInt64
	}
	return time.Duration(float64(histBase) * math.Pow(histGrowth, float64(i)))
}

// Add counts one latency.
func (h *Histogram) Add(d time.Duration) { h[HistBucket(d)]++ }

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, n := range o {
		h[i] += n
	}
}

// Count is the number of latencies counted.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0 < q ≤ 1) of the counted latencies:
// the geometric middle of the bucket holding it. Zero when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(1, min(rank, total))
	var seen uint64
	for i, c := range h {
		seen += c
		if seen < rank {
			continue
		}
		switch i {
		case 0:
			return histBase / 2
		case HistBuckets - 1:
			return time.Duration(float64(histUpper(i-1)) * histGrowth)
		}
		return time.Duration(math.Sqrt(float64(histUpper(i-1)) * float64(histUpper(i))))
	}
	return 0 // not reached
}

// appendHist appends h's sparse encoding: for each non-empty bucket, its
// index as one byte and its count as a uvarint. An hour of a steady check
// touches two or three buckets, so this is a handful of bytes.
func appendHist(b []byte, h *Histogram) []byte {
	for i, c := range h {
		if c != 0 {
			b = append(b, byte(i))
			b = binary.AppendUvarint(b, c)
		}
	}
	return b
}

var errBadHist = errors.New("malformed latency histogram")

// decodeHist adds the counts encoded in b to h.
func decodeHist(b []byte, h *Histogram) error {
	for len(b) > 0 {
		i := int(b[0])
		c, n := binary.Uvarint(b[1:])
		if i >= HistBuckets || n <= 0 {
			return errBadHist
		}
		h[i] += c
		b = b[1+n:]
	}
	return nil
}

// histMergeSQL is the SQL function pulse_hist_merge(a, b): the encoding of
// the sum of two encoded histograms. The rollup upsert uses it so several
// writers (the agent, `pulse check --record`) add up instead of overwrite.
func histMergeSQL(a, b []byte) ([]byte, error) {
	var h Histogram
	if err := decodeHist(a, &h); err != nil {
		return nil, err
	}
	if err := decodeHist(b, &h); err != nil {
		return nil, err
	}
	return appendHist(make([]byte, 0, len(a)+len(b)), &h), nil
}

// Rollup is one check's results aggregated over an hour (or, from Totals,
// over a longer span).
type Rollup struct {
	Check      string
	Hour       time.Time // start of the hour (of the span, for Totals)
	Runs       int64
	Failures   int64 // every non-ok run: warn, unknown and crit
	Warn       int64
	Crit       int64
	LatencySum time.Duration
	LatencyMax time.Duration
	Hist       Histogram // empty from Totals
}

// Add counts one result in r.
func (r *Rollup) Add(state checks.State, d time.Duration) {
	r.Runs++
	switch state {
	case checks.OK:
	case checks.Warn:
		r.Failures++
		r.Warn++
	case checks.Crit:
		r.Failures++
		r.Crit++
	default:
		r.Failures++
	}
	r.LatencySum += d
	r.LatencyMax = max(r.LatencyMax, d)
	r.Hist.Add(d)
}

// Merge adds o to r (to sum hours into days).
func (r *Rollup) Merge(o *Rollup) {
	r.Runs += o.Runs
	r.Failures += o.Failures
	r.Warn += o.Warn
	r.Crit += o.Crit
	r.LatencySum += o.LatencySum
	r.LatencyMax = max(r.LatencyMax, o.LatencyMax)
	r.Hist.Merge(&o.Hist)
}

// P estimates the q-quantile of the latency (P(0.95) is the p95), never
// above the largest latency seen.
func (r *Rollup) P(q float64) time.Duration {
	if q >= 1 {
		return r.LatencyMax
	}
	v := r.Hist.Quantile(q)
	if r.LatencyMax > 0 && v > r.LatencyMax {
		return r.LatencyMax
	}
	return v
}

// Mean is the average latency, zero without runs.
func (r *Rollup) Mean() time.Duration {
	if r.Runs == 0 {
		return 0
	}
	return r.LatencySum / time.Duration(r.Runs)
}

// Availability is the share of ok runs in [0, 1]; 1 without runs.
func (r *Rollup) Availability() float64 {
	if r.Runs == 0 {
		return 1
	}
	return float64(r.Runs-r.Failures) / float64(r.Runs)
}

func hourOf(t time.Time) int64 { return floorDiv(t.Unix(), 3600) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
