//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gows-dev/gows/internal/netpoll"
	"github.com/gows-dev/gows/internal/procmem"
)

// Worker phases, advanced by the coordinator.
const (
	phaseRamp  int32 = iota // dialling and logging in
	phaseHold               // every worker is ready: echo round trips, broadcast
	phaseClose              // close every connection and report
)

// progress is a worker's running totals.
type progress struct {
	Attempted   uint64  `json:"attempted"`
	Established uint64  `json:"established"`
	Held        int64   `json:"held"`
	Failed      uint64  `json:"failed"`
	Delivered   uint64  `json:"delivered"`
	EchoDone    bool    `json:"echo_done"`
	RSSBytes    int64   `json:"rss_bytes"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	UnixNs      int64   `json:"unix_ns"`
}

// workerResult is what a worker measured over the whole run.
type workerResult struct {
	Index             int               `json:"index"`
	Attempted         uint64            `json:"attempted"`
	Established       uint64            `json:"established"`
	Failed            uint64            `json:"failed"`
	Failures          map[string]uint64 `json:"failures"`
	Handshake         histJSON          `json:"handshake"`
	Login             histJSON          `json:"login"`
	Echo              histJSON          `json:"echo"`
	Broadcast         histJSON          `json:"broadcast"`
	Delivered         uint64            `json:"delivered"`
	Duplicates        uint64            `json:"duplicates"`
	Dropped           uint64            `json:"dropped"`
	Heartbeats        uint64            `json:"heartbeats"`
	HeartbeatErrors   uint64            `json:"heartbeat_errors"`
	EchoTimeouts      uint64            `json:"echo_timeouts"`
	HeldAtReady       int64             `json:"held_at_ready"`
	RSSBefore         int64             `json:"rss_before"`
	RSSReady          int64             `json:"rss_ready"`
	PrivateBefore     int64             `json:"private_before"` // RssAnon
	PrivateReady      int64             `json:"private_ready"`
	HeldAtStop        int64             `json:"held_at_stop"` // when the close cut the ramp short: held then (there is no peak)
	RSSStop           int64             `json:"rss_stop"`     // and the memory then
	PrivateStop       int64             `json:"private_stop"`
	RSSHWM            int64             `json:"rss_hwm"`
	CPUSeconds        float64           `json:"cpu_seconds"`
	Final             progress          `json:"final"` // the worker's last report, after its last connection closed
	FirstAttemptNs    int64             `json:"first_attempt_ns"`
	LastEstablishedNs int64             `json:"last_established_ns"`
	RampCutNs         int64             `json:"ramp_cut_ns"` // the close phase stopped the ramp then; 0: it finished
}

// reportsPerSample is how many progress reports a worker sends per Config.SampleEvery:
// the coordinator's timeline samples and progress line show the workers' state at most
// a quarter of an interval old (with one report per interval they lagged by up to one).
const reportsPerSample = 4

// workerEvent is one line a worker sends to the coordinator.
type workerEvent struct {
	Type     string        `json:"type"` // progress, ready, result, error
	Worker   int           `json:"worker"`
	Progress *progress     `json:"progress,omitempty"`
	Result   *workerResult `json:"result,omitempty"`
	Err      string        `json:"error,omitempty"`
}

// workerCommand is one line the coordinator sends to a worker process.
type workerCommand struct {
	Cmd string `json:"cmd"` // hold or close
}

// worker holds a share of the connections in one process, on a few epoll loops.
type worker struct {
	spec        workerSpec
	base        time.Time // origin of the loop clock
	seed        [16]byte  // Sec-WebSocket-Key material
	seed1       uint64
	broadcastID string
	// bcastHead is how the server's push of the broadcast starts (Go's encoder writes
	// the envelope's fields in order): the loops recognise it without decoding JSON.
	bcastHead  []byte
	echoStride uint32
	loops      []*loop

	phase                          atomic.Int32
	attempted, established, failed atomic.Uint64
	delivered                      atomic.Uint64
	held                           atomic.Int64
	loopsRamped, echoLoopsDone     atomic.Int32
	rampDone                       chan struct{} // closed by the loop that finishes the ramp last
	echoDone                       chan struct{} // closed by the loop that finishes the echo phase last

	// memOnce measures, once, the memory of what the worker holds: at its peak when its
	// ramp ended before the close began, else when the close began (before the loops
	// start closing). Its function writes memAtPeak, memHeld, memRSS and memPrv, which
	// are read only after memOnce.Do has returned.
	memOnce        sync.Once
	memAtPeak      bool
	memHeld        int64
	memRSS, memPrv int64
}

// newWorker prepares the loops' pollers. run releases them.
func newWorker(spec workerSpec) (*worker, error) {
	w := &worker{spec: spec, base: time.Now(), rampDone: make(chan struct{}), echoDone: make(chan struct{}),
		broadcastID: broadcastMsgID(spec.RunID)}
	w.bcastHead = []byte(`{"seq":"` + w.broadcastID + `","cmd":"msg","response":{"code":200,`)
	if spec.Loops < 1 || len(spec.Targets) == 0 {
		return nil, errors.New("worker spec needs loops and targets")
	}
	_, _ = rand.Read(w.seed[:]) // crypto/rand.Read never fails on Linux
	w.seed1 = binary.LittleEndian.Uint64(w.seed[:8])
	if spec.Echo > 0 {
		w.echoStride = uint32(max(spec.Conns/spec.Echo, 1))
	}
	limit, err := netpoll.FileLimit()
	if err != nil {
		return nil, err
	}
	table := int(min(limit, uint64(spec.Conns)*2+fdReserve+1024))
	w.loops = make([]*loop, spec.Loops)
	for i := range w.loops {
		p, err := netpoll.New()
		if err != nil {
			w.closePollers()
			return nil, err
		}
		w.loops[i] = newLoop(w, i, p, table)
	}
	return w, nil
}

func (w *worker) closePollers() {
	for _, l := range w.loops {
		if l != nil {
			_ = l.poll.Close() // every descriptor it watched is closed already
		}
	}
}

// now returns the loop clock: monotonic nanoseconds since the worker started.
func (w *worker) now() int64 { return int64(time.Since(w.base)) }

// key returns connection id's Sec-WebSocket-Key, derived from the worker's random seed so
// that it need not be stored per connection.
func (w *worker) key(id uint32) [24]byte {
	raw := w.seed
	x := binary.LittleEndian.Uint64(raw[8:]) ^ (uint64(id)+1)*0x9E3779B97F4A7C15
	binary.LittleEndian.PutUint64(raw[8:], x)
	var k [24]byte
	base64.StdEncoding.Encode(k[:], raw[:])
	return k
}

// userID returns the user id connection id logs in as.
func (w *worker) userID(id uint32) string {
	return w.spec.Cfg.UserPrefix + strconv.FormatUint(w.spec.FirstID+uint64(id), 10)
}

// sampled reports whether connection id measures echo round trips.
func (w *worker) sampled(id uint32) bool {
	return w.echoStride > 0 && id%w.echoStride == 0 && int(id/w.echoStride) < w.spec.Echo
}

func (w *worker) loopRampDone() {
	if int(w.loopsRamped.Add(1)) == len(w.loops) {
		close(w.rampDone)
	}
}

func (w *worker) loopEchoDone() {
	if int(w.echoLoopsDone.Add(1)) == len(w.loops) {
		close(w.echoDone)
	}
}

// setPhase moves the worker forward (never back) and wakes the loops. It is safe for
// concurrent use.
func (w *worker) setPhase(p int32) {
	for {
		cur := w.phase.Load()
		if cur >= p || w.phase.CompareAndSwap(cur, p) {
			break
		}
	}
	for _, l := range w.loops {
		_ = l.poll.Wake() // eventfd write; fails only if the poller is gone, and then the loop is too
	}
}

func (w *worker) hold() { w.setPhase(phaseHold) }

// close starts the close phase. It first measures the memory of what is held, unless
// that was measured at the peak already: a close that cuts the ramp short ends the ramp
// itself (no more dials, and with a graceful close nothing left held), and that end must
// not be taken for the peak.
func (w *worker) close() {
	w.measureHeld()
	w.setPhase(phaseClose)
}

// measureHeld measures, the first time it is called, the memory of what the worker holds
// and whether that is its peak (the ramp is over).
func (w *worker) measureHeld() {
	w.memOnce.Do(func() {
		select {
		case <-w.rampDone:
			w.memAtPeak = true
		default:
		}
		w.memHeld = w.held.Load()
		w.memRSS, w.memPrv = heldMemory()
	})
}

func (w *worker) progress() progress {
	return progress{
		Attempted: w.attempted.Load(), Established: w.established.Load(), Held: w.held.Load(),
		Failed: w.failed.Load(), Delivered: w.delivered.Load(),
		EchoDone: w.echoLoopsDone.Load() == int32(len(w.loops)),
		RSSBytes: procmem.RSS(), CPUSeconds: cpuSeconds(), UnixNs: time.Now().UnixNano(),
	}
}

// run holds the worker's connections until the close phase (or ctx is done, which starts
// it), reporting progress through emit, and returns the worker's result. emit is called
// from one goroutine at a time.
func (w *worker) run(ctx context.Context, emit func(workerEvent)) (workerResult, error) {
	defer w.closePollers()
	res := workerResult{Index: w.spec.Index}
	res.RSSBefore, res.PrivateBefore = heldMemory()
	// The first report, before the first connection: the coordinator measures the
	// worker's CPU use from here, and its progress display starts at once.
	start := w.progress()
	emit(workerEvent{Type: "progress", Worker: w.spec.Index, Progress: &start})
	loopsDone := make(chan struct{})
	var g errgroup.Group
	g.Go(func() error {
		var lg errgroup.Group
		for _, l := range w.loops {
			lg.Go(l.run)
		}
		err := lg.Wait()
		close(loopsDone)
		return err
	})
	g.Go(func() error {
		t := time.NewTicker(max(w.spec.Cfg.SampleEvery/reportsPerSample, time.Millisecond))
		defer t.Stop()
		done, ramp, echo := ctx.Done(), w.rampDone, w.echoDone
		for {
			select {
			case <-loopsDone:
				return nil
			case <-done:
				done = nil
				w.close()
			case <-ramp:
				ramp = nil
				w.measureHeld() // the peak, unless the close came first
				p := w.progress()
				p.RSSBytes = w.memRSS
				emit(workerEvent{Type: "ready", Worker: w.spec.Index, Progress: &p})
			case <-echo: // at once: the hold waits for every worker's echo phase
				echo = nil
				p := w.progress()
				emit(workerEvent{Type: "progress", Worker: w.spec.Index, Progress: &p})
			case <-t.C:
				p := w.progress()
				emit(workerEvent{Type: "progress", Worker: w.spec.Index, Progress: &p})
			}
		}
	})
	if err := g.Wait(); err != nil {
		return res, err
	}
	w.memOnce.Do(func() {}) // waits for a measurement close may be taking
	if w.memAtPeak {
		res.HeldAtReady, res.RSSReady, res.PrivateReady = w.memHeld, w.memRSS, w.memPrv
	} else {
		res.HeldAtStop, res.RSSStop, res.PrivateStop = w.memHeld, w.memRSS, w.memPrv
	}
	res.Final = w.progress()
	res.CPUSeconds = res.Final.CPUSeconds - start.CPUSeconds
	res.RSSHWM = rssHWMBytes()
	res.Attempted, res.Established, res.Failed = w.attempted.Load(), w.established.Load(), w.failed.Load()
	res.Delivered = w.delivered.Load()
	res.Failures = map[string]uint64{}
	var hs, login, echo, bc Histogram
	for _, l := range w.loops {
		r := &l.res
		hs.Merge(&r.handshake)
		login.Merge(&r.login)
		echo.Merge(&r.echo)
		bc.Merge(&r.broadcast)
		for k, v := range r.failures {
			res.Failures[k] += v
		}
		res.Duplicates += r.duplicates
		res.Dropped += r.dropped
		res.Heartbeats += r.heartbeats
		res.HeartbeatErrors += r.heartbeatErrors
		res.EchoTimeouts += r.echoTimeouts
		if r.firstAttemptNs != 0 && (res.FirstAttemptNs == 0 || r.firstAttemptNs < res.FirstAttemptNs) {
			res.FirstAttemptNs = r.firstAttemptNs
		}
		res.LastEstablishedNs = max(res.LastEstablishedNs, r.lastEstablishedNs)
		res.RampCutNs = max(res.RampCutNs, r.rampCutNs)
	}
	res.Handshake, res.Login, res.Echo, res.Broadcast = toHistJSON(&hs), toHistJSON(&login), toHistJSON(&echo), toHistJSON(&bc)
	return res, nil
}

// RunWorker is the body of a worker process (`gows bench worker`): it reads its task as
// the first JSON line of r, then commands ({"cmd":"hold"}, {"cmd":"close"}), and writes
// progress and its result as JSON lines to out. The end of r, or ctx being done, closes
// every connection. It returns after the result is written and r has ended, so the
// coordinator decides when the process exits.
func RunWorker(ctx context.Context, r io.Reader, out io.Writer) error {
	in := bufio.NewReader(r)
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("read worker task: %w", err)
	}
	var spec workerSpec
	if err := json.Unmarshal(line, &spec); err != nil {
		return fmt.Errorf("decode worker task: %w", err)
	}
	enc := &lineWriter{w: out}
	w, err := newWorker(spec)
	if err != nil {
		enc.write(workerEvent{Type: "error", Worker: spec.Index, Err: err.Error()})
		return err
	}
	var g errgroup.Group
	stdinDone := make(chan struct{})
	g.Go(func() error {
		defer close(stdinDone)
		defer w.close() // the coordinator is gone or done with us
		dec := json.NewDecoder(in)
		for {
			var c workerCommand
			if err := dec.Decode(&c); err != nil {
				return nil // EOF or a broken pipe: either way, stop
			}
			switch c.Cmd {
			case "hold":
				w.hold()
			case "close":
				w.close()
			}
		}
	})
	res, runErr := w.run(ctx, enc.write)
	if runErr != nil {
		enc.write(workerEvent{Type: "error", Worker: spec.Index, Err: runErr.Error()})
	} else {
		enc.write(workerEvent{Type: "result", Worker: spec.Index, Result: &res})
	}
	<-stdinDone
	if err := g.Wait(); err != nil {
		return err
	}
	if enc.err != nil {
		return fmt.Errorf("write worker events: %w", enc.err)
	}
	return runErr
}

// lineWriter writes JSON lines; it is safe for concurrent use and remembers the first error.
type lineWriter struct {
	mu  sync.Mutex // guards w and err
	w   io.Writer
	err error
}

func (lw *lineWriter) write(v workerEvent) {
	b, err := json.Marshal(v)
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if err == nil && lw.err == nil {
		_, err = lw.w.Write(append(b, '\n'))
	}
	if lw.err == nil {
		lw.err = err
	}
}

// broadcastMsgID is the msgId of a run's broadcast.
func broadcastMsgID(runID string) string { return "bench-" + runID }

// broadcastText is the broadcast's message: it carries its send time (unix ns, taken by
// the process that asks the server to send it; all bench processes share the clock).
func broadcastText(sentNs int64) string { return bcastMsgPrefix + strconv.FormatInt(sentNs, 10) }

const bcastMsgPrefix = "gows bench broadcast "

// broadcastSent finds the send time in a pushed broadcast, or reports false when the
// payload is not laid out as gows sends it (the caller then decodes it properly).
func broadcastSent(payload []byte) (int64, bool) {
	const key = `"msg":"`
	i := bytes.Index(payload, []byte(key+bcastMsgPrefix))
	if i < 0 {
		return 0, false
	}
	rest := payload[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0, false
	}
	return broadcastTextSent(string(rest[:end]))
}

// broadcastTextSent reads the send time from a broadcast's message text.
func broadcastTextSent(msg string) (int64, bool) {
	ns, ok := strings.CutPrefix(msg, bcastMsgPrefix)
	if !ok {
		return 0, false
	}
	sent, err := strconv.ParseInt(ns, 10, 64)
	return sent, err == nil
}
