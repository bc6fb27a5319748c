package bench

// tokenBucket paces new connections: it fills at rate tokens per second up to burst
// tokens. Time is passed in (nanoseconds on any monotonic clock) so that tests drive it
// without sleeping. It is owned by one loop goroutine and not safe for concurrent use.
type tokenBucket struct {
	perNs  float64 // tokens per nanosecond; 0 means unlimited
	burst  float64
	tokens float64
	last   int64
}

// newTokenBucket returns a bucket holding tokens tokens (at most burst) at time now.
// rate <= 0 means no limit.
func newTokenBucket(rate float64, burst int, tokens float64, now int64) *tokenBucket {
	b := &tokenBucket{burst: float64(max(burst, 1)), last: now}
	if rate > 0 {
		b.perNs = rate / 1e9
	}
	b.tokens = min(max(tokens, 0), b.burst)
	return b
}

// newPacer returns the bucket of stream i of n streams (every loop of every worker) that
// each open rate connections per second. Stream i holds 1 - i/n tokens at now, so its
// first token comes i/n of a token period later: the streams take turns and together
// keep to n×rate from the first connection on, where n full buckets would open n
// connections at once. The burst, 20 ms of the stream's rate and at least two tokens,
// lets a stream that fell behind catch up a little: with one, every wake-up later than
// the next token lost the difference, and a slow stream fell short of its rate.
func newPacer(rate float64, i, n int, now int64) *tokenBucket {
	return newTokenBucket(rate, max(2, int(rate/50)), 1-float64(i)/float64(max(n, 1)), now)
}

// take removes up to n whole tokens at time now and returns how many it removed.
func (b *tokenBucket) take(n int, now int64) int {
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

// wait returns how many nanoseconds after now the next whole token is available (0 when
// one is available now).
func (b *tokenBucket) wait(now int64) int64 {
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
