package server

import (
	"sync"
	"time"

	"github.com/gows-dev/gows/internal/procmem"
)

// procMem is the process's memory as the kernel accounts it.
type procMem struct {
	rss uint64 // resident set size: every resident page, shared ones included
	pss uint64 // proportional set size: shared pages divided among their sharers
}

// pssMaxAge is how long a PSS figure is reused while the RSS stays within rssDrift of
// what it was when the PSS was read. Reading PSS walks the process's page tables, which
// at a million connections cost the nodes a few percent of the machine when every node
// was asked once a second (bench's timeline); RSS is a counter, read fresh every time.
const pssMaxAge = 5 * time.Second

// rssDrift is how far (a fraction: 1/rssDrift) the RSS may move from its value at the
// last PSS read before the PSS is read again, so that a figure taken at the peak of a
// ramp is not the one from before it.
const rssDrift = 32

// memReader reads procMem: RSS from /proc/self/statm on every call, PSS from
// /proc/self/smaps_rollup when the last read is pssMaxAge old or the RSS has moved by
// more than 1/rssDrift since. Zeros where unavailable. PSS is what adds up across
// processes: N nodes of one binary on a machine share its text pages, which RSS counts
// N times and PSS once. Safe for concurrent use.
type memReader struct {
	maxAge time.Duration // how long a PSS figure is reused; 0 means pssMaxAge

	// mu guards pss, pssAt and pssRSS. It is held across the PSS read on purpose: callers
	// that come during a read (the registry renewal, /system/state, a peer's State call)
	// wait for its figure instead of walking the page tables again.
	mu    sync.Mutex
	pss   uint64
	pssAt time.Time
	// pssRSS is the RSS read with the PSS.
	pssRSS uint64
}

func (m *memReader) read() procMem {
	out := procMem{rss: uint64(procmem.RSS())}
	m.mu.Lock()
	defer m.mu.Unlock()
	maxAge := m.maxAge
	if maxAge == 0 {
		maxAge = pssMaxAge
	}
	drift := max(out.rss, m.pssRSS) - min(out.rss, m.pssRSS)
	if now := time.Now(); m.pssAt.IsZero() || now.Sub(m.pssAt) >= maxAge || drift > m.pssRSS/rssDrift {
		m.pss, m.pssAt, m.pssRSS = uint64(procmem.PSS()), now, out.rss
	}
	out.pss = m.pss
	return out
}
