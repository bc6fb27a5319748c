package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/gows-dev/gows/internal/bench"
	"github.com/gows-dev/gows/internal/testutil"
)

func TestBench_FlagsBecomeTheConfig(t *testing.T) {
	var got *benchOptions
	capture := func(s *streams) *cobra.Command {
		return newBenchCmd(s, func(_ context.Context, o *benchOptions) error { got = o; return nil })
	}
	res := runCLI(t, []string{"bench", "--url", "ws://127.0.0.1:1/acc", "--url", "ws://127.0.0.1:2/acc",
		"-n", "30000", "--source-ips", "127.0.0.2-127.0.0.4", "--rate", "2500", "--login", "--app-id", "7",
		"--hold", "1m", "--heartbeat", "20s", "--echo", "5", "--broadcast", "--server", "http://127.0.0.1:8080",
		"--workers", "3", "--max-failures", "9", "--close", "graceful", "--duration", "5m", "--json", "r.json"}, capture)
	if res.code != 0 || got == nil {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	cfg, err := benchConfig(got)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"urls", slices.Equal(cfg.URLs, []string{"ws://127.0.0.1:1/acc", "ws://127.0.0.1:2/acc"})},
		{"conns", cfg.Conns == 30000},
		{"source ips", len(cfg.SourceIPs) == 3 && cfg.SourceIPs[2].String() == "127.0.0.4"},
		{"rate", cfg.RatePerSecond == 2500},
		{"login", cfg.Login && cfg.AppID == 7},
		{"hold and heartbeat", cfg.Hold == time.Minute && cfg.HeartbeatInterval == 20*time.Second},
		{"echo", cfg.EchoConns == 5 && cfg.EchoRounds == bench.Default().EchoRounds},
		{"broadcast", cfg.Broadcast && slices.Equal(cfg.ServerURLs, []string{"http://127.0.0.1:8080"})},
		{"workers", cfg.Workers == 3 && cfg.MaxFailures == 9},
		{"close", cfg.Close == bench.CloseGraceful && cfg.Duration == 5*time.Minute},
		{"json", got.jsonFile == "r.json"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not parsed; config %+v", c.name, cfg)
		}
	}
}

func TestBench_BadSettingsAreUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad source ips", []string{"bench", "--source-ips", "nope"}, "source ips"},
		{"bad close mode", []string{"bench", "--close", "fin"}, "close"},
		{"broadcast without login", []string{"bench", "--broadcast", "--server", "http://127.0.0.1:1"}, "needs login"},
		{"merge without files", []string{"bench", "merge"}, "at least 1 arg"},
		{"source ips of another family", []string{"bench", "--url", "ws://127.0.0.1:1/acc", "--source-ips", "::1"}, "::1 cannot reach"},
		{"source ip not on this machine", []string{"bench", "--url", "ws://127.0.0.1:1/acc", "--source-ips", "192.0.2.1"}, "source address not on this machine: 192.0.2.1"},
		// One address reaches one target through at most 15/16 of 64,511 ports.
		{"too few source ips for the conns", []string{"bench", "--url", "ws://127.0.0.1:1/acc", "--source-ips", "127.0.0.2", "--conns", "70000"}, "not enough source addresses"},
		// No file limit (capped at 2^30 for planning) lets one process hold 2^31-1.
		{"too few workers for the conns", []string{"bench", "--url", "ws://127.0.0.1:1/acc", "--workers", "1", "--conns", "2147483647"}, "too few workers: 1 worker cannot hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.args)
			if res.code != exitUsage || !strings.Contains(res.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", res.code, res.stderr, tt.want)
			}
		})
	}
}

func TestBench_FailuresAboveTheLimitExit1AfterTheReport(t *testing.T) {
	srv := testutil.StartServer(t)
	url := srv.WSURL
	if err := srv.Stop(); err != nil { // nothing listens there any more
		t.Fatal(err)
	}
	res := runCLI(t, []string{"bench", "--url", url, "-n", "20", "--max-failures", "5", "-q"})
	if res.code != exitFailure || !strings.Contains(res.stderr, "too many failed connections") {
		t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "refused 20") {
		t.Fatalf("report does not show the refusals:\n%s", res.stdout)
	}
}

// buildGows builds the gows binary for tests that need it as a separate process.
func buildGows(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gows")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestBench_WorkerProcessesOfTheRealBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gows binary")
	}
	bin := buildGows(t)
	srv := testutil.StartServer(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "bench", "--url", srv.WSURL, "-n", "600", "--workers", "2",
		"--source-ips", "127.0.0.2-127.0.0.3", "--login", "--hold", "300ms", "--echo", "4", "--broadcast",
		"--server", srv.HTTPURL, "--json", filepath.Join(dir, "run.json"), "-q")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gows bench: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(dir, "run.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rep map[string]any
	if err := json.NewDecoder(f).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	// The keys docs/bench.md promises.
	for _, k := range []string{"target", "established", "failed", "failures", "connect_rate", "handshake_ms", "login_ms",
		"echo_ms", "broadcast", "client_rss_bytes", "client_bytes_per_conn", "servers", "source_ips", "workers", "duration_s"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("report has no %q", k)
		}
	}
	servers, _ := rep["servers"].([]any)
	if rep["established"] != 600.0 || rep["workers"] != 2.0 || rep["failed"] != 0.0 || len(servers) != 1 {
		t.Fatalf("established %v workers %v failed %v servers %v\n%s", rep["established"], rep["workers"], rep["failed"], servers, out)
	}
	if peak := servers[0].(map[string]any)["conns_peak"]; peak != 600.0 {
		t.Fatalf("server saw %v connections at the peak", peak)
	}
	if b := rep["broadcast"].(map[string]any); b["delivered"] != 600.0 || b["expected"] != 600.0 {
		t.Fatalf("broadcast %v", b)
	}
	if !strings.Contains(string(out), "established") {
		t.Fatalf("no report table:\n%s", out)
	}
}

func TestBench_MergeCombinesReports(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i, n := range []int{100, 300} {
		r := bench.Report{Target: n, Established: n, Failures: map[string]int{"timeout": i}, Failed: i, Workers: 1, SourceIPs: 2}
		path := filepath.Join(dir, strings.Repeat("x", i+1)+".json")
		if err := writeReportFile(path, r); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	out := filepath.Join(dir, "merged.json")
	res := runCLI(t, append([]string{"bench", "merge", "--json", out}, files...))
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "400 (100.0%)") || !strings.Contains(res.stdout, "timeout 1") {
		t.Fatalf("table:\n%s", res.stdout)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := bench.ReadReport(f)
	if err != nil || m.Established != 400 || m.Workers != 2 || m.SourceIPs != 4 {
		t.Fatalf("merged: %v %+v", err, m)
	}
}

// A --json path that cannot be written fails before any connection is opened: the
// figures of a long run must not be lost at its end.
func TestBench_UnwritableJSONPathFailsBeforeTheRun(t *testing.T) {
	srv := testutil.StartServer(t)
	dir := t.TempDir()
	tests := []struct {
		name, path string
	}{
		{"missing directory", filepath.Join(dir, "missing", "run.json")},
		{"a directory", dir},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, []string{"bench", "--url", srv.WSURL, "-n", "50", "--hold", "0s", "-q", "--json", tt.path})
			if res.code != exitFailure || !strings.Contains(res.stderr, "--json: cannot write the report file") ||
				!strings.Contains(res.stderr, tt.path) {
				t.Fatalf("exit %d, stderr %q; want 1 and an error naming --json and %s", res.code, res.stderr, tt.path)
			}
			if res.stdout != "" {
				t.Fatalf("the run happened anyway; stdout:\n%s", res.stdout)
			}
		})
	}
}

// The --json file is opened before the run and written after it; a run that fails
// before starting leaves no empty file behind.
func TestBench_JSONFileIsWrittenAfterTheRunOrNotAtAll(t *testing.T) {
	srv := testutil.StartServer(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "run.json")
	res := runCLI(t, []string{"bench", "--url", srv.WSURL, "-n", "20", "--hold", "0s", "-q", "--json", out})
	if res.code != exitOK {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := bench.ReadReport(f)
	_ = f.Close() // read-only
	if err != nil || rep.Established != 20 {
		t.Fatalf("report: %v, %d established", err, rep.Established)
	}

	// No process may hold two billion descriptors (the plan caps the limit at 2^30): the
	// plan fails before anything starts.
	failed := filepath.Join(dir, "failed.json")
	res = runCLI(t, []string{"bench", "--url", srv.WSURL, "-n", "2000000000", "--workers", "1", "-q", "--json", failed})
	if res.code == exitOK || !strings.Contains(res.stderr, "cannot hold") {
		t.Fatalf("exit %d, stderr %q; want the capacity error", res.code, res.stderr)
	}
	if _, err := os.Stat(failed); !os.IsNotExist(err) {
		t.Fatalf("a run that never started left %s behind (%v)", failed, err)
	}
}

func TestBench_MergeRefusesTheSameRunTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run.json")
	if err := writeReportFile(path, bench.Report{Target: 10, Established: 10, RunIDs: []string{"0123abcd"}}); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, []string{"bench", "merge", path, path})
	if res.code != exitFailure || !strings.Contains(res.stderr, path+" and "+path+" cover the same run (0123abcd)") {
		t.Fatalf("exit %d, stderr %q; want 1 and an error naming the file twice", res.code, res.stderr)
	}
}

func TestBench_MergeRejectsFilesThatAreNotReports(t *testing.T) {
	good := filepath.Join(t.TempDir(), "b1.json")
	if err := writeReportFile(good, bench.Report{Target: 10, Established: 10}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, content string
	}{
		{"empty object", "{}"},
		{"admin state output", `{"connections":3,"nodeId":"a"}`},
		{"empty file", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := writeFile(t, "empty.json", tt.content)
			res := runCLI(t, []string{"bench", "merge", good, bad})
			if res.code != exitFailure || !strings.Contains(res.stderr, bad) {
				t.Fatalf("exit %d, stderr %q; want 1 and an error naming %s", res.code, res.stderr, bad)
			}
			if res.stdout != "" {
				t.Fatalf("merged anyway:\n%s", res.stdout)
			}
		})
	}
}
