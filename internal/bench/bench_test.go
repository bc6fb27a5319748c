package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/pace"
)

func newHTTPServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

func TestHistogram_QuantilesAreWithinBucketPrecision(t *testing.T) {
	tests := []struct {
		name   string
		values func(i int) uint64 // µs
		n      int
	}{
		{"uniform small", func(i int) uint64 { return uint64(i % 100) }, 10000},
		{"uniform wide", func(i int) uint64 { return uint64(i) * 37 }, 100000},
		{"exponential", func(i int) uint64 { return uint64(math.Exp(float64(i%2000) / 100)) }, 20000},
		{"single value", func(int) uint64 { return 123456 }, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			vals := make([]uint64, tt.n)
			for i := range vals {
				vals[i] = tt.values(i)
				h.RecordN(vals[i], 1)
			}
			slices.Sort(vals)
			if h.Count() != uint64(tt.n) || h.Max() != vals[len(vals)-1] {
				t.Fatalf("count %d max %d", h.Count(), h.Max())
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				exact := float64(vals[int(math.Ceil(q*float64(tt.n)))-1])
				got := h.Quantile(q)
				if tol := max(exact/64, 1); math.Abs(got-exact) > tol {
					t.Errorf("q%.3f: got %.1f want %.1f ± %.1f", q, got, exact, tol)
				}
			}
		})
	}
}

func TestHistogram_BucketsRoundTrip(t *testing.T) {
	for v := uint64(0); v < 1<<24; v = v*3/2 + 1 {
		i := bucketOf(v)
		if lo := bucketLow(i); lo > v || bucketOf(lo) != i {
			t.Fatalf("v %d: bucket %d starts at %d (bucket %d)", v, i, lo, bucketOf(lo))
		}
		if i > 0 && bucketOf(bucketLow(i)-1) != i-1 {
			t.Fatalf("bucket %d is not contiguous with %d", i, i-1)
		}
	}
	if bucketOf(math.MaxUint64) != histBuckets-1 {
		t.Fatal("huge values must land in the last bucket")
	}
}

func TestHistogram_MergeEqualsRecordingTogether(t *testing.T) {
	var a, b, all Histogram
	for i := range 5000 {
		d := time.Duration(i*i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a != all {
		t.Fatal("merged histogram differs")
	}
	if back := toHistJSON(&all).histogram(); *back != all {
		t.Fatal("sparse round trip differs")
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 {
		t.Fatal("empty histogram quantile must be 0")
	}
}

func TestParseSourceIPs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{"single", "127.0.0.2", []string{"127.0.0.2"}, ""},
		{"range", "127.0.0.2-127.0.0.4", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}, ""},
		{"range across octet", "127.0.0.255-127.0.1.1", []string{"127.0.0.255", "127.0.1.0", "127.0.1.1"}, ""},
		{"list and range", "127.0.0.9, 127.0.0.2-127.0.0.3", []string{"127.0.0.9", "127.0.0.2", "127.0.0.3"}, ""},
		{"ipv6", "::1", []string{"::1"}, ""},
		{"reversed range", "127.0.0.4-127.0.0.2", nil, "bad range"},
		{"mixed families", "127.0.0.1-::1", nil, "bad range"},
		{"duplicate", "127.0.0.2,127.0.0.2", nil, "given twice"},
		{"garbage", "localhost", nil, `source ips: "localhost" is not an IP address`},
		{"empty", " , ", nil, "empty"},
		{"too many", "10.0.0.0-10.255.255.255", nil, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSourceIPs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error with %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			if !slices.Equal(s, tt.want) {
				t.Fatalf("got %v want %v", s, tt.want)
			}
		})
	}
}

func addrs(n int) []netip.Addr {
	var out []netip.Addr
	a := netip.MustParseAddr("127.0.0.2")
	for range n {
		out = append(out, a)
		a = a.Next()
	}
	return out
}

func TestPlan_SpreadsWorkersAndChecksCapacity(t *testing.T) {
	tests := []struct {
		name        string
		conns       int
		urls        int
		sources     int // 0: automatic
		workers     int
		ports       int
		fileLimit   int
		wantWorkers int
		wantSources int
		wantErr     string
	}{
		{"one worker fits", 1000, 1, 0, 0, 28000, 20000, 1, 1, ""},
		{"auto sources fill a quarter of the range", 19000, 1, 0, 0, 28000, 20000, 1, 3, ""},
		{"file limit forces workers", 30000, 2, 0, 0, 28000, 20000, 2, 3, ""},
		{"auto sources for one target", 100000, 1, 0, 0, 28000, 20000, 6, 15, ""},
		{"forced workers share few sources", 3000, 1, 1, 3, 28000, 20000, 3, 1, ""},
		{"explicit sources too few", 70000, 1, 2, 4, 28000, 20000, 4, 2, "at least 3 addresses"},
		{"two targets double the capacity", 50000, 2, 1, 3, 28000, 20000, 3, 1, ""},
		{"too few workers for the limit", 30000, 2, 0, 1, 28000, 20000, 0, 0, "--workers 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			for i := range tt.urls {
				cfg.URLs = append(cfg.URLs, "ws://127.0.0.1:"+string(rune('1'+i))+"000/acc")
			}
			cfg.Conns, cfg.Workers, cfg.PortsPerSourceIP, cfg.FileLimit = tt.conns, tt.workers, tt.ports, tt.fileLimit
			cfg.SourceIPs = addrs(tt.sources)
			cfg.WorkerCommand = []string{"gows", "bench", "worker"}
			cfg.EchoConns = 7
			p, err := makePlan(t.Context(), cfg, "run")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want error with %q, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.workers) != tt.wantWorkers || len(p.sources) != tt.wantSources {
				t.Fatalf("workers %d sources %d", len(p.workers), len(p.sources))
			}
			total, echo := 0, 0
			next := uint64(0)
			for _, w := range p.workers {
				if w.FirstID != next || w.Conns > tt.fileLimit-fdReserve || len(w.Sources) == 0 {
					t.Fatalf("worker %d: first %d conns %d sources %d", w.Index, w.FirstID, w.Conns, len(w.Sources))
				}
				next += uint64(w.Conns)
				total += w.Conns
				echo += w.Echo
			}
			if total != tt.conns || echo != 7 {
				t.Fatalf("total %d echo %d", total, echo)
			}
		})
	}
}

// Planning fails before any connection for source addresses that cannot work: URLs of
// one address (repeated, or differing only in path) share one port range per source,
// and a source of the other address family reaches nothing.
func TestPlan_RejectsSourcesThatCannotReachTheTargets(t *testing.T) {
	tests := []struct {
		name    string
		urls    []string
		sources string
		wantErr error
		want    string
	}{
		{"a repeated url adds no ports", []string{"ws://127.0.0.1:1000/acc", "ws://127.0.0.1:1000/acc"}, "127.0.0.2", ErrCapacity, "at least 2 addresses"},
		{"another path on the same node adds no ports", []string{"ws://127.0.0.1:1000/acc", "ws://127.0.0.1:1000/echo"}, "127.0.0.2", ErrCapacity, "at least 2 addresses"},
		{"ipv6 source, ipv4 target", []string{"ws://127.0.0.1:1000/acc"}, "::1", ErrSourceFamily, "::1 cannot reach ws://127.0.0.1:1000/acc"},
		{"ipv4 source, ipv6 target", []string{"ws://[::1]:1000/acc"}, "127.0.0.2", ErrSourceFamily, "127.0.0.2 cannot reach"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			cfg.URLs, cfg.Conns, cfg.PortsPerSourceIP, cfg.FileLimit = tt.urls, 15000, 10000, 20000
			var err error
			if cfg.SourceIPs, err = ParseSourceIPs(tt.sources); err != nil {
				t.Fatal(err)
			}
			_, err = makePlan(t.Context(), cfg, "run")
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %v with %q, got %v", tt.wantErr, tt.want, err)
			}
		})
	}
}

// A host name with both an IPv6 and an IPv4 address (localhost listed as ::1 first)
// resolves to the family of the source addresses, IPv4 unless they are all IPv6.
func TestPickAddr_PrefersTheSourcesFamily(t *testing.T) {
	v6, v4 := netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name    string
		ips     []netip.Addr
		prefer6 bool
		want    netip.Addr
	}{
		{"ipv4 preferred", []netip.Addr{v6, v4}, false, v4},
		{"ipv6 preferred", []netip.Addr{v4, v6}, true, v6},
		{"only the other family", []netip.Addr{v6}, false, v6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pickAddr(tt.ips, tt.prefer6); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMerge_AddsCountsAndMergesHistograms(t *testing.T) {
	mk := func(n int, base time.Duration, node string, rss int64) Report {
		var h Histogram
		for i := range n {
			h.Record(base + time.Duration(i)*time.Microsecond)
		}
		r := Report{
			Target: n, Established: n, Failed: 1, Failures: map[string]int{"refused": 1}, StopReason: "done",
			ConnectRate: 100, ClientRSSBytes: 2000, ClientRSSBeforeBytes: 1000, HeldAtPeak: int64(n),
			ClientPrivateBytes: 1500, ClientPrivateBefore: 500,
			Broadcast: &Broadcast{Delivered: n, Expected: n},
			Servers:   []ServerReport{{URL: "http://" + node, NodeID: node, RSSBefore: 0, RSSPeak: rss, ConnsPeak: int64(n)}},
			SourceIPs: 2, Workers: 1, DurationS: float64(n),
		}
		r.Histograms.Handshake = toHistJSON(&h)
		r.Histograms.Broadcast = toHistJSON(&h)
		r.fillLatencies()
		return r
	}
	interrupted := mk(50, time.Millisecond, "a", 500)
	interrupted.Interrupted, interrupted.StopReason = true, "interrupted"
	m, err := Merge(mk(100, time.Millisecond, "a", 1000), interrupted, mk(300, 10*time.Millisecond, "b", 3000))
	if err != nil {
		t.Fatal(err)
	}
	if m.Target != 450 || m.Established != 450 || m.Failed != 3 || m.Failures["refused"] != 3 || m.ConnectRate != 300 {
		t.Fatalf("counts: %+v", m)
	}
	if m.HandshakeMs.Count != 450 || m.HandshakeMs.P50 < 10 || m.HandshakeMs.Max < 10.29 {
		t.Fatalf("handshake %+v", m.HandshakeMs)
	}
	if m.Broadcast.Delivered != 450 || m.Broadcast.P99Ms < 10 {
		t.Fatalf("broadcast %+v", m.Broadcast)
	}
	if len(m.Servers) != 2 || m.ServerRSSPeak != 4000 || m.Workers != 3 || m.DurationS != 300 {
		t.Fatalf("servers %+v rss %d workers %d", m.Servers, m.ServerRSSPeak, m.Workers)
	}
	if want := float64(3000) / 450; math.Abs(m.ClientBytesPerConn-want) > 0.1 {
		t.Fatalf("client bytes per conn %.1f want %.1f", m.ClientBytesPerConn, want)
	}
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(&buf)
	if err != nil || back.HandshakeMs != m.HandshakeMs || back.Established != 450 {
		t.Fatalf("json round trip: %v %+v", err, back.HandshakeMs)
	}
	buf.Reset()
	if err := m.WriteTable(&buf); err != nil || !strings.Contains(buf.String(), "established") ||
		!m.Interrupted || !regexp.MustCompile(`(?m)^stopped +interrupted$`).MatchString(buf.String()) {
		t.Fatalf("table: %v\n%s", err, buf.String())
	}
}

// A merged rate is the sum of the runs that measured one, so its span is the longest of
// their ramps, not an unmeasured run's (50 connections trickling in over 30 s); when no
// run measured a rate, the table says so instead of "fewer than 100 established" of 120.
func TestMerge_ConnectRateIsPairedWithTheRampsItCovers(t *testing.T) {
	run := func(established int, rate, rampS float64) Report {
		return Report{Target: established, Established: established, ConnectRate: rate, RampS: rampS}
	}
	tests := []struct {
		name      string
		runs      []Report
		wantRate  float64
		wantRampS float64
		wantTable string
		wantWarn  bool
	}{
		{"measured and unmeasured", []Report{run(50, 0, 30), run(2000, 2000, 1), run(3000, 1500, 2)},
			3500, 2, "3,500/s over 2.0s", true},
		{"all measured", []Report{run(2000, 2000, 1), run(3000, 1500, 2)}, 3500, 2, "3,500/s over 2.0s", false},
		{"none measured", []Report{run(60, 0, 4), run(60, 0, 9)}, 0, 9,
			"not measured: no merged run established 100 or more (120 in all, longest ramp 9.0s)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Merge(tt.runs...)
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			if err := m.WriteTable(&table); err != nil {
				t.Fatal(err)
			}
			warned := slices.ContainsFunc(m.Warnings, func(w string) bool { return strings.Contains(w, "connect_rate") })
			if m.ConnectRate != tt.wantRate || m.RampS != tt.wantRampS || !strings.Contains(table.String(), tt.wantTable) || warned != tt.wantWarn {
				t.Fatalf("rate %v over %vs, warned %v (want %v over %vs, warned %v); table:\n%s",
					m.ConnectRate, m.RampS, warned, tt.wantRate, tt.wantRampS, tt.wantWarn, table.String())
			}
		})
	}
}

// A run is merged once: the same report given twice, or a merged report together with
// one of its parts, would count its connections twice.
func TestMerge_RefusesToCountARunTwice(t *testing.T) {
	run := func(id string) Report { return Report{Target: 10, Established: 10, RunIDs: []string{id}} }
	ab, err := Merge(run("a"), run("b"))
	if err != nil || !slices.Equal(ab.RunIDs, []string{"a", "b"}) {
		t.Fatalf("merge of two runs: %v, run ids %q", err, ab.RunIDs)
	}
	tests := []struct {
		name          string
		reports       []Report
		first, second int
		id            string
	}{
		{"one report twice", []Report{run("a"), run("c"), run("a")}, 0, 2, "a"},
		{"a merge with one of its parts", []Report{run("c"), ab, run("b")}, 1, 2, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(tt.reports...)
			sr, ok := errors.AsType[*SameRunError](err)
			if !ok || sr.First != tt.first || sr.Second != tt.second || sr.RunID != tt.id {
				t.Fatalf("want reports %d and %d sharing run %s, got %v", tt.first, tt.second, tt.id, err)
			}
		})
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := Default()
	ok.URLs = []string{"ws://127.0.0.1:8089/acc"}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"default with url", func(*Config) {}, ""},
		{"no url", func(c *Config) { c.URLs = nil }, "url"},
		{"wss", func(c *Config) { c.URLs = []string{"wss://x/acc"} }, "only ws://"},
		{"zero conns", func(c *Config) { c.Conns = 0 }, "conns"},
		{"negative rate", func(c *Config) { c.RatePerSecond = -1 }, "rate must be"},
		{"rate not a number", func(c *Config) { c.RatePerSecond = math.NaN() }, "rate must be a finite number"},
		{"infinite rate", func(c *Config) { c.RatePerSecond = math.Inf(1) }, "rate must be a finite number"},
		{"bad close", func(c *Config) { c.Close = "fin" }, "close"},
		{"broadcast without login", func(c *Config) { c.Broadcast, c.ServerURLs = true, []string{"http://x:1"} }, "needs login"},
		{"broadcast without server", func(c *Config) { c.Broadcast, c.Login = true, true }, "server url"},
		{"bad server url", func(c *Config) { c.ServerURLs = []string{"127.0.0.1:8080"} }, "server url"},
		{"workers without command", func(c *Config) { c.Workers = 2 }, "worker command"},
		{"more workers than conns", func(c *Config) { c.Conns, c.Workers, c.WorkerCommand = 3, 5, []string{"gows"} }, "must not exceed conns"},
		{"echo without rounds", func(c *Config) { c.EchoConns, c.EchoRounds = 5, 0 }, "round"},
		{"more echo conns than conns", func(c *Config) { c.Conns, c.EchoConns = 3, 10 }, "echo (10) must not exceed conns (3)"},
		{"auth secret without login", func(c *Config) { c.AuthSecret = "0123456789abcdef" }, "needs login"},
		{"short auth secret", func(c *Config) { c.Login, c.AuthSecret = true, "short" }, "16 bytes"},
		{"negative max failures", func(c *Config) { c.MaxFailures = -1 }, "max-failures must not be negative, got -1"},
		{"negative loops", func(c *Config) { c.LoopsPerWorker = -2 }, "loops must not be negative, got -2"},
		{"negative hold", func(c *Config) { c.Hold = -time.Second }, "hold must not be negative, got -1s"},
		{"zero connect timeout", func(c *Config) { c.ConnectTimeout = 0 }, "connect-timeout must be positive, got 0s"},
		{"too many echo rounds", func(c *Config) { c.EchoConns, c.EchoRounds = 1, 256 }, "echo-rounds must be 0..255, got 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("want %q, got %v", tt.wantErr, err)
			}
		})
	}
}

func TestReport_WriteJSONGivesEmptyListsNotNull(t *testing.T) {
	var buf bytes.Buffer
	if err := (Report{Target: 1}).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"warnings", "timeline", "servers", "urls"} {
		if l, ok := got[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%q is %#v, want []", k, got[k])
		}
	}
	if m, ok := got["failures"].(map[string]any); !ok || len(m) != 0 {
		t.Errorf("failures is %#v, want {}", got["failures"])
	}
	hs, _ := got["histograms"].(map[string]any)
	for _, k := range []string{"handshake", "login", "echo", "broadcast"} {
		h, _ := hs[k].(map[string]any)
		if l, ok := h["buckets"].([]any); !ok || len(l) != 0 {
			t.Errorf("histograms.%s.buckets is %#v, want []", k, h["buckets"])
		}
	}
}

func TestReadReport_RejectsJSONThatIsNotAReport(t *testing.T) {
	var valid bytes.Buffer
	if err := (Report{Target: 5, Established: 3, Failed: 2}).WriteJSON(&valid); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		in        string
		notReport bool // errNotReport rather than a JSON syntax error
	}{
		{"empty object", `{}`, true},
		{"null", `null`, true},
		{"array", `[]`, true},
		{"string", `"report"`, true},
		{"another tool's output", `{"nodes":[{"nodeId":"a"}]}`, true},
		{"no failed key", `{"target":5,"established":5}`, true},
		{"zero target", `{"target":0,"established":0,"failed":0}`, true},
		{"more established than asked", `{"target":5,"established":6,"failed":0}`, true},
		{"truncated", `{"target":5,`, false},
		{"empty file", ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadReport(strings.NewReader(tt.in))
			if err == nil || errors.Is(err, errNotReport) != tt.notReport {
				t.Fatalf("ReadReport(%q) = %v; want an error (not a report: %v)", tt.in, err, tt.notReport)
			}
		})
	}
	rep, err := ReadReport(&valid)
	if err != nil || rep.Target != 5 || rep.Established != 3 || rep.Failed != 2 {
		t.Fatalf("a real report: %v %+v", err, rep)
	}
}

// The loops of all workers are paced as one stream at the run's rate: together they
// never run ahead of it, from the first connection on, and they do not fall behind.
// A stream whose loop wakes later than its next token (here every 150 ms at 10 per
// second) still keeps its rate: the tokens of a late wake-up are not thrown away.
func TestPacer_LateWakeUpsKeepTheRate(t *testing.T) {
	b := newPacer(10, 0, 1, 0)
	got := 0
	for now := int64(0); now <= 10e9; now += 150e6 {
		got += b.Take(100, now)
	}
	if got < 98 {
		t.Fatalf("%d connections in 10 s at 10 per second, waking every 150 ms", got)
	}
}

func TestPacer_StreamsTakeTurnsFromTheFirstConnection(t *testing.T) {
	tests := []struct {
		name    string
		total   float64 // connections per second over all streams
		streams int
		stepNs  int64
		steps   int
	}{
		{"6 workers of 2 loops at 1/s", 1, 12, 1e6, 30000},
		{"51 workers at 15000/s", 15000, 51, 1e5, 20000},
		{"one loop at 500/s", 500, 1, 1e6, 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := int64(5e9)
			var pacers []*pace.Bucket
			for i := range tt.streams {
				pacers = append(pacers, newPacer(tt.total/float64(tt.streams), i, tt.streams, now))
			}
			got := 0
			for step := range tt.steps + 1 {
				at := now + int64(step)*tt.stepNs
				for _, p := range pacers {
					got += p.Take(1000, at)
				}
				// By time s (seconds since the start) the run may have opened the
				// connection at 0 and one every 1/total seconds after it.
				s := float64(at-now) / 1e9
				if allowed := int(s*tt.total+1e-9) + 1; got > allowed {
					t.Fatalf("%d connections by %.4fs, want at most %d", got, s, allowed)
				}
				if step == 0 && got != 1 {
					t.Fatalf("%d connections at the start, want 1", got)
				}
			}
			if want := int(float64(tt.steps)*float64(tt.stepNs)/1e9*tt.total) + 1 - tt.streams; got < want {
				t.Fatalf("%d connections, want at least %d: the pacing falls behind", got, want)
			}
		})
	}
}

func TestRampFigures(t *testing.T) {
	const s = int64(1e9)
	tests := []struct {
		name               string
		established        int
		first, last, cut   int64
		wantSpan, wantRate float64
	}{
		{"finished ramp", 1000, 10 * s, 12 * s, 0, 2, 500},
		{"cut short: the span runs to the stop", 1500, 10 * s, 11*s + 4*s/10, 11*s + s/2, 1.5, 1000},
		{"a handful is not a rate", 2, 10 * s, 10*s + 6*s/1000, 11*s + s/2, 1.5, 0},
		{"the fewest that give a rate", minRateConns, 10 * s, 11 * s, 0, 1, minRateConns},
		{"nothing attempted", 0, 0, 0, 11 * s, 0, 0},
		{"nothing established, cut", 0, 10 * s, 0, 12 * s, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			span, rate := rampFigures(tt.established, tt.first, tt.last, tt.cut)
			if math.Abs(span-tt.wantSpan) > 1e-9 || math.Abs(rate-tt.wantRate) > 1e-6 {
				t.Fatalf("span %v rate %v, want %v and %v", span, rate, tt.wantSpan, tt.wantRate)
			}
		})
	}
}

// docs/bench.md's JSON report section names every key a report has, those of its
// servers, broadcast and timeline samples too (a timeline sample's server_pss_bytes was
// missing).
func TestReport_EveryJSONKeyIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/bench.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(doc), "## JSON report")
	section, _, _ = strings.Cut(section, "\n## ")
	rep := Report{Target: 1, Broadcast: &Broadcast{}, Servers: []ServerReport{{}}, Timeline: []Sample{{}}}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	keys := slices.Collect(maps.Keys(got))
	for _, nested := range []any{got["broadcast"], got["servers"].([]any)[0], got["timeline"].([]any)[0]} {
		keys = slices.AppendSeq(keys, maps.Keys(nested.(map[string]any)))
	}
	for _, k := range keys {
		if !strings.Contains(section, "`"+k+"`") {
			t.Errorf("docs/bench.md's JSON report section does not name %q", k)
		}
	}
}
