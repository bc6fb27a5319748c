//go:build linux

package bench

import "time"

// minCPUWindow is the shortest window a worker's CPU share is measured over, but for
// the ramp and the end of the run: a shorter window shows a GC cycle or a burst of events
// more than the load.
const minCPUWindow = int64(time.Second)

// cpuMeter measures one worker's CPU time as a share of its cores over consecutive
// windows that together cover its whole run, from its first report (sent before its
// first connection) to its result, and keeps the busiest window's share. A window closes
// at the first report at least minCPUWindow after it opened, and always at the end of
// the ramp and at the end of the run: a ramp shorter than minCPUWindow is measured on
// its own, and a shorter tail is joined to the window before it.
type cpuMeter struct {
	cores float64  // the worker's loops: the cores it can use
	open  progress // the report that opened the current window
	prev  progress // the report that opened the last closed window
	max   float64  // the busiest window's share of the cores
}

// note takes a worker's report; boundary marks the end of its ramp or of its run.
func (m *cpuMeter) note(p progress, boundary bool) {
	switch {
	case m.open.UnixNs == 0:
		m.open = p
		return
	case p.UnixNs <= m.open.UnixNs:
		return
	case p.UnixNs-m.open.UnixNs >= minCPUWindow || boundary && m.prev.UnixNs == 0:
		m.prev = m.open // close the open window
	case !boundary:
		return
	}
	// A boundary after a short tail lands here with prev unchanged: the last closed
	// window is measured again, extended to p.
	secs := float64(p.UnixNs-m.prev.UnixNs) / 1e9
	m.max = max(m.max, (p.CPUSeconds-m.prev.CPUSeconds)/secs/max(m.cores, 1))
	m.open = p
}
