//go:build linux

package bench

import (
	"runtime/debug"

	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/procmem"
)

// heldMemory returns the RSS and its private (anonymous) part after a GC has given free
// heap pages back to the kernel, so that they count memory held rather than garbage from
// the ramp awaiting collection.
func heldMemory() (rss, private int64) {
	debug.FreeOSMemory()
	return procmem.RSS(), procmem.KiB("/proc/self/status", "RssAnon")
}

// rssHWMBytes returns the process's peak RSS (VmHWM).
func rssHWMBytes() int64 { return procmem.KiB("/proc/self/status", "VmHWM") }

// memAvailableBytes returns the machine's MemAvailable.
func memAvailableBytes() int64 { return procmem.KiB("/proc/meminfo", "MemAvailable") }

// cpuSeconds returns the user plus system CPU time this process has used.
func cpuSeconds() float64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
