//go:build linux

package conn

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/wsframe"
)

// sendsHandler answers a message with frames of 64 KiB, n of them, and records what Send
// returned for each.
type sendsHandler struct {
	echoHandler
	n       int
	results chan []error
}

func (h *sendsHandler) OnMessage(c *Conn, _ wsframe.Opcode, _ []byte) {
	frame := Frame(wsframe.OpBinary, make([]byte, 64<<10))
	errs := make([]error, h.n)
	for i := range errs {
		errs[i] = c.Send(frame)
	}
	h.results <- errs
}

func smallReceiveBuffer(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
}

// A client that reads nothing while more frames are sent than its queue holds is closed as
// a slow consumer: one ErrSlowConsumer, ErrClosed afterwards, the queued frames that had
// not started counted as dropped, the client counted once, and the close recorded as 1013.
func TestConn_SlowConsumerAccounting(t *testing.T) {
	const queue = 8
	h := &sendsHandler{echoHandler: echoHandler{closed: make(chan *CloseError, 1)}, n: 400, results: make(chan []error, 1)}
	e, url := startEngine(t, Config{SendQueue: queue, CloseTimeout: 100 * time.Millisecond}, h)
	c := dialRaw(t, url, smallReceiveBuffer)
	c.write(clientFrame(true, wsframe.OpText, []byte("flood me")))
	errs := <-h.results
	var sent, slow, closed int
	for _, err := range errs {
		switch {
		case err == nil:
			sent++
		case errors.Is(err, ErrSlowConsumer):
			slow++
		case errors.Is(err, ErrClosed):
			closed++
		default:
			t.Fatalf("Send: %v", err)
		}
	}
	if slow != 1 || sent+slow+closed != h.n || sent < queue {
		t.Fatalf("sent %d, slow %d, closed %d", sent, slow, closed)
	}
	select {
	case why := <-h.closed:
		if why.Code != protocol.CloseSlowConsumer {
			t.Fatalf("closed with %v, want 1013", why)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the slow consumer was not closed")
	}
	st := e.Stats()
	// Dropped: the queue (less a frame cut in the middle, kept to finish), the frame that
	// overflowed it, and at the close timeout what is still queued (that cut frame and the
	// close frame, unless the socket took them).
	if st.SlowConsumers != 1 || st.FramesDropped < queue || st.FramesDropped > queue+2 {
		t.Fatalf("slow consumers %d, frames dropped %d; want 1 and %d..%d", st.SlowConsumers, st.FramesDropped, queue, queue+2)
	}
	if st.Open != 0 || st.Closed != 1 {
		t.Fatalf("open %d, closed %d", st.Open, st.Closed)
	}
}

// Queued output that makes no progress for WriteTimeout drops the connection, counted as
// a write timeout.
func TestConn_WriteTimeoutDropsAStalledClient(t *testing.T) {
	h := &sendsHandler{echoHandler: echoHandler{closed: make(chan *CloseError, 1)}, n: 100, results: make(chan []error, 1)}
	e, url := startEngine(t, Config{SendQueue: 256, WriteTimeout: 200 * time.Millisecond}, h)
	c := dialRaw(t, url, smallReceiveBuffer)
	c.write(clientFrame(true, wsframe.OpText, []byte("flood me")))
	for i, err := range <-h.results {
		if err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	select {
	case why := <-h.closed:
		if why.Code != CloseAbnormal || why.Reason != "write timeout" {
			t.Fatalf("closed with %v, want a write timeout", why)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stalled client was not dropped")
	}
	// The frames still queued when the connection was dropped are counted as never sent.
	if st := e.Stats(); st.WriteTimeouts != 1 || st.SlowConsumers != 0 || st.Open != 0 || st.FramesDropped == 0 || st.FramesDropped > uint64(h.n) {
		t.Fatalf("write timeouts %d, slow consumers %d, open %d, frames dropped %d (of %d)", st.WriteTimeouts, st.SlowConsumers, st.Open, st.FramesDropped, h.n)
	}
}
