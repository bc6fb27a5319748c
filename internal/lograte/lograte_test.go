package lograte

import (
	"sync"
	"testing"
	"time"
)

// The first occurrence is logged; the rest within the interval are only counted, and the
// next line carries them.
func TestLimiter(t *testing.T) {
	l := Limiter{Every: time.Hour}
	if n, ok := l.Note(); !ok || n != 1 {
		t.Fatalf("first: %d, %v; want 1, true", n, ok)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if _, ok := l.Note(); ok {
				t.Error("logged again within the interval")
			}
		})
	}
	wg.Wait()
	l.lastMs.Store(time.Now().Add(-2 * time.Hour).UnixMilli()) // the interval has passed
	if n, ok := l.Note(); !ok || n != 11 {
		t.Fatalf("after the interval: %d, %v; want 11, true", n, ok)
	}
}
