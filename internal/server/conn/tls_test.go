//go:build linux

package conn

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gows-dev/gows/internal/testcert"
	"github.com/gows-dev/gows/internal/wsframe"
)

// floodHandler answers a message with 200 frames of 64 KiB (12.5 MiB, more than the
// kernel buffers between the engine and a client that reads nothing), within the send
// queue, so that the connection ends by write timeout rather than as a slow consumer.
type floodHandler struct{ echoHandler }

func (h *floodHandler) OnMessage(c *Conn, _ wsframe.Opcode, _ []byte) {
	frame := Frame(wsframe.OpBinary, make([]byte, 64<<10))
	for range 200 {
		_ = c.Send(frame) // the test looks at how the connection ends, not at each frame
	}
}

// A wss:// client that stops reading must not hold its TLS relay forever: once the engine
// drops the connection (write timeout), the relay gives up within the write timeout too,
// so Run returns.
func TestEngine_TLSRelayOfAClientThatStopsReadingEnds(t *testing.T) {
	cert := testcert.Certificate(t)
	h := &floodHandler{echoHandler{closed: make(chan *CloseError, 1)}}
	e, err := New(Config{
		Addr:         "127.0.0.1:0",
		WriteTimeout: 200 * time.Millisecond,
		SendQueue:    256,
		TLS:          &tls.Config{Certificates: []tls.Certificate{cert}},
	}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()

	small := func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return errors.Join(err, serr)
	}
	d := websocket.Dialer{
		NetDialContext:  (&net.Dialer{Control: small}).DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	c := dialAndSay(t, &d, "wss://"+e.Addr().String()+"/echo", "flood me")
	// The client reads nothing from here on.
	select {
	case <-h.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not drop a client that reads nothing")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Run did not return: the TLS relay is still writing to a client that reads nothing")
		c.Close() // unblocks the relay so that the test can end
		<-done
	}
}
