package conn

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/netpoll"
	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/wsframe"
)

// readBufSize is each loop's read buffer. Reads are level-triggered, one read per ready
// socket per turn, so a busy connection cannot starve the others.
const readBufSize = 64 << 10

// maxIOV bounds how many queued frames one writev sends.
const maxIOV = 64

// loop is one epoll loop and the connections assigned to it.
type loop struct {
	e       *Engine
	poll    *netpoll.Poller
	drainBy atomic.Int64 // engine ms by which draining must finish; 0 while serving

	mu     sync.Mutex // guards conns, each Conn.idx and exited
	conns  []*Conn
	exited bool // the loop has stopped: no more connections may join

	// Owned by the loop goroutine.
	buf     []byte
	now     int64
	iov     [][]byte
	expired []*Conn
}

// add assigns c to the loop; it fails once the loop has stopped.
func (l *loop) add(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.exited {
		return false
	}
	c.idx = int32(len(l.conns))
	l.conns = append(l.conns, c)
	return true
}

// exit marks the loop stopped if it has no connections left, and reports whether it did.
func (l *loop) exit() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) == 0 {
		l.exited = true
	}
	return l.exited
}

func (l *loop) remove(c *Conn) {
	l.mu.Lock()
	last := len(l.conns) - 1
	if i := int(c.idx); i <= last && l.conns[i] == c {
		l.conns[i] = l.conns[last]
		l.conns[i].idx = int32(i)
		l.conns[last] = nil
		l.conns = l.conns[:last]
		if cap(l.conns) > 1024 && len(l.conns) < cap(l.conns)/4 {
			l.conns = append([]*Conn(nil), l.conns...) // give memory back after a big wave
		}
	}
	l.mu.Unlock()
}

func (l *loop) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// run serves the loop's connections until draining is requested and finished. It does
// not watch ctx: the engine starts the drain, so that connections get their close frames.
func (l *loop) run(context.Context) error {
	events := make([]netpoll.Event, 256)
	l.iov = make([][]byte, 0, maxIOV)
	sweepEvery := l.e.sweepInterval()
	nextSweep := l.e.nowMs() + sweepEvery
	drainStarted := false
	for {
		timeout := int(max(nextSweep-l.e.nowMs(), 0))
		n, _, err := l.poll.Wait(events, timeout)
		if err != nil {
			l.closeAll(&CloseError{Code: CloseAbnormal, Reason: "engine failure"})
			l.mu.Lock()
			l.exited = true
			l.mu.Unlock()
			return err
		}
		l.now = l.e.nowMs()
		for i := 0; i < n; i++ {
			ev := events[i]
			c := l.e.table.get(int(ev.Fd))
			if c == nil || c.lp != l || c.state.Load() == stClosed {
				continue // stale event for a socket already closed
			}
			l.serve(c, ev.Events)
		}
		if drainBy := l.drainBy.Load(); drainBy != 0 {
			if !drainStarted {
				drainStarted = true
				l.startDrain()
			}
			if l.exit() {
				return nil
			}
			if l.now >= drainBy {
				l.closeAll(&CloseError{Code: protocol.CloseGoingAway, Reason: "drain timeout"})
				if l.exit() {
					return nil
				}
			}
		}
		if l.now >= nextSweep {
			l.sweep()
			nextSweep = l.now + sweepEvery
		}
	}
}

// serve handles one readiness event for c.
func (l *loop) serve(c *Conn, events uint32) {
	if events&netpoll.EvOut != 0 {
		if c.flush(l.iov) {
			l.closeConn(c, nil)
			return
		}
	}
	if events&(netpoll.EvIn|netpoll.EvRdHup|netpoll.EvHup|netpoll.EvErr) == 0 {
		return
	}
	n, err := unix.Read(int(c.fd), l.buf)
	if n <= 0 {
		if err != nil && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
			return
		}
		l.closeConn(c, &CloseError{Code: CloseAbnormal, Reason: "connection dropped", Remote: true})
		return
	}
	l.e.stats.bytesIn.Add(uint64(n))
	c.lastRead = l.now
	data := l.buf[:n]
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	used, done := l.consume(c, data)
	if done {
		return
	}
	rest := data[used:]
	switch {
	case len(rest) == 0:
		c.in = nil
	case len(c.in) > 0:
		c.in = c.in[:copy(c.in, rest)]
	default:
		c.in = append(make([]byte, 0, l.wantCap(c, rest)), rest...)
	}
	if c.closeAfterNow() {
		l.closeConn(c, nil)
	}
}

// wantCap sizes the buffer for a partial frame: up to the whole frame when its header is
// in, so the rest arrives with few reallocations.
func (l *loop) wantCap(c *Conn, rest []byte) int {
	if c.state.Load() == stHandshake {
		return len(rest) + 512
	}
	h, hn, err := wsframe.ParseHeader(rest)
	if err != nil || hn == 0 {
		return wsframe.MaxHeaderLen + 128
	}
	// Grow with what has actually arrived rather than trusting the announced length, so a
	// peer that announces big frames and trickles them costs only what it sent.
	want := hn + int(min(h.Length, int64(l.e.cfg.MaxMessageBytes)))
	return min(want, max(2*len(rest), 4096))
}

// closeAfterNow reports whether c is waiting only to be closed and nothing is queued.
func (c *Conn) closeAfterNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeAfter && len(c.out) == 0 && c.state.Load() != stClosed
}

// consume processes inbound bytes: the handshake first, then frames. It returns how many
// bytes it used and whether the connection has been closed.
func (l *loop) consume(c *Conn, b []byte) (int, bool) {
	off := 0
	if c.state.Load() == stHandshake {
		end := wsframe.HeaderEnd(b)
		// A head may arrive whole in one read, so check its length too, not only the
		// length of an incomplete one.
		if end > l.e.cfg.MaxHeaderBytes || (end == 0 && len(b) > l.e.cfg.MaxHeaderBytes) {
			l.refuse(c, &wsframe.HandshakeError{Status: http.StatusRequestHeaderFieldsTooLarge, Msg: "request head too large"})
			return len(b), true
		}
		if end == 0 {
			return 0, false
		}
		if !l.upgrade(c, b[:end]) {
			return len(b), true
		}
		off = end
	}
	for off < len(b) {
		st := c.state.Load()
		if st == stClosed {
			return len(b), true
		}
		h, hn, err := wsframe.ParseHeader(b[off:])
		if err == nil && hn > 0 {
			err = l.checkFrame(c, h, st == stClosing)
		}
		if err != nil {
			l.fail(c, err)
			return len(b), false
		}
		if hn == 0 || int64(len(b)-off-hn) < h.Length {
			return off, false // wait for the rest of the frame
		}
		payload := b[off+hn : off+hn+int(h.Length)]
		off += hn + int(h.Length)
		wsframe.MaskBytes(payload, h.Mask, 0)
		l.e.stats.framesIn.Add(1)
		if st == stClosing && h.Op != wsframe.OpClose {
			continue // after our close frame only the peer's close matters
		}
		if closed := l.frame(c, h, payload); closed {
			return len(b), true
		}
	}
	return off, false
}

// checkFrame applies the stateful framing rules to a header. Once our close frame is out
// (closing), data frames are dropped unread, so a message the peer began before it saw our
// close is held to the size limit only, not to the fragmentation rules.
func (l *loop) checkFrame(c *Conn, h wsframe.Header, closing bool) error {
	if err := h.Check(); err != nil {
		return err
	}
	if !h.Masked {
		return errUnmasked
	}
	if closing {
		if h.Length > int64(l.e.cfg.MaxMessageBytes) {
			return errTooBig
		}
		return nil
	}
	switch {
	case h.Op == wsframe.OpContinuation && c.frag == nil:
		return errNoMessage
	case (h.Op == wsframe.OpText || h.Op == wsframe.OpBinary) && c.frag != nil:
		return errInMessage
	}
	size := h.Length
	if h.Op == wsframe.OpContinuation {
		size += int64(len(c.frag.data))
	}
	if size > int64(l.e.cfg.MaxMessageBytes) {
		return errTooBig
	}
	return nil
}

var (
	errUnmasked  = wrapProto("client frame is not masked")
	errNoMessage = wrapProto("continuation frame without a message")
	errInMessage = wrapProto("new message inside a fragmented message")
	errTooBig    = errors.New("message too big")
)

func wrapProto(s string) error { return &protoError{s} }

type protoError struct{ msg string }

func (e *protoError) Error() string { return e.msg }
func (e *protoError) Unwrap() error { return wsframe.ErrProtocol }

// frame handles one complete, unmasked frame. It reports whether c was closed.
func (l *loop) frame(c *Conn, h wsframe.Header, payload []byte) bool {
	switch h.Op {
	case wsframe.OpPing:
		c.control(wsframe.OpPong, payload)
		return false
	case wsframe.OpPong:
		return false
	case wsframe.OpClose:
		return l.peerClose(c, payload)
	case wsframe.OpContinuation:
		m := c.frag
		m.data = append(m.data, payload...)
		if m.op == wsframe.OpText && !m.utf8.Feed(payload) {
			l.fail(c, wsframe.ErrInvalidUTF8)
			return false
		}
		if !h.Fin {
			return false
		}
		if m.op == wsframe.OpText && !m.utf8.Complete() {
			l.fail(c, wsframe.ErrInvalidUTF8)
			return false
		}
		c.frag = nil
		l.deliver(c, m.op, m.data)
		return false
	default: // text or binary
		if !h.Fin {
			m := &message{op: h.Op, data: append(make([]byte, 0, len(payload)*2), payload...)}
			if h.Op == wsframe.OpText && !m.utf8.Feed(payload) {
				l.fail(c, wsframe.ErrInvalidUTF8)
				return false
			}
			c.frag = m
			return false
		}
		if h.Op == wsframe.OpText && !utf8.Valid(payload) {
			l.fail(c, wsframe.ErrInvalidUTF8)
			return false
		}
		l.deliver(c, h.Op, payload)
		return false
	}
}

func (l *loop) deliver(c *Conn, op wsframe.Opcode, payload []byte) {
	if c.state.Load() != stOpen {
		return
	}
	l.e.stats.messagesIn.Add(1)
	l.e.h.OnMessage(c, op, payload)
}

// control sends a control frame (pong) even past the send queue limit, as long as the
// connection is open: a client is not closed as slow for answers to its own pings. A pong
// still waiting at the end of the queue is replaced rather than joined by another (RFC 6455
// section 5.5.3 allows answering only the latest ping), so that pings from a client that
// reads nothing cannot grow the queue without bound.
func (c *Conn) control(op wsframe.Opcode, payload []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != stOpen {
		return
	}
	f := Frame(op, payload)
	if last := len(c.out) - 1; last > 0 || (last == 0 && c.outOff == 0) {
		if q := c.out[last]; len(q) > 0 && q[0] == f[0] { // the same control opcode, not yet started
			c.out[last] = f
			return
		}
	}
	c.writeLocked(f)
}

// peerClose answers the peer's close frame. It reports whether c was closed.
func (l *loop) peerClose(c *Conn, payload []byte) bool {
	code, reason, err := wsframe.ParseClose(payload)
	if err != nil {
		l.fail(c, err)
		return false
	}
	c.mu.Lock()
	if c.state.Load() == stClosing {
		// The peer answered our close: done.
		c.mu.Unlock()
		l.closeConn(c, nil)
		return true
	}
	echo := protocol.CloseCode(code)
	if code == 0 {
		echo = protocol.CloseNormal
	}
	c.why = &CloseError{Code: protocol.CloseCode(code), Reason: reason, Remote: true}
	if code == 0 {
		c.why.Code = 1005 // RFC 6455: no status received
	}
	c.closeLocked(echo, "", true)
	c.mu.Unlock()
	return false
}

// fail closes c for a protocol violation: close frame with the matching code, then the
// socket as soon as the frame is out. A connection already failed (or dropped) is left as
// it is: what follows the first violation in its stream is not counted as another.
func (l *loop) fail(c *Conn, err error) {
	c.frag = nil
	c.mu.Lock()
	st := c.state.Load()
	if st != stOpen && (st != stClosing || c.closeAfter) {
		c.mu.Unlock()
		return
	}
	code := protocol.CloseProtocolError
	switch {
	case errors.Is(err, wsframe.ErrInvalidUTF8):
		code = protocol.CloseInvalidPayload
		l.e.stats.invalidUTF8.Add(1)
	case errors.Is(err, errTooBig):
		code = protocol.CloseMessageTooBig
		l.e.stats.tooBig.Add(1)
	default:
		l.e.stats.protocolErrors.Add(1)
	}
	if st == stOpen {
		c.closeLocked(code, code.Text(), true)
	} else {
		c.closeAfter = true
		c.wakeLoopLocked()
	}
	c.mu.Unlock()
	l.e.log.Debug("closing connection for protocol violation", "conn_id", c.id, "err", err, "code", uint16(code))
}

// upgrade handles a complete handshake request. It reports whether c is now open.
func (l *loop) upgrade(c *Conn, head []byte) bool {
	r, err := wsframe.ParseUpgrade(head)
	// The slot under MaxConns is taken here, atomically, so loops upgrading at the same
	// time cannot overshoot the cap; it is given back if the upgrade does not happen.
	slot, counted := false, false
	if err == nil {
		c.remote = l.e.clientAddr(r, c.remote)
		r.RemoteAddr = c.remote.String()
		slot = l.e.stats.open.Add(1) <= int64(l.e.cfg.MaxConns)
		switch {
		case l.drainBy.Load() != 0:
			// A TLS relay may hand over a socket after the drain began: opened now, it
			// would get no going-away close and hold the loop until DrainTimeout.
			err = &wsframe.HandshakeError{Status: http.StatusServiceUnavailable, Msg: "server is shutting down"}
		case !slot:
			err = &wsframe.HandshakeError{Status: http.StatusServiceUnavailable, Msg: "server is at its connection limit"}
		case !l.e.countIP(c.remote.Addr()):
			err = &wsframe.HandshakeError{Status: http.StatusTooManyRequests, Msg: "too many connections from your address"}
		default:
			counted = true
			err = l.e.h.Accept(r)
		}
		if err != nil {
			l.e.stats.open.Add(-1) // the Add above, taken or not
		}
	}
	if err != nil {
		if counted {
			l.e.releaseIP(c.remote.Addr())
		}
		var he *wsframe.HandshakeError
		if !errors.As(err, &he) {
			he = &wsframe.HandshakeError{Status: http.StatusForbidden, Msg: err.Error()}
		}
		l.refuse(c, he)
		return false
	}
	c.mu.Lock()
	c.writeLocked(wsframe.AppendAccept(nil, r.Header.Get("Sec-Websocket-Key")))
	if c.closeAfter { // the write failed
		c.mu.Unlock()
		l.e.releaseIP(c.remote.Addr())
		l.e.stats.open.Add(-1)
		l.closeConn(c, nil)
		return false
	}
	c.dl.Store(0)
	c.state.Store(stOpen)
	c.mu.Unlock()
	l.e.stats.handshaking.Add(-1)
	l.e.stats.upgraded.Add(1)
	l.e.h.OnOpen(c, r)
	return true
}

// refuse answers a handshake with an HTTP error and closes the socket.
func (l *loop) refuse(c *Conn, he *wsframe.HandshakeError) {
	l.e.stats.refused(he.Status)
	c.mu.Lock()
	c.writeLocked(wsframe.AppendRefusal(nil, he))
	c.closeAfter = true
	flushed := len(c.out) == 0
	c.mu.Unlock()
	if flushed {
		l.closeConn(c, nil)
	}
}

// sweep applies deadlines: handshake and close timeouts, the handler's deadlines, idle
// connections and stalled writes.
func (l *loop) sweep() {
	cfg := &l.e.cfg
	idle := cfg.IdleTimeout.Milliseconds()
	wto := cfg.WriteTimeout.Milliseconds()
	l.expired = l.expired[:0]
	l.mu.Lock()
	for _, c := range l.conns {
		dl, _ := c.deadline()
		ws := c.wstall.Load()
		if (dl != 0 && l.now >= dl) || (ws != 0 && l.now-ws >= wto) ||
			(idle > 0 && c.state.Load() == stOpen && l.now-c.lastRead >= idle) {
			l.expired = append(l.expired, c)
		}
	}
	l.mu.Unlock()
	for i, c := range l.expired {
		l.expired[i] = nil
		l.expire(c, idle, wto)
	}
}

func (l *loop) expire(c *Conn, idle, wto int64) {
	st := c.state.Load()
	if st == stClosed {
		return
	}
	if ws := c.wstall.Load(); ws != 0 && l.now-ws >= wto {
		l.e.stats.writeTimeouts.Add(1)
		l.e.log.Warn("write timeout: closing connection", "conn_id", c.id, "remote", c.remote.String())
		l.closeConn(c, &CloseError{Code: CloseAbnormal, Reason: "write timeout"})
		return
	}
	dl, code := c.deadline()
	switch {
	case st == stHandshake:
		l.e.stats.refused(http.StatusRequestTimeout)
		l.closeConn(c, nil)
	case st == stClosing:
		l.closeConn(c, nil)
	case dl != 0 && l.now >= dl:
		l.e.stats.deadlines.Add(1)
		c.Close(code, code.Text())
	case idle > 0 && l.now-c.lastRead >= idle:
		l.e.stats.idleTimeouts.Add(1)
		c.Close(protocol.CloseHeartbeatTimeout, protocol.CloseHeartbeatTimeout.Text())
	}
}

// startDrain sends every open connection a going-away close and drops handshakes.
func (l *loop) startDrain() {
	l.mu.Lock()
	conns := append([]*Conn(nil), l.conns...)
	l.mu.Unlock()
	for _, c := range conns {
		if c.state.Load() == stHandshake {
			l.closeConn(c, nil)
			continue
		}
		c.Close(protocol.CloseGoingAway, protocol.CloseGoingAway.Text())
	}
}

// closeAll drops every connection of the loop.
func (l *loop) closeAll(why *CloseError) {
	l.mu.Lock()
	conns := append([]*Conn(nil), l.conns...)
	l.mu.Unlock()
	for _, c := range conns {
		l.closeConn(c, why)
	}
}

// closeConn closes c's socket and reports the close to the handler. why overrides the
// reason recorded so far; with neither, the close is abnormal. Loop goroutine only.
func (l *loop) closeConn(c *Conn, why *CloseError) {
	c.mu.Lock()
	prev := c.state.Load()
	if prev == stClosed {
		c.mu.Unlock()
		return
	}
	c.state.Store(stClosed)
	if c.why == nil || (why != nil && prev != stClosing) {
		c.why = why
	}
	if c.why == nil {
		c.why = &CloseError{Code: CloseAbnormal, Reason: "connection dropped", Remote: true}
	}
	if lost := len(c.out); lost > 0 && prev != stHandshake { // a handshake's queue holds its HTTP answer
		// Frames accepted and never written: the peer vanished, or stalled past a timeout.
		l.e.stats.framesDropped.Add(uint64(lost))
		l.e.log.Debug("connection closed with frames unsent", "conn_id", c.id, "remote", c.remote.String(), "frames", lost)
	}
	clear(c.out)
	c.out, c.outOff = nil, 0
	c.wstall.Store(0)
	c.dl.Store(0)
	// Clear the table slot before the descriptor number can be reused.
	l.e.table.clear(int(c.fd), c)
	_ = unix.Close(int(c.fd)) // the socket is gone either way
	c.mu.Unlock()
	c.in, c.frag = nil, nil
	l.remove(c)
	if prev == stHandshake {
		l.e.stats.handshaking.Add(-1)
		return
	}
	l.e.releaseIP(c.remote.Addr())
	l.e.stats.open.Add(-1)
	l.e.stats.closed.Add(1)
	l.e.h.OnClose(c, c.why)
}

// sweepInterval is how often loops check deadlines, in ms: Config.Resolution, or a
// quarter of the shortest configured timeout, between 10ms and 1s.
func (e *Engine) sweepInterval() int64 {
	if e.cfg.Resolution > 0 {
		return max(e.cfg.Resolution.Milliseconds(), 1)
	}
	d := e.cfg.HandshakeTimeout.Milliseconds()
	for _, t := range []time.Duration{e.cfg.IdleTimeout, e.cfg.WriteTimeout, e.cfg.CloseTimeout} {
		if t > 0 {
			d = min(d, t.Milliseconds())
		}
	}
	return min(max(d/4, 10), 1000)
}
