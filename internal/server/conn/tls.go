package conn

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/netpoll"
)

// TLS (wss://) is terminated in front of the event loop rather than inside it: each TLS
// connection gets a goroutine that runs the TLS handshake and then relays plaintext through
// a Unix socket pair whose other end the engine adopts like any accepted socket. The
// engine's code is the same for both; the price is that a TLS connection costs two
// goroutines, TLS buffers and three descriptors (tens of KiB instead of about one). At
// high connection counts terminate TLS at a proxy (nginx, a load balancer) instead; see
// docs/security.md.

// A TLS handshake in progress counts against MaxConns and MaxConnsPerIP (of the peer's
// address, unless the peer is a trusted proxy, whose clients are known only from their
// HTTP headers) like an open connection: a socket beyond them is refused on accept,
// before it costs a goroutine and a handshake, and the relay goroutines waiting on
// handshakes are never more than the connections the node may carry.

// tlsTicket is the reservation of a TLS handshake: its place in tlsPending, and in
// tlsPerIP when bucket is valid.
type tlsTicket struct{ bucket netip.Addr }

// admitTLS reserves a handshake for a socket from ra, or refuses it with the status its
// handshake would get (503 at MaxConns, 429 at MaxConnsPerIP). Accept loop only: it is
// the one goroutine that adds to tlsPending, so the check and the add cannot race.
func (e *Engine) admitTLS(ra netip.AddrPort) (tlsTicket, int) {
	if e.stats.open.Load()+e.tlsPending.Load() >= int64(e.cfg.MaxConns) {
		return tlsTicket{}, http.StatusServiceUnavailable
	}
	var t tlsTicket
	if e.cfg.MaxConnsPerIP > 0 && !Trusted(e.cfg.TrustedProxies, ra.Addr()) {
		t.bucket = ipBucket(ra.Addr())
		e.ipMu.Lock()
		full := int(e.perIP[t.bucket]+e.tlsPerIP[t.bucket]) >= e.cfg.MaxConnsPerIP
		if !full {
			e.tlsPerIP[t.bucket]++
		}
		e.ipMu.Unlock()
		if full {
			return tlsTicket{}, http.StatusTooManyRequests
		}
	}
	e.tlsPending.Add(1)
	return t, 0
}

// release ends the reservation: the handshake failed, or the engine has the connection.
func (t tlsTicket) release(e *Engine) {
	e.tlsPending.Add(-1)
	if !t.bucket.IsValid() {
		return
	}
	e.ipMu.Lock()
	decrement(e.tlsPerIP, t.bucket)
	e.ipMu.Unlock()
}

// adoptTLS starts the relay for an accepted TLS socket, or refuses the socket at once
// (see admitTLS). The relay goroutines belong to e.relays, which Run waits for.
func (e *Engine) adoptTLS(ctx context.Context, fd int, ra netip.AddrPort) {
	t, status := e.admitTLS(ra)
	if status != 0 {
		// No HTTP answer without a handshake: a reset, which leaves no TIME_WAIT.
		e.stats.refused(status)
		e.log.Debug("tls connection refused before its handshake", "remote", ra.String(), "status", status)
		_ = netpoll.SetLinger0(fd) // without it the close sends FIN instead; no harm
		_ = unix.Close(fd)         // never registered: nothing else refers to it
		return
	}
	f := os.NewFile(uintptr(fd), "tls-client")
	nc, err := net.FileConn(f) // dups fd
	_ = f.Close()              // the dup carries on
	if err != nil {
		t.release(e)
		e.log.Warn("tls accept", "remote", ra.String(), "err", err)
		return
	}
	e.relays.Add(1)
	go func() {
		defer e.relays.Done()
		e.relayTLS(ctx, nc, ra, t)
	}()
}

func (e *Engine) relayTLS(ctx context.Context, nc net.Conn, ra netip.AddrPort, t tlsTicket) {
	tc := tls.Server(nc, e.cfg.TLS)
	defer func() { _ = tc.Close() }() // ends the relay; errors do not matter here
	hctx, cancel := context.WithTimeout(ctx, e.cfg.HandshakeTimeout)
	err := tc.HandshakeContext(hctx)
	cancel()
	t.release(e) // from here the engine's own handshake counts the connection
	if err != nil {
		e.stats.tlsFailures.Add(1)
		e.log.Debug("tls handshake failed", "remote", ra.String(), "err", err)
		return
	}
	fds, err := socketpair()
	if err != nil {
		e.log.Warn("tls relay socketpair", "err", err)
		return
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		_ = unix.Close(fds[0]) // never adopted
		_ = unix.Close(fds[1]) // never wrapped
		return
	}
	f := os.NewFile(uintptr(fds[1]), "tls-relay")
	inner, err := net.FileConn(f)
	_ = f.Close() // the dup carries on
	if err != nil {
		_ = unix.Close(fds[0]) // never adopted
		return
	}
	defer func() { _ = inner.Close() }() // ends the relay; errors do not matter here
	e.adopt(fds[0], ra)

	// Client to engine: when the client stops sending, tell the engine (EOF).
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(inner, tc) // ends when either side closes
		if uc, ok := inner.(*net.UnixConn); ok {
			_ = uc.CloseWrite() // the engine then sees EOF and closes its end
		}
	}()
	// Engine to client: ends when the engine closes its end, or when the client takes
	// nothing for WriteTimeout. Without that bound a client that stops reading would hold
	// this goroutine (and Run, which waits for it) forever after the engine dropped it.
	if _, err := io.Copy(timedWriter{tc, e.cfg.WriteTimeout}, inner); err != nil {
		_ = nc.Close() // abort: a close_notify would wait again on the client; errors do not matter here
	}
	_ = tc.SetDeadline(time.Now()) // unblock the other copy if it is still reading
	<-done
}

// timedWriter gives every write to the TLS client a deadline.
type timedWriter struct {
	c       net.Conn
	timeout time.Duration
}

func (w timedWriter) Write(b []byte) (int, error) {
	if err := w.c.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
		return 0, err
	}
	return w.c.Write(b)
}

// isTLS reports whether the engine terminates TLS itself.
func (e *Engine) isTLS() bool { return e.cfg.TLS != nil }

// socketpair returns a close-on-exec Unix stream socket pair.
func socketpair() ([2]int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}
