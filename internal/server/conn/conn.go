package conn

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/netpoll"
	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/wsframe"
)

// Connection states. Transitions happen under Conn.mu and only move forward.
const (
	stHandshake uint32 = iota // accepted, waiting for the upgrade request
	stOpen                    // upgraded: messages flow both ways
	stClosing                 // our close frame is queued or sent; waiting for the peer or a flush
	stClosed                  // the socket is closed (by the owning loop)
)

// Conn is one client connection. Its methods are safe for concurrent use.
type Conn struct {
	e      *Engine
	lp     *loop
	id     uint64
	remote netip.AddrPort
	value  any // set by the Handler in OnOpen, read-only afterwards
	fd     int32
	idx    int32         // position in lp.conns; guarded by lp.mu
	state  atomic.Uint32 // stHandshake..stClosed; written under mu

	// dl packs the deadline (engine ms << 16) and the close code to use when it passes;
	// 0 means no deadline. wstall is the engine ms at which queued output last made
	// progress, 0 when nothing is queued.
	dl     atomic.Uint64
	wstall atomic.Int64

	// Owned by the loop goroutine.
	lastRead int64    // engine ms of the last inbound bytes
	tokMs    int64    // engine ms of the last token refill
	tokens   float32  // message tokens left (see TakeToken)
	strikes  uint32   // refused messages not yet offset by accepted ones (see TakeToken)
	in       []byte   // unparsed inbound bytes (partial frame or handshake), nil when idle
	frag     *message // fragmented message being reassembled, nil when none

	mu         sync.Mutex // guards out, outOff, closeAfter, why and state transitions
	out        [][]byte   // queued frames, nil when the socket keeps up
	outOff     int32      // bytes of out[0] already written
	closeAfter bool       // close the socket once out is flushed
	why        *CloseError
}

// message is a fragmented data message under reassembly.
type message struct {
	op   wsframe.Opcode
	data []byte
	utf8 wsframe.UTF8
}

// ID returns the connection's process-unique id.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr returns the peer's address as seen by the socket.
func (c *Conn) RemoteAddr() netip.AddrPort { return c.remote }

// SetValue attaches the handler's per-connection state. Call it only from OnOpen.
func (c *Conn) SetValue(v any) { c.value = v }

// Value returns what SetValue stored.
func (c *Conn) Value() any { return c.value }

// SetDeadline makes the engine close the connection with code when t passes, unless
// SetDeadline or ClearDeadline is called first. One deadline per connection. On a
// connection that is closing or closed it does nothing: the close timeout stays in force.
func (c *Conn) SetDeadline(t time.Time, code protocol.CloseCode) {
	ms := t.Sub(c.e.base).Milliseconds()
	c.mu.Lock()
	if c.state.Load() == stOpen {
		c.setDeadline(ms, code)
	}
	c.mu.Unlock()
}

// ClearDeadline removes the deadline set by SetDeadline. Like SetDeadline, it leaves a
// closing connection's close timeout alone.
func (c *Conn) ClearDeadline() {
	c.mu.Lock()
	if c.state.Load() == stOpen {
		c.dl.Store(0)
	}
	c.mu.Unlock()
}

func (c *Conn) setDeadline(ms int64, code protocol.CloseCode) {
	c.dl.Store(uint64(max(ms, 1))<<16 | uint64(code))
}

func (c *Conn) deadline() (int64, protocol.CloseCode) {
	v := c.dl.Load()
	return int64(v >> 16), protocol.CloseCode(v & 0xffff)
}

// Frame encodes a whole unmasked server frame. The result may be sent to many
// connections; it must not be modified afterwards.
func Frame(op wsframe.Opcode, payload []byte) []byte {
	return wsframe.AppendFrame(make([]byte, 0, wsframe.FrameLen(len(payload), false)), true, op, payload, nil)
}

// TextFrame encodes a text frame; see Frame.
func TextFrame(payload []byte) []byte { return Frame(wsframe.OpText, payload) }

// Send queues one frame built by Frame. It never blocks: it writes what the socket takes
// now and queues the rest. It returns ErrClosed when the connection is closing or closed
// and ErrSlowConsumer when the queue is full (the connection is then closed with 1013).
func (c *Conn) Send(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != stOpen {
		return ErrClosed
	}
	if len(c.out) >= c.e.cfg.SendQueue {
		c.e.stats.slowConsumers.Add(1)
		c.e.log.Warn("slow consumer disconnected", "conn_id", c.id, "remote", c.remote.String(), "queued_frames", len(c.out))
		c.dropQueueLocked()
		// This frame is lost too: counted as given to the connection, and as dropped.
		c.e.stats.framesOut.Add(1)
		c.e.stats.framesDropped.Add(1)
		c.closeLocked(protocol.CloseSlowConsumer, protocol.CloseSlowConsumer.Text(), false)
		return ErrSlowConsumer
	}
	c.writeLocked(frame)
	return nil
}

// Close starts the close handshake with code and reason: queued frames are still sent,
// then the close frame; the socket is closed when the peer answers or after CloseTimeout.
// Closing a connection that is already closing does nothing.
func (c *Conn) Close(code protocol.CloseCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state.Load() != stOpen {
		return
	}
	c.closeLocked(code, reason, false)
}

// closeLocked moves an open connection to closing and queues the close frame. With now,
// the socket is closed as soon as the frame is flushed (failing the connection) instead of
// waiting for the peer's answer. c.mu must be held.
func (c *Conn) closeLocked(code protocol.CloseCode, reason string, now bool) {
	c.state.Store(stClosing)
	if c.why == nil {
		c.why = &CloseError{Code: code, Reason: reason}
	}
	c.setDeadline(c.e.nowMs()+c.e.cfg.CloseTimeout.Milliseconds(), 0)
	c.closeAfter = c.closeAfter || now
	c.writeLocked(Frame(wsframe.OpClose, wsframe.ClosePayload(uint16(code), reason)))
	if c.closeAfter && len(c.out) == 0 {
		c.wakeLoopLocked()
	}
}

// dropQueueLocked discards queued frames that have not started to go out. c.mu must be held.
func (c *Conn) dropQueueLocked() {
	keep := 0
	if c.outOff > 0 {
		keep = 1 // a frame cut in the middle must be finished or the stream is corrupt
	}
	c.e.stats.framesDropped.Add(uint64(len(c.out) - keep))
	clear(c.out[keep:])
	c.out = c.out[:keep]
}

// writeLocked writes frame now if nothing is queued, and queues what the socket does not
// take. During the handshake it carries the HTTP answer, which is not a frame. c.mu must
// be held.
func (c *Conn) writeLocked(frame []byte) {
	if c.state.Load() != stHandshake {
		c.e.stats.framesOut.Add(1)
	}
	if len(c.out) > 0 {
		c.out = append(c.out, frame)
		return
	}
	n, err := unix.Write(int(c.fd), frame)
	if n < 0 {
		n = 0
	}
	c.e.stats.bytesOut.Add(uint64(n))
	if n == len(frame) {
		return
	}
	if err != nil && !netpoll.IsTemporary(err) {
		c.brokenLocked()
		return
	}
	c.out = append(c.out, frame)
	c.outOff = int32(n)
	c.wstall.Store(c.e.nowMs())
	if err := c.lp.poll.Mod(int(c.fd), netpoll.InOut); err != nil {
		c.brokenLocked()
	}
}

// brokenLocked handles a socket that failed a write: nothing more can be sent, and the
// owning loop is woken (shutdown makes the socket readable) to close it. c.mu must be held.
func (c *Conn) brokenLocked() {
	if c.why == nil {
		c.why = &CloseError{Code: CloseAbnormal, Reason: "write failed", Remote: true}
	}
	clear(c.out)
	c.out, c.outOff = nil, 0
	c.wstall.Store(0)
	c.closeAfter = true
	if c.state.Load() != stHandshake {
		// A connection still in its handshake was never open: closeConn must see it so,
		// to give back the handshake's count rather than an open connection's.
		c.state.Store(stClosing)
	}
	c.wakeLoopLocked()
}

// wakeLoopLocked makes the owning loop look at the connection: shutdown(2) turns the socket
// readable (EOF), and the loop then closes it. c.mu must be held, so the loop cannot have
// closed the descriptor.
func (c *Conn) wakeLoopLocked() {
	if c.state.Load() != stClosed {
		_ = unix.Shutdown(int(c.fd), unix.SHUT_RDWR) // ENOTCONN means it is already down: fine
	}
}

// flush writes queued frames; the loop calls it when the socket is writable. It reports
// whether the socket should now be closed.
func (c *Conn) flush(iov [][]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.out) > 0 {
		iov = iov[:0]
		iov = append(iov, c.out[0][c.outOff:])
		for _, f := range c.out[1:min(len(c.out), cap(iov))] {
			iov = append(iov, f)
		}
		n, err := unix.Writev(int(c.fd), iov)
		if n > 0 {
			c.e.stats.bytesOut.Add(uint64(n))
			c.wstall.Store(c.e.nowMs())
			c.consumeLocked(n)
		}
		if err != nil {
			if netpoll.IsTemporary(err) {
				return false
			}
			c.brokenLocked()
			return true
		}
		if n == 0 {
			return false
		}
	}
	c.out, c.outOff = nil, 0
	c.wstall.Store(0)
	if err := c.lp.poll.Mod(int(c.fd), netpoll.In); err != nil {
		c.brokenLocked()
		return true
	}
	return c.closeAfter
}

// consumeLocked drops n written bytes from the front of the queue. c.mu must be held.
func (c *Conn) consumeLocked(n int) {
	for n > 0 && len(c.out) > 0 {
		rest := len(c.out[0]) - int(c.outOff)
		if n < rest {
			c.outOff += int32(n)
			return
		}
		n -= rest
		c.out[0] = nil
		c.out = c.out[1:]
		c.outOff = 0
	}
}

// TakeToken takes one inbound message token from the connection's bucket (refilled at
// Config.MessageRate per second up to Config.MessageBurst) and reports whether there was
// one, with the connection's strike count: each refused message adds one, each accepted
// message takes one off (down to 0). A client that keeps sending at more than twice the
// rate, however evenly paced, thus gathers strikes without bound (a count of refusals in
// a row would be broken by every refill, and stay small at any pace); one that sends in
// bursts but keeps to the rate on average sheds them. Call it only from
// Handler.OnMessage. Without a configured rate it always succeeds.
func (c *Conn) TakeToken() (bool, int) {
	cfg := &c.e.cfg
	if cfg.MessageRate <= 0 {
		return true, 0
	}
	now := c.lp.now
	if c.tokMs == 0 {
		c.tokens = float32(cfg.MessageBurst)
	} else if el := now - c.tokMs; el > 0 {
		c.tokens = min(c.tokens+float32(float64(el)*cfg.MessageRate/1000), float32(cfg.MessageBurst))
	}
	c.tokMs = now
	if c.tokens >= 1 {
		c.tokens--
		if c.strikes > 0 {
			c.strikes--
		}
		return true, int(c.strikes)
	}
	c.strikes++
	return false, int(c.strikes)
}
