package bench

import (
	"math"
	"math/bits"
	"time"
)

// Histogram is a log-linear latency histogram in the style of HDR Histogram: values below
// 128 µs are counted exactly, and above that every power of two is split into 64 equal
// buckets, so any recorded value is known to within 1/64 (about 1.6%). It covers 1 µs to
// several days in a fixed 21 KiB, and histograms merge exactly by adding counts. The zero
// value is empty and ready to use. A Histogram is not safe for concurrent use.
type Histogram struct {
	counts [histBuckets]uint64
	total  uint64
	max    uint64 // µs, exact
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits // buckets per power of two
	histMaxExp  = 40               // values up to 2^(40+7) µs (about 4.5 years) are bucketed
	histBuckets = 2*histSub + histMaxExp*histSub
)

// bucketOf returns the bucket index for v µs.
func bucketOf(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1 // v>>shift is in [64, 128)
	if shift > histMaxExp {
		return histBuckets - 1
	}
	return 2*histSub + (shift-1)*histSub + int(v>>shift) - histSub
}

// bucketLow returns the smallest value (µs) that falls in bucket i.
func bucketLow(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	return uint64((i-2*histSub)%histSub+histSub) << shift
}

// bucketMid returns a representative value for bucket i: the middle of its range.
func bucketMid(i int) float64 {
	if i < 2*histSub {
		return float64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	return float64(bucketLow(i)) + float64(uint64(1)<<shift)/2
}

// Record adds one observation.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	h.RecordN(uint64(us), 1)
}

// RecordN adds n observations of v µs.
func (h *Histogram) RecordN(v, n uint64) {
	if n == 0 {
		return
	}
	h.counts[bucketOf(v)] += n
	h.total += n
	h.max = max(h.max, v)
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.total }

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// Quantile returns the value (µs) below which a fraction q of the observations fall: the
// middle of the bucket holding the q-th observation, never above the exact maximum. It is
// 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) float64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	rank = min(max(rank, 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketMid(i), float64(h.max))
		}
	}
	return float64(h.max)
}

// Max returns the largest observation in µs.
func (h *Histogram) Max() uint64 { return h.max }

// histBucket is one non-empty bucket in serialised form: its lowest value and its count.
type histBucket = [2]uint64

// sparse returns the non-empty buckets, for the JSON report and the worker pipe.
func (h *Histogram) sparse() []histBucket {
	var out []histBucket
	for i, c := range h.counts {
		if c != 0 {
			out = append(out, histBucket{bucketLow(i), c})
		}
	}
	return out
}

// histogramOf rebuilds a histogram from sparse buckets and the exact maximum.
func histogramOf(buckets []histBucket, maxUs uint64) *Histogram {
	h := new(Histogram)
	for _, b := range buckets {
		h.RecordN(b[0], b[1])
	}
	h.max = max(h.max, maxUs)
	return h
}

// histJSON is a histogram on the wire and in the JSON report (for merging).
type histJSON struct {
	Buckets []histBucket `json:"buckets"` // [lowest µs of the bucket, count]
	MaxUs   uint64       `json:"max_us"`
}

func toHistJSON(h *Histogram) histJSON { return histJSON{Buckets: h.sparse(), MaxUs: h.Max()} }

func (j histJSON) histogram() *Histogram { return histogramOf(j.Buckets, j.MaxUs) }
