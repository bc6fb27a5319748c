//go:build linux

package conn

import (
	"net"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/wsframe"
)

// A client that sends a message and then half-closes (FIN: EPOLLRDHUP) still gets the
// answer, and the engine then closes the connection as dropped by the peer.
func TestEngine_HalfClosedClientGetsItsAnswer(t *testing.T) {
	h := &echoHandler{closed: make(chan *CloseError, 1)}
	e, url := startEngine(t, Config{}, h)
	c := dialRaw(t, url, nil)
	c.write(clientFrame(true, wsframe.OpText, []byte("last words")))
	if err := c.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	op, p, err := c.readFrame()
	if err != nil || op != wsframe.OpText || string(p) != "last words" {
		t.Fatalf("read %d %q, %v; want the echo", op, p, err)
	}
	select {
	case why := <-h.closed:
		if why.Code != CloseAbnormal || !why.Remote {
			t.Fatalf("closed with %v, want dropped by the peer", why)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the half-closed connection was not closed")
	}
	if st := e.Stats(); st.Open != 0 || st.Closed != 1 {
		t.Fatalf("open %d, closed %d", st.Open, st.Closed)
	}
}
