// Package pace paces work to a rate: a token bucket that fills at a rate of tokens per
// second up to a burst. Time is passed in (nanoseconds on any monotonic clock), so that
// tests drive it without sleeping.
package pace

// Bucket is a token bucket. It belongs to one goroutine and is not safe for concurrent use.
type Bucket struct {
	perNs  float64 // tokens per nanosecond; 0 means unlimited
	burst  float64
	tokens float64
	last   int64
}

// New returns a bucket holding tokens tokens (at most burst) at time now. rate <= 0
// means no limit.
func New(rate float64, burst int, tokens float64, now int64) *Bucket {
	b := &Bucket{burst: float64(max(burst, 1)), last: now}
	if rate > 0 {
		b.perNs = rate / 1e9
	}
	b.tokens = min(max(tokens, 0), b.burst)
	return b
}

// Take removes up to n whole tokens at time now and returns how many it removed.
func (b *Bucket) Take(n int, now int64) int {
	if b.perNs == 0 {
		return n
	}
	if now > b.last {
		b.tokens = min(b.burst, b.tokens+float64(now-b.last)*b.perNs)
		b.last = now
	}
	got := min(n, int(b.tokens))
	b.tokens -= float64(got)
	return got
}

// Wait returns how many nanoseconds after now the next whole token is available (0 when
// one is available now).
func (b *Bucket) Wait(now int64) int64 {
	if b.perNs == 0 {
		return 0
	}
	have := b.tokens
	if now > b.last {
		have = min(b.burst, have+float64(now-b.last)*b.perNs)
	}
	if have >= 1 {
		return 0
	}
	return int64((1-have)/b.perNs) + 1
}
