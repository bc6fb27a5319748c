package conn

import (
	"sync"
	"sync/atomic"
)

// chunkSize is the number of fd slots allocated at a time.
const chunkSize = 4096

// fdTable maps file descriptor numbers to connections: 8 bytes per slot, allocated in
// chunks as descriptor numbers grow, read without locks.
type fdTable struct {
	mu     sync.Mutex // guards chunk allocation (the chunks slice itself never changes after init)
	chunks []atomic.Pointer[[chunkSize]atomic.Pointer[Conn]]
}

func (t *fdTable) init(limit uint64) {
	n := (limit + chunkSize - 1) / chunkSize
	n = min(max(n, 1), 1<<20) // a 4-billion-fd limit still costs only 8 MiB of chunk pointers
	t.chunks = make([]atomic.Pointer[[chunkSize]atomic.Pointer[Conn]], n)
}

func (t *fdTable) slot(fd int, alloc bool) *atomic.Pointer[Conn] {
	i := fd / chunkSize
	if fd < 0 || i >= len(t.chunks) {
		return nil
	}
	ch := t.chunks[i].Load()
	if ch == nil {
		if !alloc {
			return nil
		}
		t.mu.Lock()
		if ch = t.chunks[i].Load(); ch == nil {
			ch = new([chunkSize]atomic.Pointer[Conn])
			t.chunks[i].Store(ch)
		}
		t.mu.Unlock()
	}
	return &ch[fd%chunkSize]
}

func (t *fdTable) get(fd int) *Conn {
	if s := t.slot(fd, false); s != nil {
		return s.Load()
	}
	return nil
}

// set stores c in fd's slot; it fails for a descriptor beyond the table (above the file
// limit seen at start).
func (t *fdTable) set(fd int, c *Conn) bool {
	s := t.slot(fd, true)
	if s == nil {
		return false
	}
	s.Store(c)
	return true
}

// clear empties fd's slot if it still holds c.
func (t *fdTable) clear(fd int, c *Conn) {
	if s := t.slot(fd, false); s != nil {
		s.CompareAndSwap(c, nil)
	}
}
