//go:build linux

package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
)

// ErrTooManyFailures is returned by Run, with the report, when more connections failed
// than Config.MaxFailures allows.
var ErrTooManyFailures = errors.New("too many failed connections")

// Runner runs one bench. Create it with NewRunner; Run may be called once.
type Runner struct {
	cfg Config
	log *slog.Logger
}

// NewRunner returns a Runner for cfg; Run validates cfg.
func NewRunner(cfg Config) *Runner {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: log}
}

// workerHandle is how the coordinator drives a worker, in this process or in a child
// process. Both methods are safe for concurrent use and do not block for long.
type workerHandle interface {
	hold()
	close()
}

// Run plans the run (failing before any connection when the source addresses or file
// limits cannot hold it), starts the workers, ramps up, holds, optionally measures echo
// round trips and a broadcast, closes every connection and returns the report. When ctx
// is done, or Config.Duration passes, it closes everything early and still returns the
// report, marked interrupted. The error is ErrTooManyFailures (wrapped) when failures
// exceed Config.MaxFailures, or what made a worker fail.
func (r *Runner) Run(ctx context.Context) (Report, error) {
	cfg := r.cfg
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	start := time.Now()
	var idb [6]byte
	_, _ = rand.Read(idb[:]) // crypto/rand.Read never fails on Linux
	runID := hex.EncodeToString(idb[:])
	p, err := makePlan(ctx, cfg, runID)
	if err != nil {
		return Report{}, err
	}
	if err := checkSourcesLocal(p.sources); err != nil {
		return Report{}, err
	}
	c := &coordinator{
		cfg: cfg, log: r.log, plan: p, start: start, runID: runID, lastShownAt: start,
		api:    newServerAPI(cfg.ServerToken),
		events: make(chan workerEvent, 16*len(p.workers)),
		stop:   make(chan struct{}),
	}
	defer c.api.close()
	if len(cfg.ServerURLs) > 0 {
		if c.before, err = c.api.snapshot(ctx, cfg.ServerURLs); err != nil {
			return Report{}, fmt.Errorf("read server state before the run: %w", err)
		}
	}
	r.log.Info("bench starting", "conns", cfg.Conns, "workers", len(p.workers), "source_ips", len(p.sources),
		"targets", len(p.targets), "run_id", runID)

	var g errgroup.Group
	c.g = &g
	handles, err := c.startWorkers(ctx, &g)
	if err != nil {
		close(c.stop)
		for _, h := range handles {
			h.close()
		}
		return Report{}, errors.Join(err, g.Wait())
	}
	c.handles = handles
	if len(cfg.ServerURLs) > 0 {
		g.Go(func() error { c.watch.run(ctx, c.api, cfg.ServerURLs, cfg.SampleEvery, c.stop); return nil })
	}
	c.loop(ctx)
	close(c.stop)
	waitErr := g.Wait()
	if c.bcastInFlight {
		// The workers finished before the loop read the broadcast's outcome (a run
		// stopped early abandons the request): it is in c.bcastDone by now.
		c.broadcastAnswered(<-c.bcastDone)
	}
	rep := c.report()
	var errs []error
	errs = append(errs, c.errs...)
	if waitErr != nil {
		errs = append(errs, waitErr)
	}
	if rep.Failed > cfg.MaxFailures {
		errs = append(errs, fmt.Errorf("%w: %d failed, %d allowed", ErrTooManyFailures, rep.Failed, cfg.MaxFailures))
	}
	return rep, errors.Join(errs...)
}

// coordinator drives the workers through the phases and aggregates what they report.
// Its fields are owned by the goroutine that calls Run.
type coordinator struct {
	cfg     Config
	log     *slog.Logger
	plan    plan
	start   time.Time
	runID   string
	api     *serverAPI
	events  chan workerEvent
	stop    chan struct{} // closed when the coordinator stops reading events
	handles []workerHandle
	watch   serverWatch
	g       *errgroup.Group // owns the goroutines the coordinator starts (workers' readers, the broadcast request)

	// bcastDone delivers the outcome of the broadcast request, which runs in its own
	// goroutine so that worker events keep flowing while the cluster fans it out.
	bcastDone     chan bcastOutcome
	bcastInFlight bool
	bcastCancel   context.CancelFunc // abandons the request when the run stops early

	before, peak []nodeState
	latest       []progress
	rssFirst     []int64 // each worker's RSS in its first progress, before its first connection
	ready        []bool
	results      []*workerResult
	finished     int        // workers that sent a result or died
	cpu          []cpuMeter // per worker
	timeline     []Sample
	errs         []error
	warnings     []string

	closing, interrupted bool
	stopReason           string // why the close phase started (see Report.StopReason); set once
	holdStart            time.Time
	holdOver             bool      // the hold time has passed
	broadcastWaitUntil   time.Time // after the hold, give up waiting for the broadcast then
	broadcastDue         bool      // waiting for the echo phase to end before broadcasting
	broadcast            *Broadcast
	memAvailablePeak     int64
	serverMemoryAt       string // when memAvailablePeak and peak were read (Report.ServerMemoryAt)
	lastShown            progress
	lastShownAt          time.Time
}

// send delivers a worker event unless the coordinator has stopped listening.
func (c *coordinator) send(ev workerEvent) {
	select {
	case c.events <- ev:
	case <-c.stop:
	}
}

// startWorkers starts the in-process worker or the worker processes; their goroutines
// join g.
func (c *coordinator) startWorkers(ctx context.Context, g *errgroup.Group) ([]workerHandle, error) {
	n := len(c.plan.workers)
	c.latest = make([]progress, n)
	c.rssFirst = make([]int64, n)
	c.ready = make([]bool, n)
	c.results = make([]*workerResult, n)
	c.cpu = make([]cpuMeter, n)
	for i, spec := range c.plan.workers {
		c.cpu[i].cores = float64(spec.Loops)
	}
	if c.plan.inProc {
		w, err := newWorker(c.plan.workers[0])
		if err != nil {
			return nil, err
		}
		g.Go(func() error {
			// The coordinator closes the worker itself (so that it can still collect the
			// result); ctx only must not cut the run short.
			res, err := w.run(context.WithoutCancel(ctx), c.send)
			if err != nil {
				c.send(workerEvent{Type: "error", Worker: 0, Err: err.Error()})
				return nil
			}
			c.send(workerEvent{Type: "result", Worker: 0, Result: &res})
			return nil
		})
		return []workerHandle{w}, nil
	}
	var handles []workerHandle
	for _, spec := range c.plan.workers {
		pw, err := startProcWorker(c.cfg.WorkerCommand, spec, c.send, g)
		if err != nil {
			return handles, fmt.Errorf("start worker %d: %w", spec.Index, err)
		}
		handles = append(handles, pw)
	}
	return handles, nil
}

// loop is the coordinator's event loop; it returns when every worker has finished.
func (c *coordinator) loop(ctx context.Context) {
	n := len(c.plan.workers)
	sample := time.NewTicker(c.cfg.SampleEvery)
	defer sample.Stop()
	var show <-chan time.Time
	if c.cfg.Progress != nil {
		t := time.NewTicker(c.cfg.ProgressEvery)
		defer t.Stop()
		show = t.C
	}
	var capC, holdC, killC <-chan time.Time
	if c.cfg.Duration > 0 {
		t := time.NewTimer(c.cfg.Duration)
		defer t.Stop()
		capC = t.C
	}
	holdTimer := time.NewTimer(time.Hour)
	holdTimer.Stop()
	defer holdTimer.Stop()
	killTimer := time.NewTimer(time.Hour)
	killTimer.Stop()
	defer killTimer.Stop()
	done := ctx.Done()
	startClose := func() {
		if c.closing {
			return
		}
		c.closing = true
		if c.holdStart.IsZero() {
			// No peak was reached (Ctrl-C or --duration during the ramp): read the
			// servers now, while they still hold what bench held, as the workers
			// measure their own memory at the stop.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopReadTimeout)
			c.readPeak(rctx, memoryAtStop)
			cancel()
		}
		if c.bcastCancel != nil {
			c.bcastCancel() // a run stopped early does not wait out the broadcast request
		}
		for _, h := range c.handles {
			h.close()
		}
		// Closing takes longer the more is held (and on a loaded machine): allow 1s per
		// 10,000 held connections on top of the close timeout before killing workers.
		killTimer.Reset(c.cfg.CloseTimeout + 15*time.Second + time.Duration(c.total().Held/10000)*time.Second)
		killC = killTimer.C
	}
	for c.finished < n {
		select {
		case out := <-c.bcastDone:
			c.broadcastAnswered(out)
		case ev := <-c.events:
			if c.onEvent(ctx, ev) {
				holdTimer.Reset(c.cfg.Hold)
				holdC = holdTimer.C
			}
		case <-sample.C:
			c.sample()
		case <-show:
			c.show(false)
		case <-holdC:
			c.holdOver = true
		case <-capC:
			if c.stopReason == "" {
				c.stopReason = "duration"
			}
		case <-done:
			done = nil
			if c.stopReason == "" {
				c.stopReason = "interrupted"
				c.interrupted = true
			}
		case <-killC:
			killC = nil
			for _, h := range c.handles {
				if pw, ok := h.(*procWorker); ok {
					pw.kill()
				}
			}
		}
		if c.advanceHold(ctx) && c.stopReason == "" {
			c.stopReason = "done"
		}
		if c.stopReason == "" && !c.holdStart.IsZero() && c.total().Held == 0 {
			// The servers dropped every connection during the hold: there is nothing
			// left to hold or measure, so the rest of --hold would be spent waiting.
			c.stopReason = "nothing_held"
		}
		if c.stopReason != "" {
			startClose()
		}
	}
	c.show(true)
}

// onEvent records a worker event. It reports whether every worker just became ready,
// which starts the hold.
func (c *coordinator) onEvent(ctx context.Context, ev workerEvent) bool {
	i := ev.Worker
	if i < 0 || i >= len(c.results) {
		c.errs = append(c.errs, fmt.Errorf("event from unknown worker %d", i))
		return false
	}
	switch ev.Type {
	case "progress", "ready":
		if ev.Progress == nil {
			return false
		}
		c.cpu[i].note(*ev.Progress, ev.Type == "ready")
		c.latest[i] = *ev.Progress
		if c.rssFirst[i] == 0 {
			c.rssFirst[i] = ev.Progress.RSSBytes
		}
		if ev.Type == "progress" || c.ready[i] {
			return false
		}
		c.ready[i] = true
		for _, r := range c.ready {
			if !r {
				return false
			}
		}
		if c.closing {
			return false
		}
		if c.total().Held == 0 {
			if c.stopReason == "" {
				c.stopReason = "nothing_held"
			}
			return false
		}
		c.startHold(ctx)
		return true
	case "result":
		if ev.Result != nil && c.results[i] == nil {
			if !c.closing {
				// Only the close phase ends a worker: this one was stopped on its own (a
				// signal to its process). Waiting for its ready or for the hold to end
				// could last forever; end the run and report.
				c.errs = append(c.errs, fmt.Errorf("worker %d: stopped before the run did", i))
				if c.stopReason == "" {
					c.stopReason = "worker_failed"
				}
			}
			c.results[i] = ev.Result
			c.finished++
			c.cpu[i].note(ev.Result.Final, true)
			c.latest[i] = ev.Result.Final // after its last close: the final progress line shows nothing held
		}
	case "error", "exit":
		c.errs = append(c.errs, fmt.Errorf("worker %d: %s", i, ev.Err))
		if c.stopReason == "" {
			c.stopReason = "worker_failed"
		}
		if c.results[i] == nil {
			c.results[i] = &workerResult{Index: i}
			c.finished++
		}
	}
	return false
}

// startHold runs when every worker is ready: it reads the servers at the peak and starts
// the echo phase and the broadcast.
func (c *coordinator) startHold(ctx context.Context) {
	c.holdStart = time.Now()
	c.readPeak(ctx, memoryAtPeak)
	for _, h := range c.handles {
		h.hold()
	}
	c.broadcastDue = c.cfg.Broadcast
	c.log.Info("all connections up: holding", "hold", c.cfg.Hold)
}

// stopReadTimeout bounds the servers' reading when a run stops before its peak: Ctrl-C
// must not wait for a server that does not answer.
const stopReadTimeout = 3 * time.Second

// readPeak reads the machine's MemAvailable and every server's state: at the peak (when
// every connection is up), or, for a run stopped before it, when the close begins.
func (c *coordinator) readPeak(ctx context.Context, at string) {
	c.memAvailablePeak = memAvailableBytes()
	c.serverMemoryAt = at
	if len(c.cfg.ServerURLs) == 0 {
		return
	}
	peak, err := c.api.snapshot(ctx, c.cfg.ServerURLs)
	if err != nil {
		c.warnings = append(c.warnings, "reading the servers at the "+at+": "+err.Error())
	}
	c.peak = peak
}

// broadcastWait is how long the close waits, after the hold, for a broadcast that has
// not reached every held connection yet.
const broadcastWait = 10 * time.Second

// advanceHold sends the broadcast once the echo phase is over (or half the hold has
// passed), and reports whether the hold is complete: its time is up, the echo phase is
// over (so that --echo measures even with --hold 0; each round trip is bounded by
// LoginTimeout), and the broadcast, if any, has reached every connection or stopped
// making its way within broadcastWait.
func (c *coordinator) advanceHold(ctx context.Context) bool {
	if c.holdStart.IsZero() || c.closing {
		return false
	}
	echoDone := c.allEchoDone()
	if c.broadcastDue && (c.holdOver || echoDone || time.Since(c.holdStart) > c.cfg.Hold/2) {
		c.sendBroadcast(ctx)
	}
	if !c.holdOver || !echoDone || c.bcastInFlight {
		return false // the broadcast request is bounded by pushTimeout
	}
	if c.broadcast == nil || c.broadcast.Accepted == 0 || int(c.total().Delivered) >= c.broadcast.Expected {
		return true
	}
	if c.broadcastWaitUntil.IsZero() {
		c.broadcastWaitUntil = time.Now().Add(broadcastWait)
	}
	return time.Now().After(c.broadcastWaitUntil)
}

func (c *coordinator) allEchoDone() bool {
	if c.cfg.EchoConns == 0 {
		return true
	}
	for _, p := range c.latest {
		if !p.EchoDone {
			return false
		}
	}
	return true
}

// bcastOutcome is what the broadcast request returned.
type bcastOutcome struct {
	accepted int
	warnings []string
}

// sendBroadcast asks the servers, from a goroutine of c.g, to push one message to the
// whole app: the first server when it is part of a cluster (the cluster fans out), else
// every --server, each node reaching its own connections. The message carries its send
// time, which every receiving connection subtracts from its arrival time. The outcome
// arrives on c.bcastDone.
func (c *coordinator) sendBroadcast(ctx context.Context) {
	c.broadcastDue = false
	var held int64
	for _, p := range c.latest {
		held += p.Held
	}
	c.broadcast = &Broadcast{Expected: int(held)}
	targets := c.cfg.ServerURLs
	if slices.ContainsFunc(c.before, func(n nodeState) bool { return n.Cluster }) {
		targets = targets[:1]
	}
	c.bcastInFlight = true
	c.bcastDone = make(chan bcastOutcome, 1)
	ctx, c.bcastCancel = context.WithCancel(ctx)
	msgID := broadcastMsgID(c.runID)
	c.g.Go(func() error {
		var out bcastOutcome
		for _, base := range targets {
			msg := broadcastText(time.Now().UnixNano())
			n, err := c.api.sendAll(ctx, base, c.cfg.AppID, msgID, msg)
			if ctx.Err() != nil {
				out.warnings = append(out.warnings, "broadcast through "+base+": abandoned, the run stopped before the server answered")
				break
			}
			if err != nil {
				out.warnings = append(out.warnings, "broadcast through "+base+": "+err.Error())
				continue
			}
			out.accepted += n
		}
		c.bcastDone <- out // buffered: never blocks
		return nil
	})
}

// broadcastAnswered records the outcome of the broadcast request.
func (c *coordinator) broadcastAnswered(out bcastOutcome) {
	c.bcastInFlight = false
	c.broadcast.Accepted += out.accepted
	c.warnings = append(c.warnings, out.warnings...)
}

// sample appends a point to the timeline.
func (c *coordinator) sample() {
	t := c.total()
	conns, rss, pss := c.watch.latest()
	c.timeline = append(c.timeline, Sample{
		TS: time.Since(c.start).Seconds(), Attempted: t.Attempted, Established: t.Established,
		Held: t.Held, Failed: t.Failed, ClientRSSBytes: t.RSSBytes,
		ServerConns: conns, ServerRSSBytes: rss, ServerPSSBytes: pss,
	})
}

// total sums the workers' latest progress.
func (c *coordinator) total() progress {
	var t progress
	for _, p := range c.latest {
		t.Attempted += p.Attempted
		t.Established += p.Established
		t.Held += p.Held
		t.Failed += p.Failed
		t.Delivered += p.Delivered
		t.RSSBytes += p.RSSBytes
		t.CPUSeconds += p.CPUSeconds
	}
	return t
}

// show writes the progress line: rewritten in place when live, else a plain line.
func (c *coordinator) show(final bool) {
	w := c.cfg.Progress
	if w == nil {
		return
	}
	now := time.Now()
	t := c.total()
	rate := 0.0
	if !c.lastShownAt.IsZero() {
		rate = float64(t.Established-c.lastShown.Established) / now.Sub(c.lastShownAt).Seconds()
	}
	c.lastShown, c.lastShownAt = t, now
	phase := "ramp"
	switch {
	case c.closing:
		phase = "close"
	case !c.holdStart.IsZero():
		phase = "hold"
	}
	line := fmt.Sprintf("%-5s %s/%s up  %s/s  held %s  failed %s  elapsed %.1fs",
		phase, num(int64(t.Established)), num(int64(c.cfg.Conns)), num(int64(rate)), num(t.Held), num(int64(t.Failed)),
		now.Sub(c.start).Seconds())
	if c.cfg.Broadcast && c.broadcast != nil {
		line += fmt.Sprintf("  broadcast %s/%s", num(int64(t.Delivered)), num(int64(c.broadcast.Expected)))
	}
	switch {
	case c.cfg.ProgressLive && final:
		_, _ = fmt.Fprintf(w, "\r\x1b[K%s\n", line) // progress is best effort
	case c.cfg.ProgressLive:
		_, _ = fmt.Fprintf(w, "\r\x1b[K%s", line)
	case !final:
		_, _ = fmt.Fprintln(w, line)
	}
}

// failureUnreported is the failure kind of the failures a worker counted but whose kinds
// it never reported (it died before sending its result), so that failed stays the sum of
// failures.
const failureUnreported = "unreported"

// report builds the Report from the workers' results.
func (c *coordinator) report() Report {
	rep := Report{
		Target: c.cfg.Conns, Failures: map[string]int{}, URLs: c.cfg.URLs, RunIDs: []string{c.runID},
		SourceIPs: len(c.plan.sources), Workers: len(c.plan.workers),
		Interrupted: c.interrupted, StopReason: c.stopReason, Timeline: c.timeline, Warnings: c.warnings,
		MemAvailablePeak: c.memAvailablePeak, ServerMemoryAt: c.serverMemoryAt,
	}
	var hs, login, echo, bc Histogram
	var first, last, cut int64
	var attempted uint64
	stoppedEarly := c.holdStart.IsZero() // no peak: every worker's figures are from before it
	for i, r := range c.results {
		if r == nil || (r.Established == 0 && r.Failed == 0 && c.latest[i].Attempted > 0) {
			c.addLastProgress(&rep, i)
			attempted += c.latest[i].Attempted
			continue
		}
		attempted += r.Attempted
		rep.Established += int(r.Established)
		rep.Failed += int(r.Failed)
		rep.Dropped += int(r.Dropped)
		for k, v := range r.Failures {
			rep.Failures[k] += int(v)
		}
		hs.Merge(r.Handshake.histogram())
		login.Merge(r.Login.histogram())
		echo.Merge(r.Echo.histogram())
		bc.Merge(r.Broadcast.histogram())
		rep.ClientRSSBeforeBytes += r.RSSBefore
		switch {
		case r.RSSReady > 0: // measured at the end of its ramp
			rep.ClientRSSBytes += r.RSSReady
			rep.ClientPrivateBytes += r.PrivateReady
			rep.ClientPrivateBefore += r.PrivateBefore
			rep.HeldAtPeak += r.HeldAtReady
		case r.RSSStop > 0: // stopped before its peak: measured at the stop
			rep.ClientRSSBytes += r.RSSStop
			rep.ClientPrivateBytes += r.PrivateStop
			rep.ClientPrivateBefore += r.PrivateBefore
			rep.HeldAtPeak += r.HeldAtStop
			stoppedEarly = true
		default:
			rep.ClientRSSBytes += c.latest[i].RSSBytes
		}
		rep.ClientRSSHWMBytes += r.RSSHWM
		rep.CPUSeconds += r.CPUSeconds
		rep.Heartbeats += r.Heartbeats
		rep.HeartbeatErrors += r.HeartbeatErrors
		rep.EchoTimeouts += r.EchoTimeouts
		if r.FirstAttemptNs != 0 && (first == 0 || r.FirstAttemptNs < first) {
			first = r.FirstAttemptNs
		}
		last = max(last, r.LastEstablishedNs)
		cut = max(cut, r.RampCutNs)
		if c.broadcast != nil {
			c.broadcast.Delivered += int(r.Delivered)
			c.broadcast.Duplicates += int(r.Duplicates)
		}
	}
	rep.RampS, rep.ConnectRate = rampFigures(rep.Established, first, last, cut)
	rep.Broadcast = c.broadcast
	rep.Histograms = histogramSet{toHistJSON(&hs), toHistJSON(&login), toHistJSON(&echo), toHistJSON(&bc)}
	rep.fillLatencies()
	rep.ClientBytesPerConn = perConn(rep.ClientPrivateBytes-rep.ClientPrivateBefore, rep.HeldAtPeak)
	switch {
	case rep.HeldAtPeak == 0:
	case stoppedEarly:
		rep.ClientMemoryAt = memoryAtStop
	default:
		rep.ClientMemoryAt = memoryAtPeak
	}
	if rep.Established > 0 {
		rep.CPUSecondsPerConn = rep.CPUSeconds / float64(rep.Established)
	}
	c.addWorkerCPU(&rep)
	if rep.StopReason == "duration" && rep.Established < rep.Target {
		// Only failures decide the exit status: say it where a script reading the JSON looks.
		rep.Warnings = append(rep.Warnings, durationWarning(rep, int64(attempted)))
	}
	rep.Servers = matchServers(c.before, c.peak)
	rep.fillServers()
	for _, s := range rep.Servers {
		if s.ConnsPeak > s.ConnsBefore && s.RSSPeak < s.RSSBefore {
			// A node that served a run before reuses the memory it kept: its growth, and
			// so its bytes per connection, is negative and means nothing.
			rep.Warnings = append(rep.Warnings, fmt.Sprintf(
				"server %s %s: RSS fell from %s to %s while its connections grew by %s (it reused memory kept from an earlier run): its bytes per connection say nothing; measure on a freshly started node",
				s.NodeID, s.URL, bytesStr(s.RSSBefore), bytesStr(s.RSSPeak), num(s.ConnsPeak-s.ConnsBefore)))
		}
	}
	rep.DurationS = time.Since(c.start).Seconds()
	return rep
}

// durationWarning says that --duration ended a run before --conns were established, and
// what became of the rest: failed, cut off while connecting, or never tried.
func durationWarning(rep Report, attempted int64) string {
	target, established := int64(rep.Target), int64(rep.Established)
	failedBefore := int64(rep.Failed - rep.Dropped) // failures of connections never established
	var rest []string
	if failedBefore > 0 {
		rest = append(rest, num(failedBefore)+" failed")
	}
	if cut := attempted - established - failedBefore; cut > 0 {
		rest = append(rest, num(cut)+" cut off while connecting")
	}
	if never := target - max(attempted, established+failedBefore); never > 0 {
		rest = append(rest, num(never)+" never tried")
	}
	return fmt.Sprintf("--duration stopped the run with %s of the %s connections asked for established (of the rest: %s); the exit status counts failures only",
		num(established), num(target), strings.Join(rest, ", "))
}

// addLastProgress adds worker i, which never reported its result (it failed or was
// killed), to rep from its last progress, so that the report does not lose its
// connections.
func (c *coordinator) addLastProgress(rep *Report, i int) {
	p := c.latest[i]
	rep.Established += int(p.Established)
	rep.Failed += int(p.Failed)
	if p.Failed > 0 { // their kinds were in the result it never sent
		rep.Failures[failureUnreported] += int(p.Failed)
	}
	rep.ClientRSSBytes += p.RSSBytes
	rep.ClientRSSBeforeBytes += c.rssFirst[i] // so that before and after cover the same workers
	rep.CPUSeconds += p.CPUSeconds
	if c.broadcast != nil {
		c.broadcast.Delivered += int(p.Delivered)
	}
	if p.Attempted > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"worker %d sent no result; its counts are from its last progress (%d established, %d failed) and its latencies are missing",
			i, p.Established, p.Failed))
	}
}

// addWorkerCPU sets rep.MaxWorkerCPU from the busiest worker, and warns when that worker
// was busy enough to have limited the connect rate. rep.ConnectRate must be set.
func (c *coordinator) addWorkerCPU(rep *Report) {
	busiest := 0
	for i := range c.cpu {
		if c.cpu[i].max > c.cpu[busiest].max {
			busiest = i
		}
	}
	rep.MaxWorkerCPU = c.cpu[busiest].max
	// Only a measured connect rate can have been limited: a handful of connections
	// opened in a few milliseconds puts a worker's start-up in a window of its own.
	if rep.MaxWorkerCPU >= maxWorkerCPU && rep.ConnectRate > 0 {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"worker %d used %.0f%% of its %d core(s) in one window of its run: bench itself may have limited the rate; use more --workers or cores",
			busiest, rep.MaxWorkerCPU*100, c.plan.workers[busiest].Loops))
	}
}

// maxWorkerCPU is the share of its cores a worker may use in one window before the
// report warns that bench itself may have limited the connect rate.
const maxWorkerCPU = 0.9

// matchServers pairs each node's state before the run with its state at the peak.
func matchServers(before, peak []nodeState) []ServerReport {
	prev := map[string]nodeState{}
	for _, n := range before {
		prev[n.key()] = n
	}
	var out []ServerReport
	for _, n := range peak {
		b := prev[n.key()]
		out = append(out, ServerReport{
			URL: n.HTTPAddr, NodeID: n.NodeID,
			RSSBefore: b.RSSBytes, RSSPeak: n.RSSBytes, PSSPeak: n.PSSBytes,
			ConnsBefore: b.Connections, ConnsPeak: n.Connections, UsersPeak: n.Users,
		})
	}
	return out
}
