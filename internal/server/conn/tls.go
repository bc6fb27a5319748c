package conn

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// TLS (wss://) is terminated in front of the event loop rather than inside it: each TLS
// connection gets a goroutine that runs the TLS handshake and then relays plaintext through
// a Unix socket pair whose other end the engine adopts like any accepted socket. The
// engine's code is the same for both; the price is that a TLS connection costs two
// goroutines, TLS buffers and three descriptors (tens of KiB instead of about one). At
// high connection counts terminate TLS at a proxy (nginx, a load balancer) instead; see
// docs/security.md.

// adoptTLS starts the relay for an accepted TLS socket. The relay goroutines belong to
// e.relays, which Run waits for.
func (e *Engine) adoptTLS(ctx context.Context, fd int, ra netip.AddrPort) {
	f := os.NewFile(uintptr(fd), "tls-client")
	nc, err := net.FileConn(f) // dups fd
	_ = f.Close()              // the dup carries on
	if err != nil {
		e.log.Warn("tls accept", "remote", ra.String(), "err", err)
		return
	}
	e.relays.Add(1)
	go func() {
		defer e.relays.Done()
		e.relayTLS(ctx, nc, ra)
	}()
}

func (e *Engine) relayTLS(ctx context.Context, nc net.Conn, ra netip.AddrPort) {
	tc := tls.Server(nc, e.cfg.TLS)
	defer func() { _ = tc.Close() }() // ends the relay; errors do not matter here
	hctx, cancel := context.WithTimeout(ctx, e.cfg.HandshakeTimeout)
	err := tc.HandshakeContext(hctx)
	cancel()
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
