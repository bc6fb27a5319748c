package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is what a run measured. Its JSON form (see docs/bench.md) is stable: the keys
// listed in issue 4 keep their names and meaning; extra keys may be added.
type Report struct {
	Target      int            `json:"target"`       // connections asked for
	Established int            `json:"established"`  // connections that completed the upgrade (and login)
	Failed      int            `json:"failed"`       // failures, before or after being established
	Failures    map[string]int `json:"failures"`     // failures by kind
	Dropped     int            `json:"dropped"`      // established connections lost before the close
	ConnectRate float64        `json:"connect_rate"` // established per second over the ramp
	RampS       float64        `json:"ramp_s"`       // first attempt to last established
	HandshakeMs Percentiles    `json:"handshake_ms"` // connect start to 101 received
	LoginMs     Percentiles    `json:"login_ms"`     // login sent to its 200 answer
	EchoMs      Percentiles    `json:"echo_ms"`      // ping round trips on sampled connections
	Broadcast   *Broadcast     `json:"broadcast"`    // nil unless --broadcast

	ClientRSSBytes       int64   `json:"client_rss_bytes"`            // bench RSS at the peak (or the stop: ClientMemoryAt), summed over workers
	ClientRSSBeforeBytes int64   `json:"client_rss_before_bytes"`     // the same before the first connection
	ClientRSSHWMBytes    int64   `json:"client_rss_hwm_bytes"`        // peak RSS (VmHWM) summed over workers, garbage included
	ClientPrivateBytes   int64   `json:"client_private_bytes"`        // private (anonymous) part of client_rss_bytes
	ClientPrivateBefore  int64   `json:"client_private_before_bytes"` // the same before the first connection
	ClientBytesPerConn   float64 `json:"client_bytes_per_conn"`       // private memory (peak - before) / held at the peak
	HeldAtPeak           int64   `json:"held_at_peak"`                // connections held when the client memory was measured
	ClientMemoryAt       string  `json:"client_memory_at"`            // peak, stop (the run stopped before its peak) or "" (not measured: nothing held)
	CPUSeconds           float64 `json:"cpu_seconds"`                 // bench CPU, summed over workers
	CPUSecondsPerConn    float64 `json:"cpu_seconds_per_conn"`        // cpu_seconds / established
	MaxWorkerCPU         float64 `json:"max_worker_cpu"`              // busiest worker's share of its cores in one window (see cpuMeter)

	Servers         []ServerReport `json:"servers"`
	ServerRSSBefore int64          `json:"server_rss_before"` // summed over servers
	ServerRSSPeak   int64          `json:"server_rss_peak"`
	ServerBytesPer  float64        `json:"server_bytes_per_conn"`
	// ServerPSSPeak sums the servers' proportional set sizes at the peak: all their memory,
	// the binary's shared pages counted once per machine rather than once per process.
	// ServerTotalPerConn divides it by the connections: the whole cost per connection,
	// baseline included (server_bytes_per_conn is the growth only).
	ServerPSSPeak      int64   `json:"server_pss_peak"`
	ServerTotalPerConn float64 `json:"server_total_bytes_per_conn"`
	MemAvailablePeak   int64   `json:"mem_available_peak_bytes"` // the machine's MemAvailable at the peak
	// ServerMemoryAt says when the servers (with --server) and MemAvailablePeak were read:
	// peak, stop (the run stopped before its peak: what the servers held when the close
	// began) or "" (not read).
	ServerMemoryAt string `json:"server_memory_at"`

	Heartbeats      uint64 `json:"heartbeats"`
	HeartbeatErrors uint64 `json:"heartbeat_errors"`
	EchoTimeouts    uint64 `json:"echo_timeouts"`

	// RunIDs identify the runs the report covers: one random id for a run, every merged
	// run's for a merge, so that merge can refuse to count a run twice.
	RunIDs      []string     `json:"run_ids"`
	URLs        []string     `json:"urls"`
	SourceIPs   int          `json:"source_ips"`
	Workers     int          `json:"workers"`
	DurationS   float64      `json:"duration_s"`
	Interrupted bool         `json:"interrupted"` // stopped by Ctrl-C (ctx) before the hold ended
	StopReason  string       `json:"stop_reason"` // done (hold over), duration, interrupted, nothing_held or worker_failed
	Warnings    []string     `json:"warnings"`
	Timeline    []Sample     `json:"timeline"`
	Histograms  histogramSet `json:"histograms"` // raw buckets, so that reports merge exactly
}

// Percentiles summarises a latency histogram, in milliseconds.
type Percentiles struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Broadcast is the delivery of the one sendMessageAll push.
type Broadcast struct {
	Delivered  int     `json:"delivered"`  // held connections that received it
	Expected   int     `json:"expected"`   // held connections when it was sent
	Accepted   int     `json:"accepted"`   // connections the server said it queued it to
	Duplicates int     `json:"duplicates"` // repeated deliveries
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
}

// ServerReport is one server node's memory before the ramp and at the peak.
type ServerReport struct {
	URL          string  `json:"url"`
	NodeID       string  `json:"node_id"`
	RSSBefore    int64   `json:"rss_before"`
	RSSPeak      int64   `json:"rss_peak"`
	PSSPeak      int64   `json:"pss_peak"`
	ConnsBefore  int64   `json:"conns_before"`
	ConnsPeak    int64   `json:"conns_peak"`
	UsersPeak    int64   `json:"users_peak"`
	BytesPerConn float64 `json:"bytes_per_conn"` // (rss_peak - rss_before) / (conns_peak - conns_before)
}

// Sample is one point of the run's timeline.
type Sample struct {
	TS             float64 `json:"t_s"` // seconds since the start
	Attempted      uint64  `json:"attempted"`
	Established    uint64  `json:"established"`
	Held           int64   `json:"held"`
	Failed         uint64  `json:"failed"`
	ClientRSSBytes int64   `json:"client_rss_bytes"`
	ServerConns    int64   `json:"server_connections"` // summed over servers (0 without --server)
	ServerRSSBytes int64   `json:"server_rss_bytes"`
	ServerPSSBytes int64   `json:"server_pss_bytes"` // summed proportional set size
}

// histogramSet carries the raw histograms in the JSON report.
type histogramSet struct {
	Handshake histJSON `json:"handshake"`
	Login     histJSON `json:"login"`
	Echo      histJSON `json:"echo"`
	Broadcast histJSON `json:"broadcast"`
}

func percentilesOf(h *Histogram) Percentiles {
	ms := func(us float64) float64 { return math.Round(us) / 1000 }
	return Percentiles{
		Count: h.Count(),
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		Max:   ms(float64(h.Max())),
	}
}

// fillLatencies computes the percentile fields from the raw histograms.
func (r *Report) fillLatencies() {
	r.HandshakeMs = percentilesOf(r.Histograms.Handshake.histogram())
	r.LoginMs = percentilesOf(r.Histograms.Login.histogram())
	r.EchoMs = percentilesOf(r.Histograms.Echo.histogram())
	if r.Broadcast != nil {
		p := percentilesOf(r.Histograms.Broadcast.histogram())
		r.Broadcast.P50Ms, r.Broadcast.P99Ms, r.Broadcast.MaxMs = p.P50, p.P99, p.Max
	}
}

// fillServers computes the per-server and summed server memory figures.
func (r *Report) fillServers() {
	r.ServerRSSBefore, r.ServerRSSPeak, r.ServerBytesPer = 0, 0, 0
	r.ServerPSSPeak, r.ServerTotalPerConn = 0, 0
	var conns, peakConns int64
	for i := range r.Servers {
		s := &r.Servers[i]
		s.BytesPerConn = perConn(s.RSSPeak-s.RSSBefore, s.ConnsPeak-s.ConnsBefore)
		r.ServerRSSBefore += s.RSSBefore
		r.ServerRSSPeak += s.RSSPeak
		r.ServerPSSPeak += s.PSSPeak
		conns += s.ConnsPeak - s.ConnsBefore
		peakConns += s.ConnsPeak
	}
	r.ServerBytesPer = perConn(r.ServerRSSPeak-r.ServerRSSBefore, conns)
	r.ServerTotalPerConn = perConn(r.ServerPSSPeak, peakConns)
}

// When the client memory figures were measured (Report.ClientMemoryAt).
const (
	memoryAtPeak = "peak" // every connection up, at the start of the hold
	memoryAtStop = "stop" // the run stopped before its peak: what was held then
)

// minRateConns is the fewest established connections a run gives a connect rate for:
// below it the figure says when a handful of connections happened, not a rate (and
// established/span overstates the rate by up to n/(n-1): 1 % at 100).
const minRateConns = 100

// rampFigures returns the ramp's span in seconds and the connect rate. The span runs
// from the first attempt (firstNs, unix ns) to the last connection established, or to
// cutNs if later: when the run stopped opening connections before its ramp was over
// (--duration, Ctrl-C), the time it spent trying counts. The rate is established over
// the span, or 0 (not measured) below minRateConns established.
func rampFigures(established int, firstNs, lastEstablishedNs, cutNs int64) (spanS, rate float64) {
	end := max(lastEstablishedNs, cutNs)
	if firstNs == 0 || end <= firstNs {
		return 0, 0
	}
	spanS = float64(end-firstNs) / 1e9
	if established >= minRateConns {
		rate = float64(established) / spanS
	}
	return spanS, rate
}

func perConn(bytes, conns int64) float64 {
	if conns <= 0 {
		return 0
	}
	return math.Round(float64(bytes)/float64(conns)*10) / 10
}

// SameRunError is returned by Merge when two of the reports cover the same run (a file
// given twice, or a merged report with one of its parts): its counts would add up twice.
type SameRunError struct {
	First, Second int // positions of the two reports in Merge's arguments, from 0
	RunID         string
}

func (e *SameRunError) Error() string {
	return fmt.Sprintf("reports %d and %d both cover run %s", e.First+1, e.Second+1, e.RunID)
}

// Merge combines reports of runs that ran at the same time from different machines (or
// processes) against the same servers: counts and memory add up, latencies merge
// through their raw histograms, and each server node is counted once. Reports that share
// a run id are an error (*SameRunError).
func Merge(reports ...Report) (Report, error) {
	where := map[string]int{}
	for i, r := range reports {
		for _, id := range r.RunIDs {
			if j, ok := where[id]; ok {
				return Report{}, &SameRunError{First: j, Second: i, RunID: id}
			}
			where[id] = i
		}
	}
	var m Report
	m.Failures = map[string]int{}
	var hs, login, echo, bc Histogram
	servers := map[string]ServerReport{}
	unmeasured := 0 // runs that established connections but too few for a rate
	// The merged rate is the sum of the measured rates, so its span is the longest of
	// their ramps: an unmeasured run's ramp (a handful of connections over a long
	// time) must not be paired with a rate it is not part of.
	var measuredRampS, anyRampS float64
	for _, r := range reports {
		m.Target += r.Target
		m.Established += r.Established
		m.Failed += r.Failed
		m.Dropped += r.Dropped
		for k, v := range r.Failures {
			m.Failures[k] += v
		}
		m.ConnectRate += r.ConnectRate
		if r.ConnectRate > 0 {
			measuredRampS = max(measuredRampS, r.RampS)
		} else if r.Established > 0 {
			unmeasured++
		}
		anyRampS = max(anyRampS, r.RampS)
		hs.Merge(r.Histograms.Handshake.histogram())
		login.Merge(r.Histograms.Login.histogram())
		echo.Merge(r.Histograms.Echo.histogram())
		bc.Merge(r.Histograms.Broadcast.histogram())
		if r.Broadcast != nil {
			if m.Broadcast == nil {
				m.Broadcast = &Broadcast{}
			}
			m.Broadcast.Delivered += r.Broadcast.Delivered
			m.Broadcast.Expected += r.Broadcast.Expected
			m.Broadcast.Accepted += r.Broadcast.Accepted
			m.Broadcast.Duplicates += r.Broadcast.Duplicates
		}
		m.ClientRSSBytes += r.ClientRSSBytes
		m.ClientRSSBeforeBytes += r.ClientRSSBeforeBytes
		m.ClientPrivateBytes += r.ClientPrivateBytes
		m.ClientPrivateBefore += r.ClientPrivateBefore
		m.ClientRSSHWMBytes += r.ClientRSSHWMBytes
		m.HeldAtPeak += r.HeldAtPeak
		if m.ClientMemoryAt != memoryAtStop && r.ClientMemoryAt != "" {
			m.ClientMemoryAt = r.ClientMemoryAt
		}
		m.CPUSeconds += r.CPUSeconds
		m.MaxWorkerCPU = max(m.MaxWorkerCPU, r.MaxWorkerCPU)
		for _, s := range r.Servers {
			k := s.URL
			if s.NodeID != "" {
				k = s.NodeID + " " + s.URL
			}
			if old, ok := servers[k]; !ok || s.RSSPeak > old.RSSPeak {
				servers[k] = s
			}
		}
		m.MemAvailablePeak = minNonZero(m.MemAvailablePeak, r.MemAvailablePeak)
		if m.ServerMemoryAt != memoryAtStop && r.ServerMemoryAt != "" {
			m.ServerMemoryAt = r.ServerMemoryAt
		}
		m.Heartbeats += r.Heartbeats
		m.HeartbeatErrors += r.HeartbeatErrors
		m.EchoTimeouts += r.EchoTimeouts
		m.RunIDs = append(m.RunIDs, r.RunIDs...)
		for _, u := range r.URLs {
			if !slices.Contains(m.URLs, u) {
				m.URLs = append(m.URLs, u)
			}
		}
		m.SourceIPs += r.SourceIPs
		m.Workers += r.Workers
		m.DurationS = max(m.DurationS, r.DurationS)
		m.Interrupted = m.Interrupted || r.Interrupted
		if m.StopReason == "" || m.StopReason == "done" { // a run that ended early marks the merge
			m.StopReason = r.StopReason
		}
		m.Warnings = append(m.Warnings, r.Warnings...)
	}
	for _, k := range sortedKeys(servers) {
		m.Servers = append(m.Servers, servers[k])
	}
	m.RampS = anyRampS
	if m.ConnectRate > 0 {
		m.RampS = measuredRampS
		if unmeasured > 0 {
			m.Warnings = append(m.Warnings, fmt.Sprintf(
				"connect_rate and ramp_s cover only the runs that measured a rate: %d run(s) established fewer than %d and are left out",
				unmeasured, minRateConns))
		}
	}
	m.Histograms = histogramSet{toHistJSON(&hs), toHistJSON(&login), toHistJSON(&echo), toHistJSON(&bc)}
	m.fillLatencies()
	m.fillServers()
	m.ClientBytesPerConn = perConn(m.ClientPrivateBytes-m.ClientPrivateBefore, m.HeldAtPeak)
	if m.Established > 0 {
		m.CPUSecondsPerConn = m.CPUSeconds / float64(m.Established)
	}
	return m, nil
}

func minNonZero(a, b int64) int64 {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	return min(a, b)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// errNotReport is returned by ReadReport for JSON that is not a bench report.
var errNotReport = errors.New("not a bench report")

// ReadReport decodes a JSON report written by WriteJSON. Valid JSON that is not a
// report (an empty object, another tool's output) is an error, not an empty report.
func ReadReport(r io.Reader) (Report, error) {
	var raw json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return Report{}, fmt.Errorf("decode report: %w", err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return Report{}, fmt.Errorf("%w: want a JSON object: %w", errNotReport, err)
	}
	for _, k := range []string{"target", "established", "failed"} { // every report has them
		if _, ok := keys[k]; !ok {
			return Report{}, fmt.Errorf("%w: no %q key", errNotReport, k)
		}
	}
	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		return Report{}, fmt.Errorf("decode report: %w", err)
	}
	if rep.ClientMemoryAt == "" && rep.HeldAtPeak > 0 { // written before client_memory_at existed
		rep.ClientMemoryAt = memoryAtPeak
	}
	if rep.ServerMemoryAt == "" && (len(rep.Servers) > 0 || rep.MemAvailablePeak > 0) { // written before server_memory_at existed
		rep.ServerMemoryAt = memoryAtPeak
	}
	if rep.Target < 1 || rep.Established < 0 || rep.Failed < 0 || rep.Established > rep.Target {
		return Report{}, fmt.Errorf("%w: target %d, established %d, failed %d", errNotReport, rep.Target, rep.Established, rep.Failed)
	}
	return rep, nil
}

// WriteJSON writes the report as indented JSON. Lists and the failures object are
// written empty, never null, when there is nothing in them (docs/bench.md gives their
// types).
func (r Report) WriteJSON(w io.Writer) error {
	if r.Failures == nil {
		r.Failures = map[string]int{}
	}
	r.Servers, r.URLs, r.RunIDs = orEmpty(r.Servers), orEmpty(r.URLs), orEmpty(r.RunIDs)
	r.Warnings, r.Timeline = orEmpty(r.Warnings), orEmpty(r.Timeline)
	for _, h := range []*histJSON{&r.Histograms.Handshake, &r.Histograms.Login, &r.Histograms.Echo, &r.Histograms.Broadcast} {
		h.Buckets = orEmpty(h.Buckets)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// orEmpty returns s, or an empty slice (JSON []) for nil.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// WriteTable writes the report as an aligned table.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	lat := func(p Percentiles) string {
		if p.Count == 0 {
			return "-"
		}
		return fmt.Sprintf("p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms  (n=%d)", p.P50, p.P90, p.P99, p.Max, p.Count)
	}
	row("target", num(int64(r.Target)))
	row("established", fmt.Sprintf("%s (%.1f%%)", num(int64(r.Established)), pct(r.Established, r.Target)))
	failed := num(int64(r.Failed))
	if len(r.Failures) > 0 {
		var parts []string
		for _, k := range sortedKeys(r.Failures) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Failures[k]))
		}
		failed += "  (" + strings.Join(parts, ", ") + ")"
	}
	row("failed", failed)
	if r.Dropped > 0 {
		row("dropped while held", num(int64(r.Dropped)))
	}
	switch {
	case r.ConnectRate > 0:
		row("connect rate", fmt.Sprintf("%s/s over %.1fs", num(int64(r.ConnectRate)), r.RampS))
	case r.Established == 0:
		row("connect rate", "not measured: none established")
	case r.Established < minRateConns:
		row("connect rate", fmt.Sprintf("not measured: fewer than %d established (%s over %.1fs)",
			minRateConns, num(int64(r.Established)), r.RampS))
	default: // merged runs, none of which established enough for a rate
		row("connect rate", fmt.Sprintf("not measured: no merged run established %d or more (%s in all, longest ramp %.1fs)",
			minRateConns, num(int64(r.Established)), r.RampS))
	}
	row("handshake", lat(r.HandshakeMs))
	row("login", lat(r.LoginMs))
	if r.EchoMs.Count > 0 || r.EchoTimeouts > 0 {
		row("echo", lat(r.EchoMs)+fmt.Sprintf("  timeouts %d", r.EchoTimeouts))
	}
	if b := r.Broadcast; b != nil {
		row("broadcast", fmt.Sprintf("%s/%s delivered (%.2f%%)  p50 %.1f  p99 %.1f  max %.1f ms",
			num(int64(b.Delivered)), num(int64(b.Expected)), pct(b.Delivered, b.Expected), b.P50Ms, b.P99Ms, b.MaxMs))
	}
	if r.Heartbeats > 0 {
		row("heartbeats", fmt.Sprintf("%s sent, %d errors", num(int64(r.Heartbeats)), r.HeartbeatErrors))
	}
	at := "peak"
	if r.ClientMemoryAt == memoryAtStop {
		at = "at the stop"
	}
	row("client rss", fmt.Sprintf("%s %s, %s before, %s high-water  (%s)",
		bytesStr(r.ClientRSSBytes), at, bytesStr(r.ClientRSSBeforeBytes), bytesStr(r.ClientRSSHWMBytes), plural(r.Workers, "worker")))
	if r.ClientMemoryAt == "" {
		row("client bytes/conn", "not measured: no connection was held")
	} else {
		held := num(r.HeldAtPeak) + " held"
		if r.ClientMemoryAt == memoryAtStop {
			held += " when the run stopped before its peak"
		}
		row("client bytes/conn", fmt.Sprintf("%.0f  (private memory %s -> %s, %s)",
			r.ClientBytesPerConn, bytesStr(r.ClientPrivateBefore), bytesStr(r.ClientPrivateBytes), held))
	}
	perConnCPU := "-"
	if r.Established > 0 {
		perConnCPU = fmt.Sprintf("%.1f µs/conn", r.CPUSecondsPerConn*1e6)
	}
	row("client cpu", fmt.Sprintf("%.2f s  %s  (busiest worker %.0f%%)", r.CPUSeconds, perConnCPU, r.MaxWorkerCPU*100))
	serverAt, stopNote := "peak", ""
	if r.ServerMemoryAt == memoryAtStop {
		serverAt, stopNote = "stop", " (at the stop)"
	}
	for _, s := range r.Servers {
		name := s.URL
		if s.NodeID != "" {
			name = s.NodeID + " " + s.URL
		}
		row("server "+name, fmt.Sprintf("rss %s -> %s, conns %s -> %s, %.0f bytes/conn%s",
			bytesStr(s.RSSBefore), bytesStr(s.RSSPeak), num(s.ConnsBefore), num(s.ConnsPeak), s.BytesPerConn, stopNote))
	}
	if len(r.Servers) > 1 {
		row("servers total", fmt.Sprintf("rss %s -> %s, %.0f bytes/conn%s", bytesStr(r.ServerRSSBefore), bytesStr(r.ServerRSSPeak), r.ServerBytesPer, stopNote))
	}
	if r.ServerPSSPeak > 0 {
		row("servers all-in", fmt.Sprintf("pss %s at the %s, %.0f bytes/conn (baseline and shared binary included)",
			bytesStr(r.ServerPSSPeak), serverAt, r.ServerTotalPerConn))
	}
	if r.MemAvailablePeak > 0 {
		row("mem available at "+serverAt, bytesStr(r.MemAvailablePeak))
	}
	row("source ips", strconv.Itoa(r.SourceIPs))
	row("duration", fmt.Sprintf("%.1fs", r.DurationS))
	if r.StopReason != "" && r.StopReason != "done" {
		row("stopped", r.StopReason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, wmsg := range r.Warnings {
		if _, err := fmt.Fprintf(w, "warning: %s\n", wmsg); err != nil {
			return err
		}
	}
	return nil
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// num formats n with thousands separators.
func num(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// bytesStr formats a byte count in MiB (or KiB below 1 MiB).
func bytesStr(n int64) string {
	if n < 1<<20 && n > -1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// plural says n things: "1 worker", "2 workers".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
