//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/testutil"
)

// workerArg makes the test binary act as a bench worker process: the Runner re-executes
// it exactly as the CLI re-executes `gows bench worker`, through RunWorker.
const workerArg = "__bench_worker"

func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == workerArg {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		var out io.Writer = os.Stdout
		if len(os.Args) > 2 && os.Args[2] == dieWhenReadyArg {
			out = dieWhenReady{}
		}
		if len(os.Args) > 2 && os.Args[2] == stopEarlyArg {
			out = &stopEarly{cancel: cancel}
		}
		err := RunWorker(ctx, os.Stdin, out)
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func workerArgv() []string { return []string{os.Args[0], workerArg} }

// dieWhenReadyArg makes the test binary's worker 1 crash (exit 3) as soon as it has
// reported the end of its ramp, as a worker killed mid-run would.
const dieWhenReadyArg = "die-when-ready"

type dieWhenReady struct{}

// stopEarlyArg makes the test binary's worker 1 stop by itself, as SIGTERM to its
// process does, right after its first report.
const stopEarlyArg = "stop-early"

type stopEarly struct {
	cancel context.CancelFunc
}

func (s *stopEarly) Write(p []byte) (int, error) {
	n, err := os.Stdout.Write(p)
	if bytes.Contains(p, []byte(`"worker":1,`)) {
		s.cancel()
	}
	return n, err
}

func (dieWhenReady) Write(p []byte) (int, error) {
	n, err := os.Stdout.Write(p)
	if bytes.HasPrefix(p, []byte(`{"type":"ready","worker":1,`)) {
		os.Exit(3)
	}
	return n, err
}

// serverState reads a node's /system/state.
func serverState(t *testing.T, base string) nodeState {
	t.Helper()
	st, err := newServerAPI("").nodes(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	return st[0]
}

func waitNoConnections(t *testing.T, base string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := serverState(t, base).Connections; n != 0 {
			return fmt.Errorf("server still has %d connections", n)
		}
		return nil
	})
}

func TestRunner_ThreeThousandConnsOverThreeSourceIPsAndTwoWorkerProcesses(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.PresenceLimit = 0 })
	cfg := Default()
	cfg.URLs = []string{srv.WSURL}
	cfg.ServerURLs = []string{srv.HTTPURL}
	cfg.Conns = 3000
	cfg.RatePerSecond = 0
	cfg.SourceIPs = []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")}
	cfg.Workers = 2
	cfg.WorkerCommand = workerArgv()
	cfg.Login = true
	cfg.Hold = 2 * time.Second
	cfg.HeartbeatInterval = 500 * time.Millisecond
	cfg.EchoConns = 20
	cfg.EchoRounds = 3
	cfg.Broadcast = true
	cfg.SampleEvery = 200 * time.Millisecond
	var progress bytes.Buffer
	cfg.Progress, cfg.ProgressEvery = &progress, 500*time.Millisecond

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err != nil {
		t.Fatalf("run: %v\nfailures: %v", err, rep.Failures)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"established == target", rep.Established == 3000 && rep.Target == 3000},
		{"no failures", rep.Failed == 0 && len(rep.Failures) == 0},
		{"two workers", rep.Workers == 2},
		{"three source ips", rep.SourceIPs == 3},
		{"handshakes measured", rep.HandshakeMs.Count == 3000 && rep.HandshakeMs.P50 > 0 && rep.HandshakeMs.P99 >= rep.HandshakeMs.P50 && rep.HandshakeMs.Max >= rep.HandshakeMs.P99},
		{"logins measured", rep.LoginMs.Count == 3000 && rep.LoginMs.P99 > 0},
		{"echo measured", rep.EchoMs.Count == 60 && rep.EchoTimeouts == 0},
		{"broadcast delivered to all", rep.Broadcast != nil && rep.Broadcast.Expected == 3000 && rep.Broadcast.Delivered == 3000 && rep.Broadcast.Accepted == 3000},
		{"broadcast latency", rep.Broadcast != nil && rep.Broadcast.P99Ms > 0 && rep.Broadcast.MaxMs >= rep.Broadcast.P50Ms},
		{"heartbeats sent", rep.Heartbeats > 0 && rep.HeartbeatErrors == 0},
		{"connect rate", rep.ConnectRate > 0 && rep.RampS > 0},
		{"client memory", rep.ClientRSSBytes > 0 && rep.ClientPrivateBytes > 0 && rep.HeldAtPeak == 3000},
		{"cpu", rep.CPUSeconds > 0 && rep.CPUSecondsPerConn > 0},
		{"server saw every connection", len(rep.Servers) == 1 && rep.Servers[0].ConnsPeak-rep.Servers[0].ConnsBefore == 3000 && rep.Servers[0].UsersPeak == 3000},
		{"server memory", rep.Servers[0].RSSPeak > 0 && rep.ServerRSSPeak > 0 && rep.ServerMemoryAt == "peak"},
		{"timeline with server figures", slices.ContainsFunc(rep.Timeline, func(s Sample) bool { return s.ServerConns > 0 && s.ServerRSSBytes > 0 })},
		{"not interrupted", !rep.Interrupted},
		{"progress shown", strings.Contains(progress.String(), "up")},
	}
	for _, c := range checks {
		if !c.ok {
			b, _ := json.MarshalIndent(rep, "", " ")
			t.Errorf("%s: not so; report:\n%.4000s", c.name, b)
		}
	}
	waitNoConnections(t, srv.HTTPURL)
}

func TestRunner_InProcessGracefulCloseWithoutLogin(t *testing.T) {
	srv := testutil.StartServer(t)
	cfg := Default()
	cfg.URLs = []string{srv.WSURL}
	cfg.Conns = 200
	cfg.Hold = 300 * time.Millisecond
	cfg.HeartbeatInterval = 100 * time.Millisecond // ping frames without login
	cfg.Close = CloseGraceful
	cfg.SampleEvery = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Established != 200 || rep.Workers != 1 || rep.LoginMs.Count != 0 || rep.Heartbeats == 0 {
		t.Fatalf("established %d workers %d logins %d heartbeats %d", rep.Established, rep.Workers, rep.LoginMs.Count, rep.Heartbeats)
	}
	waitNoConnections(t, srv.HTTPURL)
}

func TestRunner_RefusedConnectionsAreCountedAndFailTheRun(t *testing.T) {
	// A port that was free a moment ago: nothing listens there.
	srv := testutil.StartServer(t)
	url := srv.WSURL
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.URLs = []string{url}
	cfg.Conns = 50
	cfg.MaxFailures = 10
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if !errors.Is(err, ErrTooManyFailures) {
		t.Fatalf("want ErrTooManyFailures, got %v", err)
	}
	if rep.Failed != 50 || rep.Failures["refused"] != 50 || rep.Established != 0 {
		t.Fatalf("failed %d failures %v established %d", rep.Failed, rep.Failures, rep.Established)
	}
}

// A run that --duration ends says what became of the connections it did not establish:
// the warning claimed "the rest were never tried" when they had been tried and refused.
func TestRunner_DurationWarningCountsTheFailedAndTheNeverTried(t *testing.T) {
	srv := testutil.StartServer(t)
	url := srv.WSURL // nothing listens there once the server stops
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.URLs = []string{url}
	cfg.Conns = 100
	cfg.RatePerSecond = 0.004 // one connection now, the next after 250 s
	cfg.Duration = time.Second
	cfg.MaxFailures = 100
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "--duration stopped the run with 0 of the 100 connections asked for established (of the rest: 1 failed, 99 never tried)"
	if rep.Failures["refused"] != 1 || !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.HasPrefix(w, want) }) {
		t.Fatalf("failures %v; warnings %q, want one starting %q", rep.Failures, rep.Warnings, want)
	}
}

func TestRunner_CapacityIsCheckedBeforeStarting(t *testing.T) {
	cfg := Default()
	cfg.URLs = []string{"ws://127.0.0.1:1/acc"}
	cfg.Conns = 1000
	cfg.PortsPerSourceIP = 300
	cfg.SourceIPs = []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3")}
	_, err := NewRunner(cfg).Run(t.Context())
	if !errors.Is(err, ErrCapacity) || !strings.Contains(err.Error(), "at least 4 addresses") {
		t.Fatalf("want a capacity error asking for 4 addresses, got %v", err)
	}
}

// cancelOnWrite cancels a context when the progress output so far first satisfies match.
type cancelOnWrite struct {
	mu     sync.Mutex // guards buf and cancel
	buf    bytes.Buffer
	match  func(out string) bool
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if c.cancel != nil && c.match(c.buf.String()) {
		c.cancel()
		c.cancel = nil
	}
	return len(p), nil
}

func TestRunner_InterruptClosesEverythingAndStillReports(t *testing.T) {
	srv := testutil.StartServer(t)
	cfg := Default()
	cfg.URLs = []string{srv.WSURL}
	cfg.Conns = 300
	cfg.Login = true
	cfg.Hold = 10 * time.Minute // only the interrupt ends this run
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cfg.Progress = &cancelOnWrite{match: func(out string) bool { return strings.Contains(out, "hold ") }, cancel: cancel}
	cfg.ProgressEvery = 50 * time.Millisecond
	rep, err := NewRunner(cfg).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Established != 300 || rep.Failed != 0 {
		t.Fatalf("interrupted %v established %d failed %d", rep.Interrupted, rep.Established, rep.Failed)
	}
	waitNoConnections(t, srv.HTTPURL)
}

func TestServerAPI_ReadsEveryNodeOfACluster(t *testing.T) {
	r := testutil.StartRedis(t)
	join := func(id string) func(*server.Config) {
		return func(c *server.Config) { c.NodeID = id; c.Cluster.Redis = r.URL() }
	}
	a, b := testutil.StartServer(t, join("node-a")), testutil.StartServer(t, join("node-b"))
	api := newServerAPI("")
	defer api.close()
	// Asking either node, twice, lists both nodes once, each with its own HTTP address.
	testutil.Eventually(t, 20*time.Second, func() error {
		nodes, err := api.snapshot(t.Context(), []string{a.HTTPURL, a.HTTPURL})
		if err != nil {
			return err
		}
		if len(nodes) != 2 || nodes[0].NodeID != "node-a" || nodes[1].NodeID != "node-b" ||
			nodes[1].HTTPAddr != b.HTTPURL || !nodes[0].Cluster || nodes[1].RSSBytes == 0 {
			return fmt.Errorf("nodes: %+v", nodes)
		}
		return nil
	})
}

func TestRunner_TwoNodesWithoutAClusterEachSendTheBroadcast(t *testing.T) {
	a, b := testutil.StartServer(t), testutil.StartServer(t)
	cfg := Default()
	cfg.URLs = []string{a.WSURL, b.WSURL}
	cfg.ServerURLs = []string{a.HTTPURL, b.HTTPURL}
	cfg.Conns = 400
	cfg.Login = true
	cfg.Broadcast = true
	cfg.Hold = 200 * time.Millisecond
	cfg.SampleEvery = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Servers) != 2 || rep.Servers[0].ConnsPeak != 200 || rep.Servers[1].ConnsPeak != 200 {
		t.Fatalf("servers %+v", rep.Servers)
	}
	if bc := rep.Broadcast; bc == nil || bc.Expected != 400 || bc.Accepted != 400 || bc.Delivered != 400 {
		t.Fatalf("broadcast %+v", bc)
	}
}

const testAuthSecret = "bench-test-secret-0123456789"

// Against a server that verifies login tokens, bench signs one per connection with the
// server's secret; the secret reaches the worker processes with their task.
func TestRunner_SignsLoginTokensInEveryWorker(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AuthSecret = testAuthSecret })
	cfg := Default()
	cfg.URLs = []string{srv.WSURL}
	cfg.ServerURLs = []string{srv.HTTPURL}
	cfg.Conns = 200
	cfg.Workers = 2
	cfg.WorkerCommand = workerArgv()
	cfg.Login = true
	cfg.AuthSecret = testAuthSecret
	cfg.Hold = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err != nil {
		t.Fatalf("run: %v\nfailures: %v", err, rep.Failures)
	}
	if rep.Established != 200 || rep.Failed != 0 || rep.Workers != 2 {
		t.Fatalf("established %d, failed %d %v, workers %d; want 200 logged in by 2 workers", rep.Established, rep.Failed, rep.Failures, rep.Workers)
	}
	if b, _ := json.Marshal(rep); strings.Contains(string(b), testAuthSecret) {
		t.Fatal("the report contains the auth secret")
	}
	waitNoConnections(t, srv.HTTPURL)
}

func TestRunner_FailuresAreCountedByKind(t *testing.T) {
	tests := []struct {
		name        string
		server      func(*server.Config)
		bench       func(*Config)
		wantKind    string
		wantFailed  int
		wantDropped int
	}{
		{
			name:     "node full answers 503",
			server:   func(c *server.Config) { c.MaxConns = 50 },
			bench:    func(c *Config) { c.Conns = 60 },
			wantKind: "handshake_503", wantFailed: 10,
		},
		{
			name:     "login refused for another app",
			server:   func(c *server.Config) { c.AllowedAppIDs = []uint32{5} },
			bench:    func(c *Config) { c.Conns, c.Login = 20, true },
			wantKind: "login_1003", wantFailed: 20,
		},
		{
			name:     "login without a token on a server that requires one",
			server:   func(c *server.Config) { c.AuthSecret = testAuthSecret },
			bench:    func(c *Config) { c.Conns, c.Login = 20, true },
			wantKind: "login_1003", wantFailed: 20,
		},
		{
			name:     "tokens signed with another secret",
			server:   func(c *server.Config) { c.AuthSecret = testAuthSecret },
			bench:    func(c *Config) { c.Conns, c.Login, c.AuthSecret = 20, true, "another-secret-of-16+-bytes" },
			wantKind: "login_1003", wantFailed: 20,
		},
		{
			name:   "silent connections closed by the server while held",
			server: func(c *server.Config) { c.HeartbeatTimeout = 300 * time.Millisecond },
			bench: func(c *Config) {
				c.Conns, c.Login, c.HeartbeatInterval, c.Hold = 20, true, 0, 2*time.Second
			},
			wantKind: "server_close_4003", wantFailed: 20, wantDropped: 20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testutil.StartServer(t, tt.server)
			cfg := Default()
			cfg.URLs = []string{srv.WSURL}
			cfg.MaxFailures = 1000
			cfg.Hold = 100 * time.Millisecond
			tt.bench(&cfg)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			rep, err := NewRunner(cfg).Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failed != tt.wantFailed || rep.Failures[tt.wantKind] != tt.wantFailed || rep.Dropped != tt.wantDropped {
				t.Fatalf("failed %d dropped %d failures %v; want %d of %s, %d dropped",
					rep.Failed, rep.Dropped, rep.Failures, tt.wantFailed, tt.wantKind, tt.wantDropped)
			}
		})
	}
}

// runInProcess runs a bench, changed by mod, in this process against a server of its
// own, and fails the test if the run fails.
// A run interrupted during its ramp never reaches its peak: the client memory is
// measured when the close starts, with what is held then, and the report says so (it
// reported 0 bytes per connection and 0 private memory). The servers are read then too
// (their figures were missing from such a report). With a graceful close the ramp's
// end, which the close itself brings about, was taken for the peak and measured with
// nothing held: "not measured: no connection was held".
func TestRunner_InterruptDuringTheRampReportsTheMemoryHeldThen(t *testing.T) {
	srv := testutil.StartServer(t)
	heldRe := regexp.MustCompile(`^ramp .*held ([0-9,]+)`)
	for _, tc := range []struct {
		workers int
		close   CloseMode
	}{{1, CloseRST}, {2, CloseRST}, {1, CloseGraceful}, {2, CloseGraceful}} {
		workers := tc.workers
		t.Run(fmt.Sprintf("%d workers, %s close", workers, tc.close), func(t *testing.T) {
			cfg := Default()
			cfg.URLs, cfg.ServerURLs = []string{srv.WSURL}, []string{srv.HTTPURL}
			cfg.Conns, cfg.RatePerSecond = 2000, 400 // a five-second ramp
			cfg.Workers, cfg.WorkerCommand = workers, workerArgv()
			cfg.Close = tc.close
			cfg.SampleEvery = 200 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cfg.Progress = &cancelOnWrite{cancel: cancel, match: func(out string) bool {
				lines := strings.Split(strings.TrimSpace(out), "\n")
				m := heldRe.FindStringSubmatch(lines[len(lines)-1])
				if m == nil {
					return false
				}
				held, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
				return err == nil && held >= 200
			}}
			cfg.ProgressEvery = 50 * time.Millisecond
			rep, err := NewRunner(cfg).Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			if err := rep.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			if !rep.Interrupted || rep.Established >= 2000 || rep.ClientMemoryAt != "stop" || rep.HeldAtPeak < 200 ||
				rep.ClientPrivateBefore <= 0 || rep.ClientPrivateBytes <= 0 || rep.ClientRSSBytes <= 0 ||
				!strings.Contains(table.String(), "held when the run stopped before its peak") {
				t.Fatalf("interrupted %v, established %d, memory at %q: %d held, private %d -> %d, rss %d; table:\n%s",
					rep.Interrupted, rep.Established, rep.ClientMemoryAt, rep.HeldAtPeak,
					rep.ClientPrivateBefore, rep.ClientPrivateBytes, rep.ClientRSSBytes, table.String())
			}
			// The server, read when the close began, held at least the 200 connections
			// bench showed held before the interrupt, and the table says when it was read.
			if rep.ServerMemoryAt != "stop" || len(rep.Servers) != 1 || rep.Servers[0].ConnsPeak < 200 ||
				rep.Servers[0].RSSPeak <= 0 || rep.ServerRSSPeak <= 0 || rep.MemAvailablePeak <= 0 ||
				!strings.Contains(table.String(), "bytes/conn (at the stop)") || !strings.Contains(table.String(), "mem available at stop") {
				t.Fatalf("servers read at %q: %+v, mem available %d, %d held by bench; table:\n%s",
					rep.ServerMemoryAt, rep.Servers, rep.MemAvailablePeak, rep.HeldAtPeak, table.String())
			}
			waitNoConnections(t, srv.HTTPURL)
		})
	}
}

// The live progress line's last state is the end of the run: every connection closed
// (it showed the held count of the workers' last progress before their close).
func TestRunner_FinalProgressLineShowsEverythingClosed(t *testing.T) {
	var progress bytes.Buffer
	rep, _ := runInProcess(t, func(c *Config) {
		c.Conns, c.Hold, c.Workers, c.WorkerCommand = 1000, 0, 2, workerArgv()
		c.Progress, c.ProgressLive, c.ProgressEvery = &progress, true, 20*time.Millisecond
	})
	out := progress.String()
	last := strings.TrimSpace(out[strings.LastIndex(out, "\x1b[K")+len("\x1b[K"):])
	if rep.Established != 1000 || !strings.HasPrefix(last, "close 1,000/1,000 up") || !strings.Contains(last, "held 0 ") {
		t.Fatalf("established %d; last progress line %q, want the close with nothing held", rep.Established, last)
	}
}

// runWithDeadWorker runs 1,000 connections to url on two worker processes, the second of
// which dies once its ramp is over; only that ends the run, which must fail saying so.
func runWithDeadWorker(t *testing.T, url string) Report {
	t.Helper()
	cfg := Default()
	cfg.URLs = []string{url}
	cfg.Conns, cfg.Hold, cfg.MaxFailures = 1000, time.Minute, 1000
	cfg.Workers, cfg.WorkerCommand = 2, append(workerArgv(), dieWhenReadyArg)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "worker 1: exited without a result") {
		t.Fatalf("want the dead worker's error, got %v", err)
	}
	return rep
}

// A worker process that dies mid-run fails the run, but the report keeps its connections
// (from its last progress), says that its latencies are missing, and compares the client
// RSS before and at the end over the same workers (the dead one's RSS counted only after).
func TestRunner_AWorkerThatDiesIsReportedWithWhatItLastShowed(t *testing.T) {
	srv := testutil.StartServer(t)
	rep := runWithDeadWorker(t, srv.WSURL)
	// Worker 1 reported its 500 connections up before it died; worker 0 may have been
	// stopped before its ramp was over.
	warned := slices.ContainsFunc(rep.Warnings, func(w string) bool {
		return strings.Contains(w, "worker 1 sent no result; its counts are from its last progress (500 established")
	})
	if rep.Established < 500 || rep.StopReason != "worker_failed" || !warned ||
		float64(rep.ClientRSSBeforeBytes) < 0.8*float64(rep.ClientRSSBytes) {
		t.Fatalf("established %d, stop %q, warnings %q, client rss %d before, %d after",
			rep.Established, rep.StopReason, rep.Warnings, rep.ClientRSSBeforeBytes, rep.ClientRSSBytes)
	}
	waitNoConnections(t, srv.HTTPURL)
}

// When the server goes away during the hold, every connection is dropped and the run
// ends then, with the drops counted, instead of holding nothing until --hold is over.
func TestRunner_AHoldWithNothingLeftEndsEarly(t *testing.T) {
	srv := testutil.StartServer(t)
	cfg := Default()
	cfg.URLs = []string{srv.WSURL}
	cfg.Conns, cfg.Hold, cfg.MaxFailures = 300, 10*time.Minute, 300
	holding := make(chan struct{})
	cfg.Progress = &cancelOnWrite{cancel: func() { close(holding) }, match: func(out string) bool { return strings.Contains(out, "hold ") }}
	cfg.ProgressEvery = 50 * time.Millisecond
	var stopErr error
	var wg sync.WaitGroup
	runDone := make(chan struct{})
	wg.Go(func() {
		select {
		case <-holding:
			stopErr = srv.Stop()
		case <-runDone: // the hold never started; the checks below say so
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	close(runDone)
	wg.Wait()
	if err != nil || stopErr != nil {
		t.Fatalf("run: %v; server stop: %v", err, stopErr)
	}
	if rep.StopReason != "nothing_held" || rep.Established != 300 || rep.Dropped != 300 || rep.Interrupted {
		t.Fatalf("stop %q, established %d, dropped %d, interrupted %v", rep.StopReason, rep.Established, rep.Dropped, rep.Interrupted)
	}
}

// A worker process that stops by itself during the ramp (SIGTERM to it alone) sends its
// result but never its ready: the run ends then, as for a worker that died, instead of
// waiting for a hold that could never start.
func TestRunner_AWorkerThatStopsByItselfEndsTheRun(t *testing.T) {
	srv := testutil.StartServer(t)
	cfg := Default()
	cfg.URLs = []string{srv.WSURL}
	cfg.Conns, cfg.RatePerSecond = 2000, 200 // a ten-second ramp
	cfg.Workers, cfg.WorkerCommand = 2, append(workerArgv(), stopEarlyArg)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "worker 1: stopped before the run did") ||
		rep.StopReason != "worker_failed" || rep.Interrupted || rep.Established >= 2000 {
		t.Fatalf("err %v, stop %q, interrupted %v, established %d", err, rep.StopReason, rep.Interrupted, rep.Established)
	}
	waitNoConnections(t, srv.HTTPURL)
}

// The failures of a worker that died before its result are counted, with the kind
// "unreported", so that failed is still the sum of failures by kind.
func TestRunner_ADeadWorkersFailuresKeepTheSumOfKinds(t *testing.T) {
	rep := runWithDeadWorker(t, "ws://127.0.0.1:1/acc") // nothing listens: every connection is refused
	sum := 0
	for _, n := range rep.Failures {
		sum += n
	}
	// Worker 1 reported its 500 refusals before it died; worker 0 may have been stopped
	// before all of its own were tried.
	if sum != rep.Failed || rep.Failures["unreported"] != 500 || rep.Failures["refused"] != rep.Failed-500 {
		t.Fatalf("failed %d, failures %v (sum %d)", rep.Failed, rep.Failures, sum)
	}
}

func runInProcess(t *testing.T, mod func(*Config)) (Report, *testutil.Server) {
	t.Helper()
	srv := testutil.StartServer(t)
	cfg := Default()
	cfg.URLs = []string{srv.WSURL}
	mod(&cfg)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err != nil {
		t.Fatalf("run: %v\nfailures: %v", err, rep.Failures)
	}
	return rep, srv
}

// At the start of a paced run exactly one loop of all the workers may dial: --rate 1
// with 3 workers of 2 loops opens one connection, not six, at once.
func TestWorkers_OnlyOneLoopOfTheRunDialsAtTheStart(t *testing.T) {
	cfg := Default()
	cfg.URLs = []string{"ws://127.0.0.1:1/acc"}
	cfg.Conns, cfg.Workers, cfg.LoopsPerWorker, cfg.RatePerSecond = 60, 3, 2, 1
	cfg.WorkerCommand = workerArgv()
	p, err := makePlan(t.Context(), cfg, "run")
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, spec := range p.workers {
		w, err := newWorker(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range w.loops {
			if l.bucket.Wait(w.now()) == 0 {
				ready++
			}
		}
		w.closePollers()
	}
	if ready != 1 {
		t.Fatalf("%d of 6 loops may dial at the start, want 1", ready)
	}
}

// A run cut short after a handful of connections reports no connect rate: two
// connections a few milliseconds apart are not "342/s".
func TestRunner_NoConnectRateFromAHandfulOfConnections(t *testing.T) {
	rep, srv := runInProcess(t, func(c *Config) {
		c.Conns = 100
		c.LoopsPerWorker = 4
		c.RatePerSecond = 0.004 // one connection now, the next after 250 s
		c.Duration = time.Second
	})
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	// (On a starved machine the one connection may not be up within the second.)
	// Nor can bench have limited a rate it did not measure: no warning that it did.
	limited := slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "limited the rate") })
	if rep.Established > 1 || rep.ConnectRate != 0 || rep.StopReason != "duration" || limited ||
		rep.Established == 1 && (rep.RampS <= 0 || !strings.Contains(table.String(), "not measured")) {
		t.Fatalf("established %d (want at most 1 at this rate), connect rate %v (want 0), ramp %vs, stop %q, rate-limited warning %v; table:\n%s",
			rep.Established, rep.ConnectRate, rep.RampS, rep.StopReason, limited, table.String())
	}
	// The exit status counts failures only: the report says the target was not reached.
	if !slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "--duration stopped the run with") }) {
		t.Errorf("no warning that --duration cut the run short: %q", rep.Warnings)
	}
	waitNoConnections(t, srv.HTTPURL)
}

func TestCPUMeter_WindowsCoverTheWholeRun(t *testing.T) {
	at := func(s, cpu float64) progress { return progress{UnixNs: int64(100e9 + s*1e9), CPUSeconds: cpu} }
	type report struct {
		p        progress
		boundary bool
	}
	tests := []struct {
		name    string
		cores   float64
		reports []report
		want    float64
	}{
		{
			// A 0.3 s ramp at full speed on one core, then a quiet hold: the ramp is a
			// window of its own.
			name: "short ramp", cores: 1,
			reports: []report{{at(0, 10), false}, {at(0.3, 10.3), true}, {at(1.2, 10.31), false}, {at(1.5, 10.32), true}},
			want:    1,
		},
		{
			name: "one-second windows", cores: 2,
			reports: []report{{at(0, 0), false}, {at(0.5, 0.2), false}, {at(1, 0.5), false}, {at(1.5, 1), false},
				{at(2, 2), false}, {at(3, 2.4), true}},
			want: 0.75, // 1.5 CPU-s over [1 s, 2 s] on 2 cores
		},
		{
			// The close burns 0.4 CPU-s in 0.2 s after the last full window: the tail
			// joins that window ([1 s, 2.2 s]) rather than being lost or measured alone.
			name: "short tail joins the last window", cores: 1,
			reports: []report{{at(0, 0), false}, {at(1, 0.1), true}, {at(2, 0.2), false}, {at(2.2, 0.6), true}},
			want:    0.5 / 1.2,
		},
		{
			name: "a run shorter than a window", cores: 1,
			reports: []report{{at(0, 0), false}, {at(0.4, 0.1), true}},
			want:    0.25,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := cpuMeter{cores: tt.cores}
			for _, r := range tt.reports {
				m.note(r.p, r.boundary)
			}
			if math.Abs(m.max-tt.want) > 1e-9 {
				t.Fatalf("busiest share %.4f, want %.4f", m.max, tt.want)
			}
		})
	}

	// Whatever the report times, the busiest window is at least the run's average: no
	// part of the run is left out.
	rng := rand.New(rand.NewPCG(1, 2))
	for run := range 200 {
		m := cpuMeter{cores: 1}
		s, cpu := 0.0, 0.0
		m.note(at(s, cpu), false)
		n := 1 + rng.IntN(12)
		for i := range n {
			d := rng.Float64() * 1.3
			s, cpu = s+d+1e-3, cpu+rng.Float64()*d
			m.note(at(s, cpu), i == n-1 || rng.IntN(4) == 0)
		}
		if avg := cpu / s; m.max < avg*(1-1e-9) {
			t.Fatalf("run %d: busiest window %.4f below the run's average %.4f", run, m.max, avg)
		}
	}
}

// The busiest worker's CPU share covers the whole run: a run shorter than one sample
// interval, which gave 0 before, shows at least its average CPU use.
func TestRunner_BusiestWorkerCPUCoversAShortRun(t *testing.T) {
	rep, _ := runInProcess(t, func(c *Config) {
		c.Conns = 300
		c.RatePerSecond = 0
		c.Login = true
		c.Hold = 0
		c.LoopsPerWorker = 1
		c.SampleEvery = time.Hour // no periodic report: only the start, the ramp's end and the result
	})
	// The windows cover the worker's run, which lies within duration_s: the busiest
	// share of the one core is at least cpu_seconds / duration_s.
	if rep.CPUSeconds <= 0 || rep.MaxWorkerCPU*rep.DurationS < rep.CPUSeconds*(1-1e-9) {
		t.Fatalf("busiest worker %.4f of a core over a %.3fs run that used %.4f CPU-s: want at least %.4f",
			rep.MaxWorkerCPU, rep.DurationS, rep.CPUSeconds, rep.CPUSeconds/rep.DurationS)
	}
}

// --echo with --hold 0 still measures: the hold lasts until the echo phase is over.
func TestRunner_EchoIsMeasuredWithoutAHold(t *testing.T) {
	tests := []struct {
		name    string
		workers int
	}{
		{"in process", 1},
		{"two worker processes", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, _ := runInProcess(t, func(c *Config) {
				c.Conns, c.Login, c.Hold = 60, true, 0
				c.EchoConns, c.EchoRounds = 6, 3
				c.Workers, c.WorkerCommand = tt.workers, workerArgv()
			})
			if rep.EchoMs.Count != 18 || rep.EchoTimeouts != 0 || rep.StopReason != "done" {
				t.Fatalf("echo %+v, %d timeouts, stop %q; want 18 round trips (6 connections x 3)",
					rep.EchoMs, rep.EchoTimeouts, rep.StopReason)
			}
		})
	}
}

func TestBroadcastSent_ReadsThePushAsTheServerEncodesIt(t *testing.T) {
	head := []byte(`{"seq":"` + broadcastMsgID("r1") + `","cmd":"msg","response":{"code":200,`)
	push, err := protocol.EncodePush(broadcastMsgID("r1"), protocol.CmdMsg, protocol.Message{Type: protocol.TypeText, Msg: broadcastText(1234567890123)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(push, head) {
		t.Fatalf("the server's push %s does not start with %s: bench would decode every broadcast", push, head)
	}
	if ns, ok := broadcastSent(push); !ok || ns != 1234567890123 {
		t.Fatalf("broadcastSent = %d, %v; want 1234567890123, true", ns, ok)
	}
	for _, bad := range []string{
		`{"seq":"bench-r1","cmd":"msg","response":{"code":200,"data":{"msg":"hello"}}}`,
		`{"seq":"bench-r1","cmd":"msg","response":{"code":200,"data":{"msg":"gows bench broadcast x"}}}`,
		`{"seq":"bench-r1","cmd":"msg","response":{"code":200,"data":{"msg":"gows bench broadcast `,
	} {
		if _, ok := broadcastSent([]byte(bad)); ok {
			t.Errorf("broadcastSent(%s) accepted it", bad)
		}
	}
}

// A run that stops (here for --duration) while its broadcast request is still waiting
// for the server does not wait the request out: it abandons it and says so. The HTTP API
// is the real server's, except that the broadcast never answers, as a stalled cluster's.
func TestRunner_AStoppedRunAbandonsItsBroadcastRequest(t *testing.T) {
	srv := testutil.StartServer(t)
	target, err := url.Parse(srv.HTTPURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	asked := make(chan struct{}, 1)
	api := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/user/sendMessageAll" {
			r.Header["X-Forwarded-For"] = nil // a request of this machine, not a forwarded one
			proxy.ServeHTTP(w, r)
			return
		}
		asked <- struct{}{}
		_, _ = io.Copy(io.Discard, r.Body) // net/http notices a client leaving once the body is read
		<-r.Context().Done()               // answered only when bench gives up
	}))
	cfg := Default()
	cfg.URLs, cfg.ServerURLs = []string{srv.WSURL}, []string{api}
	cfg.Conns, cfg.Login, cfg.Broadcast = 50, true, true
	cfg.Hold, cfg.Duration = 10*time.Minute, 3*time.Second
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second) // pushTimeout is 2 minutes
	defer cancel()
	rep, err := NewRunner(cfg).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the run waited for the broadcast request until the test's deadline")
	}
	select {
	case <-asked:
	default:
		t.Fatal("the broadcast was never asked for")
	}
	if rep.StopReason != "duration" || rep.Broadcast == nil || rep.Broadcast.Accepted != 0 ||
		!slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, "abandoned") }) {
		t.Fatalf("stop %q, broadcast %+v, warnings %q", rep.StopReason, rep.Broadcast, rep.Warnings)
	}
}

// The report's warnings for figures that cannot be trusted: a worker near 100 % of its
// cores while a rate was measured (bench itself may have been the bottleneck), and a
// server whose RSS fell while its connections grew (memory reused from an earlier run).
func TestReport_WarnsOfABusyWorkerAndOfAServerThatShrank(t *testing.T) {
	tests := []struct {
		name               string
		cpu                float64
		rssBefore, rssPeak int64
		wantCPU, wantRSS   bool
	}{
		{"quiet worker, fresh server", 0.5, 20 << 20, 30 << 20, false, false},
		{"busy worker", 0.95, 20 << 20, 30 << 20, true, false},
		{"server reused its memory", 0.5, 30 << 20, 25 << 20, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &coordinator{
				cfg:      Default(),
				plan:     plan{workers: []workerSpec{{Loops: 1}}},
				start:    time.Now(),
				results:  []*workerResult{{Established: 1000, FirstAttemptNs: 1e9, LastEstablishedNs: 2e9}},
				latest:   make([]progress, 1),
				rssFirst: make([]int64, 1),
				cpu:      []cpuMeter{{cores: 1, max: tt.cpu}},
				before:   []nodeState{{NodeID: "n1", HTTPAddr: "http://127.0.0.1:1", RSSBytes: tt.rssBefore}},
				peak:     []nodeState{{NodeID: "n1", HTTPAddr: "http://127.0.0.1:1", RSSBytes: tt.rssPeak, Connections: 1000}},
			}
			c.cfg.Conns = 1000
			rep := c.report()
			has := func(s string) bool {
				return slices.ContainsFunc(rep.Warnings, func(w string) bool { return strings.Contains(w, s) })
			}
			if rep.ConnectRate <= 0 || has("limited the rate") != tt.wantCPU || has("RSS fell") != tt.wantRSS {
				t.Fatalf("connect rate %v, warnings %q; want the CPU warning %v, the RSS warning %v",
					rep.ConnectRate, rep.Warnings, tt.wantCPU, tt.wantRSS)
			}
		})
	}
}

// A server whose admin routes need a token refuses bench without --server-token, and the
// error says which flag gives it; with it, the run reads the server.
func TestRunner_ServerTokenIsNamedWhenTheServerAsksForIt(t *testing.T) {
	srv := testutil.StartServer(t, func(c *server.Config) { c.AdminToken = "bench-admin-token" })
	cfg := Default()
	cfg.URLs, cfg.ServerURLs = []string{srv.WSURL}, []string{srv.HTTPURL}
	cfg.Conns, cfg.Hold = 5, 0
	if _, err := NewRunner(cfg).Run(t.Context()); err == nil || !strings.Contains(err.Error(), "--server-token") {
		t.Fatalf("run without the token: %v, want an error naming --server-token", err)
	}
	cfg.ServerToken = "bench-admin-token"
	rep, err := NewRunner(cfg).Run(t.Context())
	if err != nil || len(rep.Servers) != 1 {
		t.Fatalf("run with the token: %v, servers %+v", err, rep)
	}
}
