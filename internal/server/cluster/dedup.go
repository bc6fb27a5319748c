package cluster

import (
	"sync"
	"time"
)

// Dedup remembers recently pushed message ids in this process. It keeps two
// generations of ids and rotates them every window, so an id is remembered for between
// one and two windows and memory is bounded by the push rate, with no goroutine of its
// own. Memory uses it; Redis falls back to it while Redis is unreachable; a node's
// service remembers with one what it delivered for other nodes. It is safe for
// concurrent use.
type Dedup struct {
	window time.Duration

	mu      sync.Mutex // guards cur, prev and rotated
	cur     map[dedupKey]struct{}
	prev    map[dedupKey]struct{}
	rotated time.Time
}

type dedupKey struct {
	app uint32
	id  string
}

// NewDedup returns a Dedup that remembers an id for one to two windows.
func NewDedup(window time.Duration) *Dedup {
	return &Dedup{window: window, cur: map[dedupKey]struct{}{}, prev: map[dedupKey]struct{}{}, rotated: time.Now()}
}

// First records app/id and reports whether it is new within the window.
func (d *Dedup) First(app uint32, id string) bool {
	k, now := dedupKey{app, id}, time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if since := now.Sub(d.rotated); since >= d.window {
		d.prev, d.cur = d.cur, make(map[dedupKey]struct{})
		if since >= 2*d.window {
			clear(d.prev)
		}
		d.rotated = now
	}
	if _, ok := d.cur[k]; ok {
		return false
	}
	if _, ok := d.prev[k]; ok {
		return false
	}
	d.cur[k] = struct{}{}
	return true
}

// Forget removes app/id, so that a push that failed can be retried with the same id.
func (d *Dedup) Forget(app uint32, id string) {
	k := dedupKey{app, id}
	d.mu.Lock()
	delete(d.cur, k)
	delete(d.prev, k)
	d.mu.Unlock()
}
