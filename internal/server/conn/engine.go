package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/netpoll"
	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/wsframe"
)

// Config configures an Engine. Zero values mean the documented defaults (see Default);
// Validate rejects negative values.
type Config struct {
	// Addr is the listen address, "host:port". ":0" picks a free port (see Engine.Addr).
	Addr string
	// ReusePort sets SO_REUSEPORT so several processes can share Addr.
	ReusePort bool
	// Loops is the number of epoll loop goroutines; 0 means GOMAXPROCS.
	Loops int
	// MaxConns caps upgraded connections; past it the handshake is refused with 503. With
	// TLS, handshakes in progress count too, and a socket past the cap is reset at accept.
	// 0 means the file limit minus a reserve (RLIMIT_NOFILE - max(64, limit/50)).
	MaxConns int
	// MaxMessageBytes is the largest message (after reassembling fragments) accepted;
	// larger ones close the connection with 1009. 0 means 64 KiB.
	MaxMessageBytes int
	// MaxHeaderBytes caps the handshake request head; 0 means 8 KiB.
	MaxHeaderBytes int
	// SendQueue is how many frames may wait for a slow socket before the connection is
	// closed as a slow consumer. 0 means 256.
	SendQueue int
	// HandshakeTimeout bounds the time from accept to a complete upgrade request; 0 means 10s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes (4003) a connection that sent nothing, not even a ping or pong,
	// for this long. 0 disables it.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose queued output made no progress for this long.
	// 0 means 10s.
	WriteTimeout time.Duration
	// CloseTimeout is how long to wait for the peer's close frame after sending ours;
	// 0 means 3s.
	CloseTimeout time.Duration
	// DrainTimeout bounds the shutdown: after ctx is cancelled every connection is sent a
	// 1001 close, and those still open after DrainTimeout are dropped. 0 means 10s.
	DrainTimeout time.Duration
	// MessageRate is each connection's sustained inbound allowance, in data messages per
	// second, and MessageBurst the bucket size; see Conn.TakeToken. 0 means no limit.
	MessageRate  float64
	MessageBurst int
	// TLS, when set, makes the engine serve wss:// (see tls.go for the cost).
	TLS *tls.Config
	// MaxConnsPerIP caps upgraded connections per client address; past it the handshake
	// is refused with 429. With TLS, handshakes in progress count too, and a socket past
	// the cap is reset at accept (unless it comes from a trusted proxy). 0 means no cap.
	MaxConnsPerIP int
	// TrustedProxies are the proxies (nginx, load balancers) whose X-Forwarded-For and
	// X-Real-IP headers name the real client; from anyone else those headers are ignored.
	TrustedProxies []netip.Prefix
	// Resolution is how often deadlines are checked. 0 means a quarter of the shortest
	// timeout above, between 10ms and 1s; set it when SetDeadline is used with shorter
	// timeouts.
	Resolution time.Duration
	// Logger receives lifecycle and fault logs; nil discards them.
	Logger *slog.Logger
}

// Default returns the default configuration listening on :8089.
func Default() Config {
	return Config{
		Addr:             ":8089",
		MaxMessageBytes:  64 << 10,
		MaxHeaderBytes:   8 << 10,
		SendQueue:        256,
		HandshakeTimeout: 10 * time.Second,
		WriteTimeout:     10 * time.Second,
		CloseTimeout:     3 * time.Second,
		DrainTimeout:     10 * time.Second,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	checks := []struct {
		name string
		bad  bool
	}{
		{"loops", c.Loops < 0},
		{"max_conns", c.MaxConns < 0},
		{"max_message_bytes", c.MaxMessageBytes < 0},
		{"max_header_bytes", c.MaxHeaderBytes < 0},
		{"send_queue", c.SendQueue < 0},
		{"handshake_timeout", c.HandshakeTimeout < 0},
		{"idle_timeout", c.IdleTimeout < 0},
		{"write_timeout", c.WriteTimeout < 0},
		{"close_timeout", c.CloseTimeout < 0},
		{"drain_timeout", c.DrainTimeout < 0},
		{"resolution", c.Resolution < 0},
		{"max_conns_per_ip", c.MaxConnsPerIP < 0},
		{"message_rate", c.MessageRate < 0},
		{"message_burst", c.MessageBurst < 0},
	}
	for _, ch := range checks {
		if ch.bad {
			return fmt.Errorf("%s must not be negative", ch.name)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.Loops == 0 {
		c.Loops = runtime.GOMAXPROCS(0)
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = d.MaxMessageBytes
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if c.SendQueue == 0 {
		c.SendQueue = d.SendQueue
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.CloseTimeout == 0 {
		c.CloseTimeout = d.CloseTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = d.DrainTimeout
	}
	if c.MessageRate > 0 && c.MessageBurst == 0 {
		c.MessageBurst = int(max(1, 2*c.MessageRate))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Handler receives connection events. Every method is called on the connection's loop
// goroutine and must not block: hand slow work to another goroutine.
type Handler interface {
	// Accept decides whether to upgrade. r is the parsed request with RemoteAddr set; a
	// non-nil error refuses the handshake: a *wsframe.HandshakeError chooses the status,
	// any other error answers 403.
	Accept(r *http.Request) error
	// OnOpen is called once after the upgrade, before any OnMessage.
	OnOpen(c *Conn, r *http.Request)
	// OnMessage is called for each complete data message. payload is only valid during
	// the call; copy it to keep it.
	OnMessage(c *Conn, op wsframe.Opcode, payload []byte)
	// OnClose is called once, after the connection's socket is closed, for every
	// connection that was opened.
	OnClose(c *Conn, why *CloseError)
}

// CloseError says why a connection ended.
type CloseError struct {
	Code   protocol.CloseCode // close code sent or received; 1006 if the socket dropped without one
	Reason string
	Remote bool // the peer started the close (or dropped the connection)
}

func (e *CloseError) Error() string {
	side := "server"
	if e.Remote {
		side = "peer"
	}
	return fmt.Sprintf("closed by %s: %d %s", side, e.Code, e.Reason)
}

// CloseAbnormal is the RFC 6455 code for a connection that ended without a close frame. It
// is never sent on the wire.
const CloseAbnormal protocol.CloseCode = 1006

// ErrClosed is returned by Send on a connection that is closing or closed.
var ErrClosed = errors.New("connection closed")

// ErrSlowConsumer is returned by Send when the connection's send queue is full; the
// connection is then being closed with 1013.
var ErrSlowConsumer = errors.New("slow consumer: send queue full")

// Engine accepts WebSocket connections and runs their I/O. Create it with New, run it with
// Run. It is safe for concurrent use.
type Engine struct {
	cfg   Config
	h     Handler
	log   *slog.Logger
	lfd   int
	addr  netip.AddrPort
	base  time.Time // monotonic origin of the millisecond clock
	acc   *netpoll.Poller
	loops []*loop
	table fdTable
	rr    atomic.Uint32
	ids   atomic.Uint64
	stats Stats

	ipMu     sync.Mutex // guards perIP and tlsPerIP
	perIP    map[netip.Addr]int32
	tlsPerIP map[netip.Addr]int32 // TLS handshakes in progress by ipBucket (see admitTLS)

	tlsPending atomic.Int64   // TLS handshakes in progress
	relays     sync.WaitGroup // TLS relay goroutines

	stopOnce sync.Once
}

// New listens on cfg.Addr and prepares the loops. Run starts serving; if Run is never
// called, Close releases the socket.
func New(cfg Config, h Handler) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.TLS != nil {
		cfg.TLS = cfg.TLS.Clone() // the caller may keep using (and changing) its own
	}
	limit, err := netpoll.FileLimit()
	if err != nil {
		return nil, err
	}
	if cfg.MaxConns == 0 {
		reserve := max(uint64(64), limit/50)
		if limit > reserve {
			cfg.MaxConns = int(min(limit-reserve, 1<<31-1))
		} else {
			cfg.MaxConns = 1
		}
	}
	e := &Engine{cfg: cfg, h: h, log: cfg.Logger, base: time.Now(), perIP: map[netip.Addr]int32{}, tlsPerIP: map[netip.Addr]int32{}}
	e.table.init(limit)
	e.lfd, e.addr, err = netpoll.Listen(cfg.Addr, netpoll.ListenOptions{ReusePort: cfg.ReusePort})
	if err != nil {
		return nil, err
	}
	if e.acc, err = netpoll.New(); err != nil {
		_ = unix.Close(e.lfd) // best effort: New is failing
		return nil, err
	}
	for i := 0; i < cfg.Loops; i++ {
		p, err := netpoll.New()
		if err != nil {
			_ = e.Close() // best effort: New is failing
			return nil, err
		}
		e.loops = append(e.loops, &loop{e: e, poll: p, buf: make([]byte, readBufSize)})
	}
	return e, nil
}

// Addr returns the bound listen address.
func (e *Engine) Addr() netip.AddrPort { return e.addr }

// MaxConns returns the effective connection cap.
func (e *Engine) MaxConns() int { return e.cfg.MaxConns }

// Close releases the listening socket and pollers of an engine whose Run was never called.
// After Run returns, Close is not needed.
func (e *Engine) Close() error {
	var errs []error
	e.stopOnce.Do(func() {
		errs = append(errs, unix.Close(e.lfd))
	})
	if e.acc != nil {
		errs = append(errs, e.acc.Close())
		e.acc = nil
	}
	for _, l := range e.loops {
		errs = append(errs, l.poll.Close())
	}
	e.loops = nil
	return errors.Join(errs...)
}

// Run serves until ctx is cancelled, then drains: it stops accepting, sends every
// connection a 1001 close, waits up to DrainTimeout for them to finish, drops the rest and
// returns after every goroutine it started has exited and every socket is closed.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.acc.Add(e.lfd, netpoll.EvIn); err != nil {
		return err
	}
	defer func() { _ = e.Close() }() // every goroutine has exited; releasing fds cannot fail meaningfully
	g, gctx := errgroup.WithContext(ctx)
	accDone := make(chan struct{})
	g.Go(func() error {
		defer close(accDone)
		return e.acceptLoop(gctx)
	})
	for _, l := range e.loops {
		g.Go(func() error { return l.run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		_ = e.acc.Wake() // eventfd write; failure would mean the poller is gone already
		<-accDone
		deadline := e.nowMs() + e.cfg.DrainTimeout.Milliseconds()
		for _, l := range e.loops {
			l.drainBy.Store(deadline)
			_ = l.poll.Wake() // see above
		}
		return nil
	})
	err := g.Wait()
	e.relays.Wait() // every loop has closed its sockets, so every relay has ended
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// acceptLoop accepts connections and hands them to loops until ctx is done.
func (e *Engine) acceptLoop(ctx context.Context) error {
	events := make([]netpoll.Event, 8)
	paused := false
	e.log.Info("websocket listening", "addr", e.addr.String(), "max_conns", e.cfg.MaxConns, "loops", len(e.loops))
	for {
		if ctx.Err() != nil {
			e.stopOnce.Do(func() { _ = unix.Close(e.lfd) }) // stop accepting; nothing to do on error
			return nil
		}
		timeout := -1
		if paused {
			timeout = 100
		}
		n, _, err := e.acc.Wait(events, timeout)
		if err != nil {
			return err
		}
		if paused && n == 0 {
			// Resume accepting after the back-off for EMFILE.
			if err := e.acc.Mod(e.lfd, netpoll.EvIn); err != nil {
				return err
			}
			paused = false
			continue
		}
		if n == 0 {
			continue
		}
		for {
			fd, ra, err := netpoll.Accept(e.lfd)
			if err != nil {
				if netpoll.IsTemporary(err) {
					break
				}
				if netpoll.IsFileLimit(err) {
					e.stats.acceptFileLimit.Add(1)
					e.log.Warn("accept paused: out of file descriptors", "err", err, "open", e.stats.open.Load())
					if err := e.acc.Mod(e.lfd, 0); err != nil {
						return err
					}
					paused = true
					break
				}
				return fmt.Errorf("accept: %w", err)
			}
			if e.isTLS() {
				e.adoptTLS(ctx, fd, ra)
			} else {
				e.adopt(fd, ra)
			}
		}
	}
}

// adopt registers a freshly accepted socket with a loop.
func (e *Engine) adopt(fd int, ra netip.AddrPort) {
	_ = netpoll.SetNoDelay(fd) // latency hint only; the connection works without it
	l := e.loops[int(e.rr.Add(1))%len(e.loops)]
	c := &Conn{e: e, lp: l, fd: int32(fd), id: e.ids.Add(1), remote: ra}
	c.setDeadline(e.nowMs()+e.cfg.HandshakeTimeout.Milliseconds(), 0)
	e.stats.accepted.Add(1)
	e.stats.handshaking.Add(1)
	if !e.table.set(fd, c) {
		e.log.Error("file descriptor above the table", "fd", fd)
		e.stats.handshaking.Add(-1)
		_ = unix.Close(fd) // never registered: nothing else refers to it
		return
	}
	if !l.add(c) {
		e.table.clear(fd, c)
		e.stats.handshaking.Add(-1)
		_ = unix.Close(fd) // the engine is stopping: nothing else refers to it
		return
	}
	if err := l.poll.Add(fd, netpoll.In); err != nil {
		e.log.Error("register connection", "err", err)
		l.remove(c)
		e.table.clear(fd, c)
		e.stats.handshaking.Add(-1)
		_ = unix.Close(fd) // never registered: nothing else refers to it
	}
}

// nowMs returns milliseconds on the engine's monotonic clock.
func (e *Engine) nowMs() int64 { return time.Since(e.base).Milliseconds() }
