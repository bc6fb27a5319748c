package server

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
)

// procMem is the process's memory as the kernel accounts it.
type procMem struct {
	rss uint64 // resident set size: every resident page, shared ones included
	pss uint64 // proportional set size: shared pages divided among their sharers
}

// readProcMem reads /proc/self/smaps_rollup (zeros where unavailable). PSS is what adds
// up across processes: N nodes of one binary on a machine share its text pages, which RSS
// counts N times and PSS once.
func readProcMem() procMem {
	b, err := os.ReadFile("/proc/self/smaps_rollup")
	if err != nil {
		return procMem{}
	}
	var m procMem
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseUint(string(f[1]), 10, 64)
		if err != nil {
			continue
		}
		switch string(f[0]) {
		case "Rss:":
			m.rss = kb << 10
		case "Pss:":
			m.pss = kb << 10
		}
	}
	return m
}
