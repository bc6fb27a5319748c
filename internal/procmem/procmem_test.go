package procmem

import (
	"os"
	"path/filepath"
	"testing"
)

func TestKiB(t *testing.T) {
	p := filepath.Join(t.TempDir(), "status")
	if err := os.WriteFile(p, []byte("Name:\tgows\nVmHWM:\t   2048 kB\nRssAnon:\t  12 kB\nBad:\tx kB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"VmHWM": 2048 << 10, "RssAnon": 12 << 10, "Bad": 0, "Missing": 0, "Vm": 0} {
		if got := KiB(p, name); got != want {
			t.Errorf("KiB(%q) = %d, want %d", name, got, want)
		}
	}
	if got := KiB(filepath.Join(t.TempDir(), "absent"), "VmHWM"); got != 0 {
		t.Errorf("KiB of a missing file = %d", got)
	}
}

func TestSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps_rollup"); err != nil {
		t.Skip("no /proc/self/smaps_rollup here")
	}
	rss, pss := RSS(), PSS()
	if rss <= 0 || pss <= 0 || pss > rss {
		t.Fatalf("RSS %d, PSS %d: want 0 < PSS <= RSS", rss, pss)
	}
}
