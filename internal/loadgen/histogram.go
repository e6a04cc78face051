package loadgen

import (
	"math/bits"
	"time"
)

// subBits is the number of mantissa bits each power of two is split by:
// 32 buckets per doubling, so a percentile is within about 3% of the
// true value.
const subBits = 5

// nBuckets covers every positive int64 nanosecond value.
const nBuckets = (64 - subBits + 1) << subBits

// Histogram counts durations in log-linear buckets: exact below 32 ns,
// within about 3% above. Its zero value is empty and ready. It is not
// safe for concurrent use; give each goroutine its own and Merge them.
type Histogram struct {
	counts [nBuckets]uint64
	total  uint64
}

// bucket returns the bucket of v (v >= 0).
func bucket(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	exp := bits.Len64(v) - subBits - 1 // shift that leaves subBits+1 bits
	mant := v >> uint(exp)             // in [1<<subBits, 1<<(subBits+1))
	return (exp+1)<<subBits + int(mant-1<<subBits)
}

// lowest returns the smallest value of bucket i.
func lowest(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	exp := i>>subBits - 1
	mant := uint64(i&(1<<subBits-1)) + 1<<subBits
	return mant << uint(exp)
}

// Record counts d; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucket(uint64(max(d, 0)))]++
	h.total++
}

// Merge adds the counts of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
}

// Count returns the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Quantile returns the q-quantile (0 <= q <= 1) of the recorded
// durations, as the lower bound of its bucket, or 0 when none is
// recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := uint64(q*float64(h.total-1)) + 1 // 1-based rank
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(lowest(i))
		}
	}
	return time.Duration(lowest(nBuckets - 1))
}
