package server

import (
	"os"
	"syscall"
	"testing"
	"time"
)

func TestMemReader(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no /proc/self/smaps_rollup here")
	}
	m := memReader{maxAge: time.Hour}
	first := m.read()
	if first.rss == 0 || first.pss == 0 {
		t.Fatalf("read() = %+v, want both figures", first)
	}
	if first.pss > first.rss {
		t.Errorf("pss %d > rss %d", first.pss, first.rss)
	}

	// Within maxAge and with the RSS unchanged, the PSS figure is reused.
	readAt := m.pssAt
	if m.read(); !m.pssAt.Equal(readAt) {
		t.Error("pss read again within maxAge with the rss unchanged")
	}

	// Touch 64 MiB of fresh pages (mapped outside Go's heap, which may hold resident
	// pages already): RSS is read fresh, and having moved by far more than 1/rssDrift,
	// so is PSS, though maxAge has not passed.
	ballast, err := syscall.Mmap(-1, 0, 64<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(ballast) //nolint:errcheck // the test's own mapping
	for i := 0; i < len(ballast); i += 4096 {
		ballast[i] = 1
	}
	second := m.read()
	if second.rss < first.rss+32<<20 {
		t.Errorf("rss %d after touching 64 MiB, was %d: not read fresh", second.rss, first.rss)
	}
	if second.pss < first.pss+32<<20 || m.pssAt.Equal(readAt) {
		t.Errorf("pss %d after the rss grew by 64 MiB, was %d: not read again", second.pss, first.pss)
	}

	m.maxAge = time.Nanosecond // every read is past it
	readAt = m.pssAt
	if m.read(); m.pssAt.Equal(readAt) {
		t.Error("pss not read again after maxAge")
	}
}
