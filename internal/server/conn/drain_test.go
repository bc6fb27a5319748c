//go:build linux

package conn

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gows-dev/gows/internal/netpoll"
	"github.com/gows-dev/gows/internal/wsframe"
)

// A connection that reaches its loop after the drain began (a TLS relay that finished its
// handshake as the engine stopped) is refused with 503 rather than opened: it would get
// no going-away close and hold the drain until DrainTimeout.
func TestLoop_UpgradeDuringDrainIsRefused(t *testing.T) {
	h := &fuzzHandler{}
	l, c, peer := handshakingConn(t, h)
	defer unix.Close(peer)
	l.drainBy.Store(l.e.nowMs() + 10_000)
	req := wsframe.AppendClientRequest(nil, "x", "/acc", "dGhlIHNhbXBsZSBub25jZQ==", "")
	if _, err := unix.Write(peer, req); err != nil {
		t.Fatal(err)
	}
	l.serve(c, netpoll.EvIn)
	var buf [512]byte
	n, err := unix.Read(peer, buf[:])
	if err != nil || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 503")) {
		t.Fatalf("peer read %q, %v; want a 503", buf[:n], err)
	}
	if st := l.e.Stats(); c.state.Load() != stClosed || h.opens != 0 || st.Open != 0 || st.Handshaking != 0 {
		t.Fatalf("state %d, opens %d, open %d, handshaking %d; want a closed, never opened connection",
			c.state.Load(), h.opens, st.Open, st.Handshaking)
	}
}
