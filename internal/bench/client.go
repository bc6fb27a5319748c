//go:build linux

package bench

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/netpoll"
	"github.com/gows-dev/gows/internal/pace"
	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/auth"
	"github.com/gows-dev/gows/internal/wsframe"
)

// connState is where one connection is in its life.
type connState uint8

const (
	csFree       connState = iota // no connection on this descriptor
	csConnecting                  // connect(2) in progress
	csHandshake                   // upgrade request sent, waiting for 101
	csLogin                       // login sent, waiting for the answer
	csHeld                        // established (and logged in): counted, heartbeating
	csClosing                     // graceful close: our close frame sent, waiting for the server's
)

// slot flags.
const (
	flagBroadcast uint8 = 1 << iota // the broadcast arrived on this connection
	flagPending                     // unsent bytes wait in loop.pending
	flagSampled                     // this connection measures echo round trips
)

// slot is the whole per-connection state: 16 bytes, in a table indexed by descriptor.
// Everything else a connection may need (unparsed input, unsent output) is rare and
// lives in small per-loop maps only while it exists.
type slot struct {
	start int64  // loop clock (ns) when the current step began: connect, login, echo, close
	id    uint32 // connection number within the worker
	state connState
	dst   uint8 // target index
	echo  uint8 // echo round trips still to do
	flags uint8
}

// Limits for what a server may send.
const (
	maxHeadBytes    = 16 << 10 // upgrade response head
	maxFrameBytes   = 1 << 20  // one frame; bench does not reassemble fragments
	readBufBytes    = 64 << 10 // each loop's read buffer
	sweepNs         = int64(100 * time.Millisecond)
	maxDialsPerTurn = 256 // new connections per loop turn, so replies are served in between
)

// loop is one epoll loop and the connections it opened. All its fields are owned by its
// goroutine; the worker reads the results only after run returns.
type loop struct {
	w     *worker
	index int
	poll  *netpoll.Poller
	// The loop's own socket addresses: a unix.Sockaddr keeps a raw buffer that every
	// call writes, so loops cannot share them.
	dsts []unix.Sockaddr
	srcs []unix.Sockaddr

	slots   []slot           // indexed by descriptor
	hiFd    int              // one past the highest descriptor used (sweep bound)
	partial map[int32][]byte // unparsed inbound bytes of connections with a partial frame
	pending map[int32][]byte // unsent outbound bytes of connections whose socket was full
	buf     []byte
	scratch []byte
	rng     *rand.Rand // mask keys

	bucket   *pace.Bucket
	nextID   uint32 // next connection number to dial
	endID    uint32 // this loop dials nextID, nextID+stride, ... below endID
	stride   uint32
	live     int // descriptors in use
	inflight int // connections between connect and established
	tick     uint64

	rampDone, echoStarted, echoDone, closing bool
	echoPending                              int

	res loopResult
}

// loopResult is what a loop measured; the worker merges them after the loops end.
type loopResult struct {
	handshake, login, echo, broadcast Histogram
	failures                          map[string]uint64
	duplicates, heartbeats, dropped   uint64
	heartbeatErrors, echoTimeouts     uint64
	firstAttemptNs, lastEstablishedNs int64 // unix ns
	rampCutNs                         int64 // unix ns: when the close phase stopped an unfinished ramp
}

func newLoop(w *worker, index int, p *netpoll.Poller, tableSize int) *loop {
	loops := uint32(len(w.loops))
	var dsts, srcs []unix.Sockaddr
	for _, t := range w.spec.Targets {
		dsts = append(dsts, netpoll.AddrPortToSockaddr(t.Addr))
	}
	for _, s := range w.spec.Sources {
		srcs = append(srcs, netpoll.AddrPortToSockaddr(netip.AddrPortFrom(s, 0)))
	}
	// Loop index of worker Index is stream index*workers+Index of the run's loops, so
	// that consecutive turns of the pacing go to different workers.
	workers := max(w.spec.Workers, 1)
	pacer := newPacer(w.spec.Rate/float64(loops), index*workers+w.spec.Index, int(loops)*workers, w.now())
	return &loop{
		dsts: dsts, srcs: srcs,
		w: w, index: index, poll: p,
		slots:   make([]slot, tableSize),
		partial: map[int32][]byte{},
		pending: map[int32][]byte{},
		buf:     make([]byte, readBufBytes),
		rng:     rand.New(rand.NewPCG(w.seed1, uint64(index))),
		bucket:  pacer,
		nextID:  uint32(index),
		endID:   uint32(w.spec.Conns),
		stride:  loops,
		res:     loopResult{failures: map[string]uint64{}},
	}
}

// run dials this loop's share of the connections, serves them, and closes them when
// the worker enters the close phase. It returns when no descriptor is left open.
func (l *loop) run() error {
	events := make([]unix.EpollEvent, 512)
	nextSweep := l.w.now() + sweepNs
	for {
		now := l.w.now()
		phase := l.w.phase.Load()
		if phase >= phaseClose && !l.closing {
			l.startClose(now)
		}
		if l.closing && l.live == 0 {
			return nil
		}
		if !l.closing {
			if phase >= phaseHold && !l.echoStarted {
				l.startEcho(now)
			}
			l.dialMore(now)
		}
		l.checkRampDone()
		timeout := nextSweep - now
		if !l.closing && l.nextID < l.endID {
			timeout = min(timeout, l.bucket.Wait(now))
		}
		n, _, err := l.poll.Wait(events, int(max(0, (timeout+999_999)/1_000_000)))
		if err != nil {
			l.abort()
			return err
		}
		for i := range n {
			l.event(events[i].Fd, events[i].Events)
		}
		if now = l.w.now(); now >= nextSweep {
			l.sweep(now)
			nextSweep = now + sweepNs
		}
	}
}

func (l *loop) checkRampDone() {
	if !l.rampDone && l.nextID >= l.endID && l.inflight == 0 {
		l.rampDone = true
		l.w.loopRampDone()
	}
}

// dialMore opens as many connections as the token bucket allows this turn.
func (l *loop) dialMore(now int64) {
	if l.nextID >= l.endID {
		return
	}
	left := int((l.endID - l.nextID + l.stride - 1) / l.stride)
	n := l.bucket.Take(min(left, maxDialsPerTurn), now)
	for range n {
		id := l.nextID
		l.nextID += l.stride
		l.dial(id, now)
	}
}

// dial opens connection id: socket, bind to its source address, non-blocking connect.
func (l *loop) dial(id uint32, now int64) {
	w := l.w
	if l.res.firstAttemptNs == 0 {
		l.res.firstAttemptNs = time.Now().UnixNano()
	}
	w.attempted.Add(1)
	dst := int(id) % len(l.dsts)
	to := l.dsts[dst]
	family := unix.AF_INET
	if _, ok := to.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.countFailure(errKind(err))
		return
	}
	if err := l.prepare(fd, id); err != nil {
		_ = unix.Close(fd) // never connected; nothing to report beyond err
		l.countFailure(errKind(err))
		return
	}
	if fd >= len(l.slots) {
		l.slots = append(l.slots, make([]slot, fd+1-len(l.slots))...)
	}
	l.hiFd = max(l.hiFd, fd+1)
	s := &l.slots[fd]
	*s = slot{start: now, id: id, state: csConnecting, dst: uint8(dst)}
	if w.sampled(id) {
		s.flags |= flagSampled
	}
	l.live++
	l.inflight++
	err = unix.Connect(fd, to)
	switch {
	case err == nil:
		l.connected(int32(fd), s)
	case errors.Is(err, unix.EINPROGRESS):
	default:
		l.fail(int32(fd), s, errKind(err))
		return
	}
	if s.state != csFree {
		if err := l.poll.Add(fd, netpoll.InOut|unix.EPOLLET); err != nil {
			l.fail(int32(fd), s, "epoll")
		}
	}
}

// prepare sets the socket options and binds the source address.
func (l *loop) prepare(fd int, id uint32) error {
	w := l.w
	if len(l.srcs) > 0 {
		// IP_BIND_ADDRESS_NO_PORT defers the port choice to connect, so one source port
		// can serve several targets and the 4-tuple, not the port, must be unique.
		if err := unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1); err != nil {
			return err
		}
		src := l.srcs[(int(id)/len(l.dsts))%len(l.srcs)]
		if err := unix.Bind(fd, src); err != nil {
			return err
		}
	}
	if w.spec.Cfg.Close == CloseRST {
		if err := netpoll.SetLinger0(fd); err != nil {
			return err
		}
	}
	return netpoll.SetNoDelay(fd)
}

// event handles one readiness event.
func (l *loop) event(fd int32, ev uint32) {
	if int(fd) >= len(l.slots) {
		return
	}
	s := &l.slots[fd]
	if s.state == csFree {
		return // a stale event for a descriptor closed earlier in this turn
	}
	if s.state == csConnecting {
		if ev&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == 0 {
			return
		}
		soerr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			l.fail(fd, s, errKind(err))
			return
		case soerr != 0:
			l.fail(fd, s, errKind(unix.Errno(soerr)))
			return
		}
		if !l.connected(fd, s) {
			return
		}
	} else if ev&unix.EPOLLOUT != 0 && s.flags&flagPending != 0 {
		if !l.flush(fd, s) {
			return
		}
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		l.readAll(fd, s, ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0)
	}
}

// connected sends the upgrade request. It reports whether the connection is still open.
func (l *loop) connected(fd int32, s *slot) bool {
	t := &l.w.spec.Targets[s.dst]
	key := l.w.key(s.id)
	l.scratch = wsframe.AppendClientRequest(l.scratch[:0], t.Host, t.Path, string(key[:]), l.w.spec.Cfg.Origin)
	s.state = csHandshake
	return l.write(fd, s, l.scratch)
}

// readAll reads until the socket is drained, as edge-triggered epoll requires. A read
// that does not fill the buffer took everything queued: data arriving later raises a new
// edge, so there is no need to pay a second read for EAGAIN (most messages here are one
// small frame). Only when the event also reported the peer's FIN or an error does it read
// on, to see the end of the stream: that edge has been consumed.
func (l *loop) readAll(fd int32, s *slot, hup bool) {
	for {
		n, err := unix.Read(int(fd), l.buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			l.fail(fd, s, errKind(err))
			return
		case n == 0:
			if s.state == csClosing {
				l.release(fd, s)
			} else {
				l.fail(fd, s, "eof")
			}
			return
		}
		if !l.consume(fd, s, l.buf[:n]) || (n < len(l.buf) && !hup) {
			return
		}
	}
}

// consume processes inbound bytes: the upgrade response, then frames. It reports
// whether the connection is still open.
func (l *loop) consume(fd int32, s *slot, data []byte) bool {
	if p, ok := l.partial[fd]; ok {
		delete(l.partial, fd)
		data = append(p, data...)
	}
	off := 0
	if s.state == csHandshake {
		end := wsframe.HeaderEnd(data)
		if end == 0 {
			if len(data) > maxHeadBytes {
				l.fail(fd, s, "bad_handshake")
				return false
			}
			l.partial[fd] = bytes.Clone(data)
			return true
		}
		if !l.upgraded(fd, s, data[:end]) {
			return false
		}
		off = end
	}
	for off < len(data) {
		h, hn, err := wsframe.ParseHeader(data[off:])
		if err == nil && hn > 0 {
			err = h.Check()
			if err == nil && h.Length > maxFrameBytes {
				err = errors.New("frame too big")
			}
		}
		if err != nil {
			l.fail(fd, s, "protocol")
			return false
		}
		if hn == 0 || int64(len(data)-off-hn) < h.Length {
			break
		}
		payload := data[off+hn : off+hn+int(h.Length)]
		off += hn + int(h.Length)
		if h.Masked { // servers must not mask, but unmasking costs nothing
			wsframe.MaskBytes(payload, h.Mask, 0)
		}
		if !l.frame(fd, s, h, payload) {
			return false
		}
	}
	if off < len(data) {
		l.partial[fd] = bytes.Clone(data[off:])
	}
	return true
}

// upgraded checks the upgrade response and starts the login. It reports whether the
// connection is still open.
func (l *loop) upgraded(fd int32, s *slot, head []byte) bool {
	key := l.w.key(s.id)
	status, err := wsframe.CheckResponse(head, string(key[:]))
	if err != nil {
		kind := "bad_handshake"
		if status != 0 && status != 101 {
			kind = "handshake_" + strconv.Itoa(status)
		}
		l.fail(fd, s, kind)
		return false
	}
	now := l.w.now()
	l.res.handshake.Record(time.Duration(now - s.start))
	if !l.w.spec.Cfg.Login {
		l.established(s)
		return true
	}
	s.state = csLogin
	s.start = now
	d := protocol.LoginData{AppID: l.w.spec.Cfg.AppID, UserID: l.w.userID(s.id)}
	if secret := l.w.spec.Cfg.AuthSecret; secret != "" {
		tok, err := auth.MintHMAC([]byte(secret), auth.MintOptions{UserID: d.UserID, AppID: d.AppID, TTL: tokenTTL})
		if err != nil {
			l.fail(fd, s, "token") // cannot happen for a valid config
			return false
		}
		d.ServiceToken = tok
	}
	return l.request(fd, s, protocol.CmdLogin, d)
}

func (l *loop) established(s *slot) {
	s.state = csHeld
	l.inflight--
	l.w.established.Add(1)
	l.w.held.Add(1)
	l.res.lastEstablishedNs = time.Now().UnixNano()
}

// frame handles one complete frame. It reports whether the connection is still open.
func (l *loop) frame(fd int32, s *slot, h wsframe.Header, payload []byte) bool {
	switch h.Op {
	case wsframe.OpText, wsframe.OpBinary:
		if !h.Fin {
			l.fail(fd, s, "protocol") // gows never fragments; bench does not reassemble
			return false
		}
		return l.message(fd, s, payload)
	case wsframe.OpPing:
		return l.sendFrame(fd, s, wsframe.OpPong, payload)
	case wsframe.OpClose:
		if s.state == csClosing {
			l.release(fd, s) // the server answered our close
			return false
		}
		code, _, err := wsframe.ParseClose(payload)
		kind := "server_close_" + strconv.Itoa(int(code))
		if err != nil {
			kind = "protocol"
		}
		// Answer the close before dropping the socket; best effort, it is going anyway.
		var mask [4]byte
		l.scratch = wsframe.AppendFrame(l.scratch[:0], true, wsframe.OpClose, payload[:min(len(payload), 2)], &mask)
		_, _ = unix.Write(int(fd), l.scratch) // the server is closing; a lost answer changes nothing
		l.fail(fd, s, kind)
		return false
	case wsframe.OpContinuation:
		l.fail(fd, s, "protocol")
		return false
	}
	return true // pong
}

// message handles a text message from the server: an answer or a push.
func (l *loop) message(fd int32, s *slot, payload []byte) bool {
	// The broadcast reaches every connection at once: recognise it without decoding.
	if bytes.HasPrefix(payload, l.w.bcastHead) {
		if sent, ok := broadcastSent(payload); ok {
			l.broadcastArrived(s, sent)
			return true
		}
	}
	resp, err := protocol.DecodeResponse(payload)
	if err != nil {
		l.fail(fd, s, "bad_message")
		return false
	}
	switch resp.Cmd {
	case protocol.CmdLogin:
		if s.state != csLogin {
			return true
		}
		if resp.Response.Code != protocol.OK {
			l.fail(fd, s, "login_"+strconv.Itoa(int(resp.Response.Code)))
			return false
		}
		l.res.login.Record(time.Duration(l.w.now() - s.start))
		l.established(s)
	case protocol.CmdHeartbeat:
		if resp.Response.Code != protocol.OK {
			l.res.heartbeatErrors++
		}
	case protocol.CmdPing:
		if s.echo == 0 {
			return true
		}
		now := l.w.now()
		l.res.echo.Record(time.Duration(now - s.start))
		s.echo--
		if s.echo == 0 {
			l.echoFinished()
			return true
		}
		s.start = now
		return l.request(fd, s, protocol.CmdPing, nil)
	case protocol.CmdMsg:
		if resp.Seq != l.w.broadcastID {
			return true
		}
		var m protocol.Message
		if json.Unmarshal(resp.Response.Data, &m) != nil {
			return true
		}
		if sent, ok := broadcastTextSent(m.Msg); ok {
			l.broadcastArrived(s, sent)
		}
	}
	return true
}

// broadcastArrived records the delivery latency of the broadcast sent at sentNs.
func (l *loop) broadcastArrived(s *slot, sentNs int64) {
	now := time.Now().UnixNano()
	if s.flags&flagBroadcast != 0 {
		l.res.duplicates++
		return
	}
	s.flags |= flagBroadcast
	l.res.broadcast.Record(time.Duration(now - sentNs))
	l.w.delivered.Add(1)
}

// request sends a protocol request. It reports whether the connection is still open.
func (l *loop) request(fd int32, s *slot, cmd string, data any) bool {
	b, err := protocol.EncodeRequest(strconv.FormatUint(uint64(s.id), 10), cmd, data)
	if err != nil {
		l.fail(fd, s, "encode") // cannot happen for the fixed request types
		return false
	}
	return l.sendFrame(fd, s, wsframe.OpText, b)
}

// sendFrame sends one masked frame. It reports whether the connection is still open.
func (l *loop) sendFrame(fd int32, s *slot, op wsframe.Opcode, payload []byte) bool {
	var mask [4]byte
	binary.LittleEndian.PutUint32(mask[:], l.rng.Uint32())
	l.scratch = wsframe.AppendFrame(l.scratch[:0], true, op, payload, &mask)
	return l.write(fd, s, l.scratch)
}

// write sends b, keeping what the socket does not take for the next EPOLLOUT. It
// reports whether the connection is still open.
func (l *loop) write(fd int32, s *slot, b []byte) bool {
	if s.flags&flagPending != 0 {
		l.pending[fd] = append(l.pending[fd], b...)
		return true
	}
	n, err := unix.Write(int(fd), b)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		l.fail(fd, s, errKind(err))
		return false
	}
	if n = max(n, 0); n < len(b) {
		l.pending[fd] = append([]byte(nil), b[n:]...)
		s.flags |= flagPending
	}
	return true
}

// flush writes pending bytes after EPOLLOUT. It reports whether the connection is still open.
func (l *loop) flush(fd int32, s *slot) bool {
	b := l.pending[fd]
	n, err := unix.Write(int(fd), b)
	if err != nil && !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR) {
		l.fail(fd, s, errKind(err))
		return false
	}
	if n = max(n, 0); n == len(b) {
		delete(l.pending, fd)
		s.flags &^= flagPending
	} else {
		l.pending[fd] = b[n:]
	}
	return true
}

// sweep runs every sweepNs: it sends the heartbeats that are due and, every few turns,
// applies timeouts. Heartbeats are spread over the interval by descriptor: each sweep
// serves the held connections whose descriptor falls in this turn's bucket, visiting
// only those, so no connection needs a timer of its own and a sweep costs 1/buckets of a
// scan. Timeouts need a scan of every descriptor, which at 20,000 connections per loop
// and ten sweeps a second was a noticeable share of a busy worker: it runs once a second,
// or four times per shortest timeout if that is sooner.
func (l *loop) sweep(now int64) {
	cfg := &l.w.spec.Cfg
	l.tick++
	shortest := min(cfg.ConnectTimeout, cfg.LoginTimeout, cfg.CloseTimeout).Nanoseconds()
	if every := uint64(min(max(shortest/4/sweepNs, 1), int64(time.Second)/sweepNs)); l.tick%every == 0 {
		l.sweepTimeouts(now)
	}
	if cfg.HeartbeatInterval <= 0 || l.closing {
		return
	}
	buckets := uint64(max(cfg.HeartbeatInterval.Nanoseconds()/sweepNs, 1))
	for fd := l.tick % buckets; fd < uint64(l.hiFd); fd += buckets {
		if s := &l.slots[fd]; s.state == csHeld {
			l.heartbeat(int32(fd), s)
		}
	}
}

// sweepTimeouts fails or releases the connections whose current step took too long.
func (l *loop) sweepTimeouts(now int64) {
	cfg := &l.w.spec.Cfg
	for fd := 0; fd < l.hiFd; fd++ {
		s := &l.slots[fd]
		age := now - s.start
		switch s.state {
		case csConnecting, csHandshake:
			if age > cfg.ConnectTimeout.Nanoseconds() {
				l.fail(int32(fd), s, "timeout")
			}
		case csLogin:
			if age > cfg.LoginTimeout.Nanoseconds() {
				l.fail(int32(fd), s, "login_timeout")
			}
		case csClosing:
			if age > cfg.CloseTimeout.Nanoseconds() {
				l.release(int32(fd), s)
			}
		case csHeld:
			if s.echo > 0 && age > cfg.LoginTimeout.Nanoseconds() {
				l.res.echoTimeouts++
				s.echo = 0
				l.echoFinished()
			}
		}
	}
}

func (l *loop) heartbeat(fd int32, s *slot) {
	l.res.heartbeats++
	if l.w.spec.Cfg.Login {
		l.request(fd, s, protocol.CmdHeartbeat, protocol.HeartbeatData{UserID: l.w.userID(s.id)})
		return
	}
	l.sendFrame(fd, s, wsframe.OpPing, nil)
}

// startEcho starts the round trips on this loop's sampled, held connections.
func (l *loop) startEcho(now int64) {
	l.echoStarted = true
	rounds := uint8(l.w.spec.Cfg.EchoRounds)
	for fd := 0; fd < l.hiFd; fd++ {
		s := &l.slots[fd]
		if s.state != csHeld || s.flags&flagSampled == 0 {
			continue
		}
		s.echo = rounds
		s.start = now
		l.echoPending++
		l.request(int32(fd), s, protocol.CmdPing, nil) // on failure, release settles echoPending
	}
	if l.echoPending == 0 {
		l.echoFinished()
	}
}

// echoFinished counts one sampled connection done; the last one marks the loop done.
func (l *loop) echoFinished() {
	if l.echoPending > 0 {
		l.echoPending--
	}
	if l.echoPending == 0 && !l.echoDone {
		l.echoDone = true
		l.w.loopEchoDone()
	}
}

// startClose ends every connection: RST at once, or a close frame first (graceful).
func (l *loop) startClose(now int64) {
	l.closing = true
	graceful := l.w.spec.Cfg.Close == CloseGraceful
	for fd := 0; fd < l.hiFd; fd++ {
		s := &l.slots[fd]
		switch {
		case s.state == csFree || s.state == csClosing:
		case s.state == csHeld && graceful:
			s.state = csClosing
			s.start = now
			l.w.held.Add(-1)
			l.sendFrame(int32(fd), s, wsframe.OpClose, wsframe.ClosePayload(uint16(protocol.CloseNormal), ""))
		default:
			l.release(int32(fd), s)
		}
	}
	if !l.rampDone {
		l.nextID = l.endID // no more dials
		l.res.rampCutNs = time.Now().UnixNano()
	}
}

// abort closes every descriptor after a poller failure.
func (l *loop) abort() {
	l.closing = true
	for fd := 0; fd < l.hiFd; fd++ {
		if s := &l.slots[fd]; s.state != csFree {
			l.release(int32(fd), s)
		}
	}
}

// fail counts a failure of kind and closes the connection. Failures while closing
// gracefully are not failures: the connection is ending anyway.
func (l *loop) fail(fd int32, s *slot, kind string) {
	if s.state != csClosing {
		l.countFailure(kind)
	}
	if s.state == csHeld {
		l.res.dropped++
	}
	l.release(fd, s)
}

func (l *loop) countFailure(kind string) {
	l.res.failures[kind]++
	l.w.failed.Add(1)
}

// release closes the descriptor and frees its slot, keeping the counters right.
func (l *loop) release(fd int32, s *slot) {
	switch s.state {
	case csConnecting, csHandshake, csLogin:
		l.inflight--
	case csHeld:
		l.w.held.Add(-1)
	}
	if s.echo > 0 {
		s.echo = 0
		l.echoFinished()
	}
	if s.flags&flagPending != 0 {
		delete(l.pending, fd)
	}
	if len(l.partial) > 0 {
		delete(l.partial, fd)
	}
	_ = unix.Close(int(fd)) // closing a socket we own; an error changes nothing for bench
	*s = slot{}
	l.live--
	l.checkRampDone()
}

// checkSourcesLocal binds a socket to each source address once, without a port, so that
// an address this machine does not have is reported before the run (every connection
// from it would fail as addr_unavailable, which reads as a shortage of ports).
func checkSourcesLocal(srcs []netip.Addr) error {
	for _, src := range srcs {
		family := unix.AF_INET
		if !src.Unmap().Is4() {
			family = unix.AF_INET6
		}
		fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("check source address %v: %w", src, err)
		}
		err = unix.SetsockoptInt(fd, unix.SOL_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
		if err == nil {
			err = unix.Bind(fd, netpoll.AddrPortToSockaddr(netip.AddrPortFrom(src, 0)))
		}
		_ = unix.Close(fd) // a probe that never connected
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("%w: %v (give --source-ips addresses of a local interface)", ErrSourceNotLocal, src)
		}
		if err != nil {
			return fmt.Errorf("check source address %v: %w", src, err)
		}
	}
	return nil
}

// errKind names a socket error for the failure table.
func errKind(err error) string {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return "error"
	}
	switch errno {
	case unix.ECONNREFUSED:
		return "refused"
	case unix.ETIMEDOUT:
		return "timeout"
	case unix.ECONNRESET, unix.EPIPE, unix.ECONNABORTED:
		return "reset"
	case unix.EADDRNOTAVAIL, unix.EADDRINUSE:
		return "addr_unavailable"
	case unix.EMFILE, unix.ENFILE:
		return "file_limit"
	case unix.ENETUNREACH, unix.EHOSTUNREACH:
		return "unreachable"
	}
	if name := unix.ErrnoName(errno); name != "" {
		return strings.ToLower(name)
	}
	return "errno_" + strconv.Itoa(int(errno))
}
