// Package lograte limits how often a recurring event is logged: the first occurrence at
// once, then at most one line per interval, carrying the count of occurrences since the
// line before. Every occurrence is counted either way.
package lograte

import (
	"sync/atomic"
	"time"
)

// Limiter paces the lines of one kind of event. Set Every before first use and do not
// copy it after; it is safe for concurrent use.
type Limiter struct {
	Every time.Duration

	n, lastMs atomic.Int64 // occurrences since the last line; when it was (Unix ms)
}

// Note counts one occurrence and reports whether to log it now, with the number of
// occurrences the line stands for (this one included).
func (l *Limiter) Note() (int64, bool) {
	n := l.n.Add(1)
	now, last := time.Now().UnixMilli(), l.lastMs.Load()
	if (last == 0 || now-last >= l.Every.Milliseconds()) && l.lastMs.CompareAndSwap(last, now) {
		l.n.Add(-n)
		return n, true
	}
	return 0, false
}
