//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// rssBytes returns this process's resident set size from /proc/self/statm, 0 if unknown.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// heldMemory returns the RSS and its private (anonymous) part after a GC has given free
// heap pages back to the kernel, so that they count memory held rather than garbage from
// the ramp awaiting collection.
func heldMemory() (rss, private int64) {
	debug.FreeOSMemory()
	return rssBytes(), procKiB("/proc/self/status", "RssAnon")
}

// procKiB reads a "Name:   N kB" line from a /proc file and returns N*1024, 0 if absent.
func procKiB(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }() // read-only file
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+":"); ok {
			v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return v << 10
		}
	}
	return 0
}

// rssHWMBytes returns the process's peak RSS (VmHWM).
func rssHWMBytes() int64 { return procKiB("/proc/self/status", "VmHWM") }

// memAvailableBytes returns the machine's MemAvailable.
func memAvailableBytes() int64 { return procKiB("/proc/meminfo", "MemAvailable") }

// cpuSeconds returns the user plus system CPU time this process has used.
func cpuSeconds() float64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
