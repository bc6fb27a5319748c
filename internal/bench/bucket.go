package bench

import "github.com/gows-dev/gows/internal/pace"

// newPacer returns the bucket of stream i of n streams (every loop of every worker) that
// each open rate connections per second. Stream i holds 1 - i/n tokens at now, so its
// first token comes i/n of a token period later: the streams take turns and together
// keep to n×rate from the first connection on, where n full buckets would open n
// connections at once. The burst, 20 ms of the stream's rate and at least two tokens,
// lets a stream that fell behind catch up a little: with one, every wake-up later than
// the next token lost the difference, and a slow stream fell short of its rate.
func newPacer(rate float64, i, n int, now int64) *pace.Bucket {
	return pace.New(rate, max(2, int(rate/50)), 1-float64(i)/float64(max(n, 1)), now)
}
