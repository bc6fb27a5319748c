// Package procmem reads memory figures from Linux's /proc, for the server's state and
// bench's report. Every function answers 0 where the figure is unavailable (another
// system, or a kernel without the file), never an error: a missing figure must not stop
// a node or a benchmark.
package procmem

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// RSS returns this process's resident set size in bytes, from /proc/self/statm (a
// counter: cheap at any size).
func RSS() int64 {
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

// PSS returns this process's proportional set size in bytes, from
// /proc/self/smaps_rollup: resident pages with those shared between processes divided
// among them, so that it adds up across processes. Reading it walks the process's page
// tables: its cost grows with the process.
func PSS() int64 { return KiB("/proc/self/smaps_rollup", "Pss") }

// KiB reads a "Name:   N kB" line from a /proc file (status, meminfo, smaps_rollup) and
// returns N*1024.
func KiB(path, name string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := bytes.CutPrefix(sc.Bytes(), []byte(name+":"))
		if !ok {
			continue
		}
		v, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		if err != nil {
			return 0
		}
		return v << 10
	}
	return 0
}
